"""One headless load run: server (embedded unless a target is given), generator, recorder.

Closed loop (`concurrency` users) unless `rate` is set: then an open loop at that many
requests per second, with at most `max_in_flight` requests in flight.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from urllib.parse import SplitResult, urlsplit

import httpx

from loopscope.embedded_server import (
    CPU_SCENARIOS,
    DEFAULT_THREADS,
    AppImportError,
    BlockSite,
    BlockWatch,
    EmbeddedServer,
    LoopLagMonitor,
    PhaseTable,
    ProbedApp,
    ServerProcess,
    ServerSettings,
    cancel_and_wait,
    computing,
    create_app,
    import_app,
)

from . import theory
from ._cpu_cost import CpuCostMeter, measure_cpu_cost_s
from ._generator import LoadGenerator, RecordSink
from ._generator_base import DEFAULT_GRACE_S, Drain
from ._open_loop import OpenLoopGenerator, ScheduleStats, connections_for
from ._open_theory import open_loop
from ._recorder import DrainedSummary, Recorder, Summary, WindowStats
from ._records import ERROR_ABANDONED, AnyRequest, RequestRecord, RouteRequest, ScenarioRequest
from ._sender import HttpxSender
from ._tls import client_ssl_context
from ._wire import WireLog
from ._workload import Workload
from .export import run_record
from .health import HealthMonitor, HealthVerdict
from .trace import CLIENT_ONLY_APP, CLIENT_ONLY_ELSEWHERE, RunTrace

# Names of this machine besides its loopback addresses (any of 127.0.0.0/8 and ::1, which
# `is_loopback_host` accepts by value). LoopScope's own servers listen on 127.0.0.1; a
# user's server (--url) may listen on any of them.
LOOPBACK_HOSTS = frozenset({"localhost", "localhost."})
# When the load ends, requests in flight get DEFAULT_GRACE_S plus twice the route's delay
# to finish (a long delay is not a failure), at most this long; the rest are cut off and
# counted as `abandoned`. This bounds how long a run outlives its duration, whatever the
# target does (a frozen one answers nothing).
MAX_DRAIN_S = 10.0
# A wait that ends this much after it should have, ended late because something held the
# loop (a user's app): the measurement keeps its planned times.
_LATE_S = 0.1
# Interrupted (Ctrl+C, SIGTERM): the user wants out, so the drain is short.
INTERRUPT_DRAIN_S = 0.5
# Setting a target's thread pool: a server on this machine answers at once or never.
REMOTE_CALL_TIMEOUT_S = 5.0


class TargetError(RuntimeError):
    """The target cannot do what the run asks of it; the message is one line.

    bad_argument: True when the user's arguments ask for what this target cannot do
    (e.g. --threads against a server that is not LoopScope's), False when the target
    failed (not listening, not answering).
    """

    def __init__(self, message: str, *, bad_argument: bool = False) -> None:
        super().__init__(message)
        self.bad_argument = bad_argument


def check_remote_target(url: str) -> str:
    """Any http(s) server (the user allowed a remote host); the URL without a trailing
    slash. ValueError (one line) for what cannot be a server's address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a server's address is http(s)://HOST[:PORT], got {url!r}")
    _refuse_user_info(url, parts)
    return _server_address(url, parts)


def _refuse_user_info(url: str, parts: SplitResult) -> None:
    # Before the host is judged: `http://evil@127.0.0.1` parses to 127.0.0.1.
    if "@" in parts.netloc:
        raise ValueError(f"target must not carry user info (an @ in the host), got {url!r}")


def _server_address(url: str, parts: SplitResult) -> str:
    """A port in range and no path, query or fragment; the URL without a trailing slash."""
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"target port must be between 1 and 65535, got {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"target must be a server's address without a path, got {url!r}")
    return url.rstrip("/")


def is_loopback_host(host: str | None) -> bool:
    """True for a name or address of this machine: `localhost`, any of 127.0.0.0/8, ::1
    (with or without its brackets)."""
    if not host:
        return False
    host = host.lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: only `localhost` is known to be this machine


def check_loopback_target(url: str) -> str:
    """Load goes to this machine only; returns the URL without a trailing slash.

    ValueError (one line) for anything else: another scheme than http(s), a host that is
    not loopback (`is_loopback_host`), user info (`http://evil@127.0.0.1` parses to
    127.0.0.1 but says otherwise), a port out of range, or a path, query or fragment (a
    target is a server, not a page).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"target must be an http(s)://127.0.0.1:PORT URL, got {url!r}")
    _refuse_user_info(url, parts)
    if not is_loopback_host(parts.hostname):
        raise ValueError(
            "target must be on this machine (localhost, 127.0.0.0/8 or [::1]), "
            f"got {parts.hostname!r}"
        )
    return _server_address(url, parts)


def check_demo_target(url: str) -> str:
    """A LoopScope demo server (`--target`): `check_loopback_target`, and http:// on IPv4
    (`loopscope serve` listens on 127.0.0.1, without TLS); https and ::1 go with --url."""
    checked = check_loopback_target(url)
    parts = urlsplit(url)
    if parts.scheme != "http" or ":" in (parts.hostname or ""):
        raise ValueError(
            f"--target is a LoopScope server, http://127.0.0.1:PORT, got {url!r} "
            "(any other server on this machine: --url)"
        )
    return checked


@dataclass(frozen=True, slots=True)
class WholeRun:
    """Every request of a run, warm-up and drain included: what a server's own count of
    the answers it gave can be checked against (the summary counts the measured interval
    only). `abandoned`: in flight when the load ended and not awaited."""

    ok: int
    errors: int
    abandoned: int

    def to_json(self) -> dict[str, int]:
        return {"ok": self.ok, "errors": self.errors, "abandoned": self.abandoned}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSettings(Workload):
    """One run: its workload (`Workload`: delay, pool, warm-up, drain, placement, app), what
    it loads and where.

    rate=None: a closed loop of `concurrency` users. rate=R: an open loop of R requests
    per second, at most `max_in_flight` at once (None: `connections_for` the rate and
    the theoretical service time); `concurrency` is then unused. ramp_s: see below.
    """

    scenario: str
    concurrency: int = 10
    rate: float | None = None
    duration_s: float = 10.0
    target: str | None = None
    # Closed loop: users start spread over this many seconds instead of all at once. Users
    # started together stay in lock-step: 1000 of them send at the same instant every
    # delay, the loop serves each burst as a queue, and the run measures that queue rather
    # than the route. None: over one delay (a route of one's own: the warm-up), within the
    # warm-up, as the window does.
    ramp_s: float | None = None
    # A route of the user's own app instead of a demo scenario (`scenario` is then its
    # label): served from the workload's `app` on the embedded server, or sent to `target`
    # (a server already running; a host that is not this machine only with `allow_remote`).
    route: RouteRequest | None = None
    allow_remote: bool = False
    # An https:// target: a CA file to trust besides the system's (--ca-cert), or no
    # verification at all (--insecure). 3xx answers followed on the same server
    # (--follow-redirects) instead of counted as `redirect` errors.
    ca_cert: str | None = None
    insecure: bool = False
    follow_redirects: bool = False

    @property
    def open_loop(self) -> bool:
        return self.rate is not None

    @property
    def level(self) -> float:
        """The load asked for: users (closed loop) or requests per second (open loop)."""
        return self.rate if self.rate is not None else float(self.concurrency)

    @property
    def effective_ramp_s(self) -> float:
        if self.ramp_s is not None:
            return self.ramp_s
        spread = self.effective_warmup_s if self.route is not None else self.delay_ms / 1000
        return min(spread, self.effective_warmup_s)

    @property
    def effective_warmup_s(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return min(1.0, self.duration_s / 5)

    def request(self) -> AnyRequest:
        if self.route is not None:
            return self.route
        return ScenarioRequest(
            scenario=self.scenario,
            delay_ms=self.delay_ms,
            iterations=self.iterations,
            fanout=self.fanout,
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    """A run's summary beside its theory.

    windows: the recorder's closed 1 s windows, warm-up included (`start_s` from the
    start of the load). schedule: how the open loop kept its schedule over the measured
    interval (None for a closed loop); max_in_flight: the open loop's bound.
    """

    settings: RunSettings
    summary: Summary
    prediction: theory.Prediction
    threads: int | None
    target: str
    extra: dict[str, float] = field(default_factory=dict)
    windows: tuple[WindowStats, ...] = ()
    schedule: ScheduleStats | None = None
    max_in_flight: int | None = None
    health: HealthVerdict | None = None
    # partial: the load was stopped before its duration (an interrupt), so the summary
    # covers only what was measured until then. interrupted: the signal that stopped the
    # command this result belongs to ("SIGINT", "SIGTERM"), set by the command line; a
    # sweep's finished steps carry it too, unpartial.
    partial: bool = False
    interrupted: str | None = None
    # A user's app (--app): where its code held the event loop during the run, and the
    # exceptions it raised while answering ("route: Type: message (at file:line)", count).
    blocking: tuple[BlockSite, ...] = ()
    app_exceptions: tuple[tuple[str, int], ...] = ()
    # The requests intended (started) in the measured interval, awaited by the drain
    # after it; None when the run was interrupted (no drain).
    drained: DrainedSummary | None = None
    # A user's app: requests its closing gate answered 503 unrun after the load ended.
    turned_away: int = 0
    # The first 3xx answer seen and its Location (None: no redirect, or none sent), and
    # the first message of each error kind (("tls", "TLS hostname mismatch: ..."), ...).
    first_redirect: tuple[int, str | None] | None = None
    error_examples: tuple[tuple[str, str], ...] = ()
    whole_run: WholeRun | None = None

    @property
    def generator_limited(self) -> bool:
        """True when the client or its loop, not the server, may have set the result."""
        return self.health is not None and self.health.generator_limited

    @property
    def open_loop(self) -> bool:
        return self.settings.open_loop

    @property
    def level(self) -> float:
        """The load asked for: users (closed loop) or requests per second (open loop)."""
        return self.settings.level

    def to_json(self) -> dict[str, object]:
        """The `run --json` object (docs/headless.md; see
        `export.run_record`, the one serialisation of a run)."""
        return run_record(self)


@asynccontextmanager
async def _server_for(
    settings: RunSettings, meter: CpuCostMeter | None = None, stop: asyncio.Event | None = None
) -> AsyncIterator[tuple[str, int | None, ProbedApp | None, PhaseTable | None]]:
    """Yields (base URL, thread tokens, the user's app, the demo routes' phase table): our
    own embedded server (with the demo app, or the user's `app`) unless a target is given.
    meter: told where the server runs (`CpuCostMeter.watch`)."""
    if settings.target is not None:
        url = (
            check_remote_target(settings.target)
            if settings.allow_remote
            else check_loopback_target(settings.target)
        )
        yield url, settings.threads, None, None
        return
    threads = settings.threads or DEFAULT_THREADS
    if settings.server_process:
        async with ServerProcess(workers=settings.workers, threads=threads) as process:
            if meter is not None:
                meter.watch(process.worker_pids())
            yield process.url, threads, None, None
        return
    probed: ProbedApp | None = None
    if settings.app is not None:
        try:
            probed = ProbedApp(import_app(settings.app, settings.app_dir), threads=threads)
        except AppImportError as exc:
            raise TargetError(str(exc), bad_argument=True) from None
        server = EmbeddedServer(probed)
    else:
        server = EmbeddedServer(create_app(ServerSettings(threads=threads)))
    await server.start(settings.startup_timeout_s, stop=stop)
    try:
        yield server.url, threads, probed, None if probed is not None else server.probes.phases
    finally:
        await server.stop()


async def _set_remote_threads(url: str, threads: int) -> None:
    """PUT the target's thread-pool size; TargetError (one line) when it cannot be done."""
    what = f"cannot set --threads {threads} on {url}"
    try:
        async with httpx.AsyncClient(
            base_url=url, trust_env=False, timeout=REMOTE_CALL_TIMEOUT_S
        ) as client:
            response = await client.put("/threadpool", params={"tokens": threads})
    except httpx.TimeoutException:
        raise TargetError(
            f"{what}: no answer within {REMOTE_CALL_TIMEOUT_S:g} s (is the server frozen?)"
        ) from None
    except httpx.ConnectError:
        raise TargetError(f"{what}: nothing is listening there") from None
    except httpx.HTTPError as exc:
        raise TargetError(f"{what}: {type(exc).__name__}: {exc or 'no answer'}") from None
    if response.status_code in (404, 405, 501):
        # Not LoopScope's server: --threads cannot apply to it.
        raise TargetError(
            f"{what}: it has no /threadpool (HTTP {response.status_code}); --threads needs "
            "a LoopScope server (`loopscope serve`)",
            bad_argument=True,
        )
    if response.is_error:
        raise TargetError(f"{what}: HTTP {response.status_code}")


async def run_load(
    settings: RunSettings, *, stop: asyncio.Event | None = None, trace: RunTrace | None = None
) -> RunResult:
    """Run one measurement (closed or open loop) and summarise it beside the theory.

    stop: set it to end the load early (an interrupt); the result is then `partial`.
    trace: keeps the run's per-request timeline (`RunTrace.trace` after the run).
    TargetError when the target cannot take the run's settings (--threads).
    """
    settings.request()  # validates the scenario name before starting anything
    meter: CpuCostMeter | None = None
    if settings.scenario in CPU_SCENARIOS and settings.target is None and settings.route is None:
        # This machine's speed while the run goes: the theory's cost of a request.
        meter = CpuCostMeter()
    async with (
        _server_for(settings, meter, stop) as (url, threads, probed, phases),
        sampling(meter),
    ):
        if settings.target is not None and settings.threads is not None:
            await _set_remote_threads(url, settings.threads)
        watch = probed.block_watch if probed is not None else None
        if trace is not None:
            trace.begin(phases, CLIENT_ONLY_APP if probed is not None else CLIENT_ONLY_ELSEWHERE)
        try:
            server = LoadedServer(url, threads, block_watch=watch, app=probed)
            result = await measure(
                settings,
                server,
                Neighbours(cpu_meter=meter),
                stop=stop,
                sink=None if trace is None else trace.add,
                # The request ids go only to our own server, which keeps them.
                wire=None if trace is None or phases is None else trace.wire,
            )
        finally:
            if probed is not None:
                # Requests still queued are turned away: the server's shutdown then waits
                # for the handler running now, not for each queued one in turn.
                probed.close_gate()
        if probed is not None:
            result = replace(
                result,
                app_exceptions=tuple(probed.exceptions.most_common(5)),
                turned_away=probed.turned_away,
            )
        return result


@asynccontextmanager
async def sampling(meter: CpuCostMeter | None) -> AsyncIterator[None]:
    """Run `meter` as a task for the block's duration (nothing when None)."""
    if meter is None:
        yield
        return
    task = asyncio.get_running_loop().create_task(meter.run(), name="loopscope-cpu-meter")
    try:
        yield
    finally:
        await cancel_and_wait(task)


def open_loop_connections(settings: RunSettings, threads: int, cpu_s: float | None) -> int:
    """The open loop's bound on requests in flight: asked for, or sized for the rate."""
    assert settings.rate is not None
    if settings.max_in_flight is not None:
        return settings.max_in_flight
    if settings.route is not None:
        # A route of the user's own: no theory of its service time; sized for answers of
        # up to a second (--concurrency sets it).
        return connections_for(settings.rate, 1.0)
    if cpu_s is None and settings.scenario in CPU_SCENARIOS:
        # A target on this machine: the local cost is a fair estimate, only for sizing.
        cpu_s = measure_cpu_cost_s(settings.iterations)
    return connections_for(settings.rate, predict(settings, threads, cpu_s).service_time_s)


def predict(
    settings: RunSettings,
    threads: int | None,
    cpu_s: float | None,
    *,
    cpu_share: float = 1.0,
    loop_hold: theory.LoopHold | None = None,
) -> theory.Prediction:
    """What theory predicts for the run `settings` ask for, on a pool of `threads` (None:
    the default): the one place a run's workload becomes the theory's keywords.

    cpu_s, cpu_share: the cost of one CPU-scenario request and the part of the core it
    gets (`theory.capacity_and_service_time`); loop_hold: see `theory.closed_loop`."""
    if settings.route is not None:
        return theory.unknown(settings.scenario)
    server: theory.ServerShape = {
        "delay_s": settings.delay_ms / 1000,
        "threads": threads or DEFAULT_THREADS,
        "fanout": settings.fanout,
        "cpu_s": cpu_s,
        "cpu_share": cpu_share,
        "workers": settings.workers,
    }
    if settings.rate is None:
        return theory.closed_loop(
            settings.scenario, users=settings.concurrency, loop_hold=loop_hold, **server
        )
    return open_loop(settings.scenario, rate=settings.rate, **server)


@dataclass(frozen=True, slots=True)
class LoadedServer:
    """The server a measurement loads: its URL and thread pool (None: not known, a target
    whose pool was left alone) and, when it runs on this loop, its probes.

    loop_lag: the lag monitor of a server on this loop, reused for the health verdict
    instead of a timer of our own. block_watch: a user's app on this loop: where its code
    held the loop goes into the result, and loop lag it caused is not blamed on the
    generator. app: that app (served on this loop): its closing gate bounds the end of the
    run. A request arriving after the drain's planned end is turned away unrun (503); and
    when the app held the loop, it is closed at the load's end and nothing is drained: each
    queued request would hold the loop in turn (100 users x 1 s: 100 s), so those in
    flight are cut off (`abandoned`).
    """

    url: str
    threads: int | None = None
    loop_lag: LoopLagMonitor | None = None
    block_watch: BlockWatch | None = None
    app: ProbedApp | None = None


@dataclass(frozen=True, slots=True)
class Neighbours:
    """What shares the server with a measurement, as its theory and health verdict see it.

    cpu_s: the cost of one CPU-scenario request here (None: from `cpu_meter`'s samples over
    the measured span, which its owner takes while the run goes; without one, from the
    server's own timing afterwards); cpu_share: the part of the core it gets beside other
    CPU-bound runs. loop_hold: a closed-loop `blocking` run beside on the same loop
    (theory.LoopHold). alongside: scenarios loading the same loop at the same time, whose
    blocking or CPU use by design is not the generator's fault.
    """

    cpu_s: float | None = None
    cpu_share: float = 1.0
    cpu_meter: CpuCostMeter | None = None
    loop_hold: theory.LoopHold | None = None
    alongside: tuple[str, ...] = ()


#: A measurement alone on its server, its CPU cost taken from the server's own timing.
ALONE = Neighbours()

AnyGenerator = LoadGenerator | OpenLoopGenerator


@dataclass(frozen=True, slots=True)
class _Load:
    """A measurement's parts, once its load has started."""

    settings: RunSettings
    server: LoadedServer
    neighbours: Neighbours
    generator: AnyGenerator
    recorder: Recorder
    health: HealthMonitor


@dataclass(slots=True)
class _Interval:
    """How the load went, filled in as it goes: the end of the run (drain or cut) and the
    result read it, whatever step it reached."""

    measured_from: float = 0.0
    ended_at: float | None = None
    stopped: bool = False
    # The user's app held the loop by design (`_held_by_design`): nothing is drained.
    held: bool = False
    schedule: ScheduleStats | None = None
    blocking: tuple[BlockSite, ...] = ()
    verdict: HealthVerdict | None = None
    windows: tuple[WindowStats, ...] = ()


async def measure(
    settings: RunSettings,
    server: LoadedServer,
    neighbours: Neighbours = ALONE,
    *,
    sink: RecordSink | None = None,
    stop: asyncio.Event | None = None,
    wire: WireLog | None = None,
) -> RunResult:
    """Load `server` as `settings` say, and summarise beside the theory.

    sink: also receives every record (a live view of the run); wire: the senders' log of
    each request's send and receive times (`HttpxSender`). The sweep engine calls this
    once per run of a step. Cancelled, it cuts the requests in flight rather than waiting
    for them.

    When the load ends, requests in flight drain (bounded: `drain_s`); those cut off are
    counted as `abandoned` errors. stop: set, it ends the load early: the summary covers
    what was measured until then (nothing, if still in the warm-up) and is `partial`.
    """
    recorder = Recorder()
    record = recorder.add if sink is None else _both(recorder.add, sink)
    sender = _sender_for(settings, server.url, wire)
    generator, max_in_flight = _start_generator(settings, server, neighbours, sender, record)
    health = HealthMonitor(server.loop_lag)
    health.start()
    load = _Load(settings, server, neighbours, generator, recorder, health)
    interval = _Interval()
    drain: Drain | None = None
    try:
        await _run_load(load, stop, interval)
    except asyncio.CancelledError:
        # Whoever cancelled (Stop, Cancel sweep, a closing window) wants the load gone now.
        await generator.stop(grace_s=0)
        raise
    finally:
        try:
            drain = await _end_load(load, interval)
        finally:
            await health.stop()
    summary, drained, whole_run = _summarise(settings, recorder, generator, drain)
    cpu_s = _request_cost_s(settings, neighbours, summary, interval)
    prediction = predict(
        settings,
        server.threads,
        cpu_s,
        cpu_share=neighbours.cpu_share,
        loop_hold=neighbours.loop_hold,
    )
    assert interval.verdict is not None  # the load ran to its end (else it raised)
    return RunResult(
        settings,
        summary,
        prediction,
        server.threads,
        server.url,
        windows=interval.windows,
        schedule=interval.schedule,
        max_in_flight=max_in_flight,
        health=interval.verdict,
        partial=interval.stopped,
        blocking=interval.blocking[:5],
        drained=drained,
        first_redirect=sender.first_redirect,
        error_examples=tuple(sender.error_examples.items()),
        whole_run=whole_run,
    )


def _sender_for(settings: RunSettings, url: str, wire: WireLog | None = None) -> HttpxSender:
    """The sender to `url`, with the TLS settings of an https:// one; TargetError (a bad
    argument) for a CA file that cannot be used."""
    try:
        context = (
            client_ssl_context(ca_cert=settings.ca_cert, insecure=settings.insecure)
            if url.startswith("https:")
            else None
        )
    except ValueError as exc:
        raise TargetError(str(exc), bad_argument=True) from None
    return HttpxSender(
        url, ssl_context=context, follow_redirects=settings.follow_redirects, wire=wire
    )


def _start_generator(
    settings: RunSettings,
    server: LoadedServer,
    neighbours: Neighbours,
    sender: HttpxSender,
    record: RecordSink,
) -> tuple[AnyGenerator, int | None]:
    """The run's generator, started: closed loop (users) or open loop (a rate, with its
    bound on requests in flight, also returned)."""
    request = settings.request()
    if settings.rate is None:
        closed = LoadGenerator(sender, record, request, ramp_s=settings.effective_ramp_s)
        closed.start(settings.concurrency)
        return closed, None
    threads = server.threads or DEFAULT_THREADS
    max_in_flight = open_loop_connections(settings, threads, neighbours.cpu_s)
    generator = OpenLoopGenerator(sender, record, request, max_in_flight=max_in_flight)
    generator.start(settings.rate)
    return generator, max_in_flight


async def _run_load(load: _Load, stop: asyncio.Event | None, interval: _Interval) -> None:
    """The warm-up, then the measured interval; `interval` says how far it went."""
    settings, server, generator = load.settings, load.server, load.generator
    recorder = load.recorder
    app = server.app
    load_start = time.perf_counter()
    if app is not None:
        # A deadline set in advance: while the app holds the loop, no timer of ours fires.
        app.admit_until(load_start + settings.duration_s + drain_limit_s(settings))
    # These waits are the measurement's own duration, not synchronisation.
    interval.stopped = await _wait_unless_stopped(stop, settings.effective_warmup_s)
    # A user's app: the interval asked for, even when a loop held by the app wakes us
    # late; what completes after it (the queue behind the hold, the gate's 503s) is not
    # measured. The demo routes keep the interval the timers saw.
    planned = app is not None
    planned_from = load_start + settings.effective_warmup_s
    now = time.perf_counter()
    measured_from = min(now, planned_from) if planned and not interval.stopped else now
    interval.measured_from = measured_from
    recorder.begin_measurement(measured_from)
    measured_s = settings.duration_s - settings.effective_warmup_s
    if planned:
        # Its end, set now: the recorder judges each record as it arrives, and a held
        # loop delivers the late ones before our own timer can end the interval.
        recorder.end_measurement(measured_from + measured_s)
    load.health.restart()
    if server.block_watch is not None and (not planned or now - planned_from < _LATE_S):
        # Late, the loop was held across the warm-up's end: those holds are evidence.
        server.block_watch.reset()
    before = generator.stats() if isinstance(generator, OpenLoopGenerator) else None
    if not interval.stopped:
        left = measured_from + measured_s - time.perf_counter() if planned else measured_s
        interval.stopped = await _wait_unless_stopped(stop, max(0.0, left))
    ended_at = time.perf_counter()
    if planned and not interval.stopped:
        ended_at = min(ended_at, measured_from + measured_s)
    interval.ended_at = ended_at
    recorder.end_measurement(ended_at)
    if isinstance(generator, OpenLoopGenerator) and before is not None:
        interval.schedule = generator.stats().since(before)
    await _judge(load, interval)


async def _judge(load: _Load, interval: _Interval) -> None:
    """At the end of the measured interval: where the app held the loop (and whether by
    design), the generator's health, the windows of the series."""
    settings, app, block_watch = load.settings, load.server.app, load.server.block_watch
    assert interval.ended_at is not None
    if app is not None and interval.stopped:
        app.close_gate()  # before anything awaits: the queued requests go unrun
    if block_watch is not None:
        await block_watch.caught_up()  # a hold that just ended is in its sites
    interval.blocking = tuple(block_watch.sites()) if block_watch is not None else ()
    measured_span = interval.ended_at - interval.measured_from
    held_by = _held_by_design(interval.blocking, measured_span)
    interval.held = bool(held_by)
    if app is not None and interval.held:
        app.close_gate()
    # Only starts late because the client's own loop was busy blame the client; waits
    # for a free connection mean the server fell behind.
    schedule = interval.schedule
    interval.verdict = load.health.verdict(
        scenarios=(settings.scenario, *load.neighbours.alongside, *held_by),
        late_starts=schedule.late_loop if schedule else 0,
        started=schedule.started if schedule else 0,
    )
    series = load.recorder.snapshot().scenarios.get(settings.scenario)
    interval.windows = series.windows if series is not None else ()


async def _end_load(load: _Load, interval: _Interval) -> Drain | None:
    """Stop the load: drained when the measurement reached its own end (the drain's
    account returned), cut when the app held the loop, briefly awaited when interrupted."""
    generator = load.generator
    ended = interval.ended_at is not None and not interval.stopped
    if ended and interval.held and load.server.app is not None:
        # The app held the loop: what is in flight is queued behind it; cut it.
        await generator.aclose(grace_s=0)
        return None
    if ended:
        # The measurement's own end: owed requests still go, answers are awaited.
        assert interval.ended_at is not None
        limit_s = drain_limit_s(load.settings)
        drain = await generator.drain(until=interval.ended_at, limit_s=limit_s)
        await generator.aclose(grace_s=0)
        return drain
    await generator.aclose(grace_s=INTERRUPT_DRAIN_S)
    return None


def _summarise(
    settings: RunSettings, recorder: Recorder, generator: AnyGenerator, drain: Drain | None
) -> tuple[Summary, DrainedSummary | None, WholeRun]:
    """The measured interval's summary (requests cut off counted as `abandoned`), what
    the drain saw of it, and the whole run's answers."""
    drained: DrainedSummary | None = None
    if drain is not None:
        recorder.censor(settings.scenario, drain.censored_since, drain.cut_at)
        drained = recorder.drained(settings.scenario, drain.duration_s)
    summary = recorder.summary(settings.scenario)
    totals = recorder.snapshot().scenarios.get(settings.scenario)
    whole_run = WholeRun(
        ok=totals.total_ok if totals is not None else 0,
        errors=totals.total_errors if totals is not None else 0,
        abandoned=generator.abandoned,
    )
    if generator.abandoned:
        errors = dict(summary.errors)
        errors[ERROR_ABANDONED] = errors.get(ERROR_ABANDONED, 0) + generator.abandoned
        summary = replace(summary, errors=errors)
    return summary, drained, whole_run


def _request_cost_s(
    settings: RunSettings, neighbours: Neighbours, summary: Summary, interval: _Interval
) -> float | None:
    """The core time of one CPU-scenario request for the theory (None: not a CPU one)."""
    cpu_s = neighbours.cpu_s
    meter = neighbours.cpu_meter
    if cpu_s is None and meter is not None and settings.scenario in CPU_SCENARIOS:
        since = interval.measured_from
        until = since if interval.ended_at is None else interval.ended_at
        cpu_s = meter.cost_s(settings.iterations, since=since, until=until)
    if cpu_s is None and settings.scenario in CPU_SCENARIOS:
        # Another server: the best we know is the work time it reports per request.
        cpu_s = summary.server_work_ms_mean / 1000 if summary.ok else math.nan
    return cpu_s


# The user's code held the loop this share of the measured time: the route blocks the loop
# (`audit`'s verdict), and like the `blocking` and `cpu-async` lessons it does so by design,
# so the lag is not the client's.
HELD_SHARE = 0.2


def _held_by_design(blocking: tuple[BlockSite, ...], measured: float) -> tuple[str, ...]:
    held = sum(site.total_s for site in blocking)
    if not blocking or measured <= 0 or held < HELD_SHARE * measured:
        return ()
    return ("blocking", "cpu-async") if computing(blocking) else ("blocking",)


def drain_limit_s(settings: RunSettings) -> float:
    """How long the end of a run may await what it owes (see `BaseLoadGenerator.drain`):
    asked for, or for an open loop max(10 s, its duration) (a backlog drains at the
    server's pace), for a closed loop 2 s plus twice the route's delay, at most 10 s."""
    if settings.drain_s is not None:
        return settings.drain_s
    if settings.rate is not None:
        return max(MAX_DRAIN_S, settings.duration_s)
    return min(MAX_DRAIN_S, DEFAULT_GRACE_S + 2 * settings.delay_ms / 1000)


async def _wait_unless_stopped(stop: asyncio.Event | None, seconds: float) -> bool:
    """Wait `seconds`, or less if `stop` is set; True when stopped."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
    return stop.is_set()


def _both(first: RecordSink, second: RecordSink) -> RecordSink:
    def sink(record: RequestRecord) -> None:
        first(record)
        second(record)

    return sink
