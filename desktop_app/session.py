"""`LabSession`: the composition root of the desktop app, with no Qt in it.

It owns the embedded server, one generator per running scenario, the recorder, a probe
sampler and the response curve, and shuts them all down. Widgets call its methods and
read `snapshot()` on their timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from loopscope.embedded_server import (
    CPU_SCENARIOS,
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    MAX_BLOCKING_DELAY_MS,
    MAX_WORKERS,
    SCENARIOS,
    BlockSite,
    EmbeddedServer,
    LoopLagMonitor,
    ServerProcess,
    ServerSettings,
    WorkerProbes,
    computing,
    create_app,
)
from loopscope.loadgen import (
    MAX_USERS,
    AnyRequest,
    CpuCostMeter,
    HttpxSender,
    LoadGenerator,
    OpenLoopGenerator,
    ProgressCallback,
    Recorder,
    RecorderSnapshot,
    RouteRequest,
    RunResult,
    RunSettings,
    ScenarioRequest,
    SweepProgress,
    SweepStep,
    WireLog,
    connections_for,
    sweep_steps,
    theory,
)
from loopscope.loadgen import open_loop_theory as open_loop
from loopscope.loadgen.health import UI_SETTLE_S, HealthMonitor, HealthVerdict
from loopscope.loadgen.sweep import ProcessTarget, SweepProbes, SweepTarget

from .annotations import Marker, MarkerLog, format_value
from .own_app import OwnTarget, split_url
from .timeline import MAX_LANES, TimelineFrame, build_frame

# The blocking scenario freezes the loop the window runs on for users × delay at a time;
# 20 users at the 2 s route maximum is already 40 s, so it is capped (and said so in the UI).
MAX_BLOCKING_USERS = 20
# Probe sampling period: the in-flight, thread-pool and loop-lag charts get 10 points a
# second, smooth enough to see a freeze start and end.
PROBE_PERIOD_S = 0.1
# 90 s of probe samples at 10 Hz. Only the charts read them, and they show the last 60 s
# (charts.VISIBLE_S): 10 minutes of them (6000 samples) cost 4.3 MiB of memory that grew for
# the first 10 minutes of every session, and copying them cost every frame.
PROBE_HISTORY = 900
# Runs pinned for comparison: more faint overlays than this are a tangle nobody reads.
MAX_PINS = 3
# A concurrency level counts as "settled" for the response curve after this long.
SETTLE_S = 4.0
# The curve point pools the records completing from this long after the level changed on
# (the first second is the ramp and the old level's requests finishing).
CURVE_SKIP_S = 1.0
# Generator health is judged over this many seconds: long enough for a p99 of loop lag
# (300 ticks), short enough that the warning follows a slider within seconds.
HEALTH_PERIOD_S = 3.0
# The user's code held the loop this share of a health period: the loop lag is the app's
# doing (named in the window's list), not the generator's; `run --app` judges the same way.
OWN_HELD_SHARE = 0.2
# Open loop on a route of the user's own: no theory sizes its connections, so they are
# sized as for a 1 s service time (bounded by the open loop's own maximum).
OWN_ROUTE_SERVICE_S = 1.0
# Its users start spread over this long (a demo route's over its delay): users arriving all
# at once would measure their own stampede.
OWN_ROUTE_RAMP_S = 0.2


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the demo server runs: on the window's loop (the card's shape, the default),
    or in a process of its own with `workers` worker processes."""

    process: bool = False
    workers: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {self.workers}")
        if not self.process and self.workers != 1:
            raise ValueError("workers need the server in its own process")

    @property
    def label(self) -> str:
        if not self.process:
            return "this window's loop"
        return f"own process, {self.workers} worker{'s' if self.workers > 1 else ''}"


@dataclass(frozen=True, slots=True)
class ProbeSample:
    t_s: float  # seconds since the session's origin
    in_flight: dict[str, int]
    threads_total: int
    threads_borrowed: int
    threads_waiting: int
    loop_lag_ms: float  # the window's loop (the server's too, when it shares it)
    users: dict[str, int]
    theory_rps: dict[str, float]
    #: The server's loop lag (its worst worker's) when it runs in its own process; None:
    #: it shares the window's loop, whose lag is `loop_lag_ms`.
    server_loop_lag_ms: float | None = None


@dataclass(slots=True)
class CurvePoint:
    scenario: str
    users: int
    throughput_rps: float
    latency_p50_ms: float
    latency_p99_ms: float
    generator_limited: bool = False


@dataclass(frozen=True, slots=True)
class LabSnapshot:
    recorder: RecorderSnapshot
    probes: tuple[ProbeSample, ...]
    curve: tuple[CurvePoint, ...]
    running: bool
    scenarios: tuple[str, ...]
    users: dict[str, int]
    predictions: dict[str, theory.Prediction] = field(default_factory=dict)
    mode: str = "closed"
    rate: float = 0.0
    # Setting changes during the run, and when the run began (both in recorder seconds).
    markers: tuple[Marker, ...] = ()
    run_start_s: float = 0.0
    pins: tuple[PinnedRun, ...] = ()
    #: Scenarios whose users were lowered and whose queue still drains: the requests of
    #: the users taken away are still queued ahead, so latency stays above theory.
    settling: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PinnedRun:
    """A run frozen for comparison: the charts draw it faintly under the live one, its
    time series shifted so that it starts where the current run starts."""

    number: int  # 1, 2, 3... for the legend and the line style
    label: str  # its settings ("100 users, 10 threads, 1000 ms")
    snapshot: LabSnapshot  # with no pins of its own


class LabSession:
    """Everything the window drives: server, load, measurement and their shutdown."""

    def __init__(
        self, *, window_s: float = 1.0, port: int = 0, placement: Placement | None = None
    ) -> None:
        self._port = port
        self.server = EmbeddedServer(create_app(ServerSettings()), port=port)
        #: Where the demo server runs (`set_placement` moves it).
        self.placement = placement or Placement()
        # The server process and its workers' probes (read over HTTP), in process placement.
        self._process: ServerProcess | None = None
        self._worker_probes: WorkerProbes | None = None
        # The window's own loop lag when the server is not on it (in the shared loop, the
        # server's monitor measures that loop already).
        self._window_lag = LoopLagMonitor()
        self._server_up = False
        self.recorder = Recorder(window_s=window_s)
        #: The senders' own send and receive times of the demo routes' requests: the
        #: timeline's time on the wire (the server's phase table has the rest).
        self.wire = WireLog()
        self._generators: dict[str, LoadGenerator | OpenLoopGenerator] = {}
        #: "closed" (users that wait for their answer) or "open" (a fixed arrival rate).
        self.mode = "closed"
        #: Requests per second of each scenario in open-loop mode.
        self.rate = 50.0
        self.scenarios: tuple[str, ...] = ("sync", "async")
        self._users: dict[str, int] = dict.fromkeys(SCENARIOS, 10)
        self.delay_ms = 200.0
        self.threads = DEFAULT_THREADS
        self.iterations = DEFAULT_CPU_ITERATIONS
        self.fanout = DEFAULT_FANOUT
        self._cpu_cost_s: float | None = None
        # This machine's speed for the CPU theory, sampled by the probe sampler (a shared
        # machine's speed drifts: loadgen._cpu_cost). _cpu_cost_s: the cost the theory
        # keeps once a load stops (None: take the meter's).
        self._cpu_meter = CpuCostMeter()
        self._qt_loop = False
        self._probes: deque[ProbeSample] = deque(maxlen=PROBE_HISTORY)
        self._sampler: asyncio.Task[None] | None = None
        self._curve: dict[tuple[str, int], CurvePoint] = {}
        self._settled_since: dict[str, float] = {}
        # Scenarios draining the backlog of users taken away, and when it was drained
        # (None: still draining); see `_track_backlog`.
        self._draining: dict[str, float | None] = {}
        self._opened = False
        self._closed = False
        self._health_monitor: HealthMonitor | None = None
        self._sweeping = False
        # The scenarios the sweep's current step loads, with their users.
        self._sweep_users: dict[str, int] = {}
        # Generators taken out of service whose stop has not finished closing them.
        self._stopping: set[LoadGenerator | OpenLoopGenerator] = set()
        # Generators `halt()` took out of service that no `stop()` has taken up yet.
        self._halted: list[LoadGenerator | OpenLoopGenerator] = []
        #: The latest verdict on the generator (None until load has run a period).
        self.health: HealthVerdict | None = None
        #: Setting changes while the load runs ("threads 10 → 58"), for the time charts.
        self.markers = MarkerLog()
        # When the current run began (Start, or Reset while running): pinned runs are
        # drawn from here, so a new run overlays the pinned one from its own start.
        self._run_start_s = 0.0
        self._pins: list[PinnedRun] = []
        self._pins_made = 0
        #: The user's own app (served here) or a server already running; None: demo only.
        self.own: OwnTarget | None = None
        #: The route of `own` under load beside the demo scenarios (None: none).
        self.route: RouteRequest | None = None
        # Seconds the user's code had held the loop at the last health verdict.
        self._own_held_s = 0.0

    # -- life ------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the server where `placement` says, and the probe sampler (raises
        ServerStartError)."""
        await self._start_server()
        # The window's loop (qasync) gives a request one pass fewer per gap between two
        # blocking requests than plain asyncio does (theory.LoopHold); told by name, as
        # this module imports no Qt.
        self._qt_loop = type(asyncio.get_running_loop()).__module__.startswith("qasync")
        self._sampler = asyncio.get_running_loop().create_task(
            self._sample_forever(), name="loopscope-probe-sampler"
        )
        self._opened = True

    async def _start_server(self) -> None:
        """The demo server where `placement` says; the health verdict follows the loop the
        generator runs on (the window's)."""
        if self.placement.process:
            process = ServerProcess(workers=self.placement.workers, threads=self.threads)
            await process.start()
            self._process = process
            self._cpu_meter.watch(process.worker_pids())
            try:
                self._worker_probes = WorkerProbes(
                    process.probe_urls, threads=self.threads, period_s=PROBE_PERIOD_S
                )
                await self._worker_probes.start()
            except BaseException:
                await self._stop_server()
                raise
            self._window_lag.start()
        else:
            await self.server.start()
        self._server_up = True
        self._health_monitor = HealthMonitor(self.window_loop_lag)
        self._health_monitor.restart()

    async def _stop_server(self, *, cut_in_flight: bool = True) -> None:
        """Stop the demo server wherever it runs; nothing is left (no worker, no port)."""
        self._server_up = False
        probes, self._worker_probes = self._worker_probes, None
        process, self._process = self._process, None
        try:
            if probes is not None:
                await probes.stop()
        finally:
            if process is not None:
                self._cpu_meter.watch(())
                await self._window_lag.stop()
                await process.stop()
            else:
                await self.server.stop(cut_in_flight=cut_in_flight)

    async def set_placement(self, placement: Placement) -> None:
        """Move the demo server (stopped first, started again where asked); only while the
        load is stopped. ServerStartError when the new one cannot start (the session then
        falls back to the window's loop)."""
        if self.running:
            raise ValueError("stop the load before moving the server")
        if placement == self.placement:
            return
        before = self.placement
        if not self._opened:
            self.placement = placement
            return
        await self._stop_server()
        # A fresh app: the old one's probes were bound to the server that ended.
        self.server = EmbeddedServer(
            create_app(ServerSettings(threads=self.threads)), port=self._port
        )
        self.placement = placement
        try:
            await self._start_server()
        except BaseException:
            self.placement = Placement()
            await self._start_server()
            raise
        finally:
            self._mark("server", before.label, self.placement.label)

    @property
    def window_loop_lag(self) -> LoopLagMonitor:
        """The lag of the window's loop (where the generator runs)."""
        return self._window_lag if self.placement.process else self.server.probes.loop_lag

    @property
    def server_url(self) -> str:
        """Where the demo routes answer."""
        return self._process.url if self._process is not None else self.server.url

    def worker_pids(self) -> list[int]:
        """The server's worker processes (none when it shares the window's loop)."""
        return [] if self._process is None else self._process.worker_pids()

    def probes(self) -> SweepProbes:
        """The demo server's probes: read from Python on this loop, or the workers' over
        HTTP (the latest read)."""
        if self._worker_probes is not None:
            return self._worker_probes
        return self.server.probes

    @property
    def timeline_available(self) -> bool:
        """The request timeline needs the server's phase table, in this process."""
        return not self.placement.process

    def _sweep_target(self) -> SweepTarget:
        if self._process is not None and self._worker_probes is not None:
            return ProcessTarget(self._process.url, self._worker_probes)
        return self.server

    async def close(self) -> None:
        """Stop load, the sampler and the server; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.halt()
        # The load is cut: nobody waits for an answer any more, so the server need not
        # give requests in flight a grace period (an async request sleeping its 2 s delay
        # held the window's close for uvicorn's whole 1 s grace). Asked now, so that
        # uvicorn's shutdown ticks overlap with the generators' closing.
        self.server.request_stop(cut_in_flight=True)
        await self.stop(cut_in_flight=True)
        for generator in list(self._stopping):
            await generator.aclose()
        self._stopping.clear()
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self._opened:
            await self._stop_server()
        await self.close_own()

    @property
    def running(self) -> bool:
        """Load is on: the live generators, or a sweep (settling between steps included)."""
        return bool(self._generators) or self._sweeping

    @property
    def sweeping(self) -> bool:
        """True while a sweep runs (it adds its own curve points)."""
        return self._sweeping

    def _loaded(self) -> tuple[str, ...]:
        """The scenarios under load right now: the live ones, or the sweep step's."""
        return tuple(self._generators) or tuple(self._sweep_users)

    # -- load --------------------------------------------------------------------------

    def users(self, scenario: str) -> int:
        return self._users[scenario]

    def _request(self, scenario: str) -> ScenarioRequest:
        delay = self.delay_ms
        if scenario == "blocking":
            delay = min(delay, MAX_BLOCKING_DELAY_MS)
        return ScenarioRequest(
            scenario=scenario, delay_ms=delay, iterations=self.iterations, fanout=self.fanout
        )

    @property
    def server_ready(self) -> bool:
        """The demo server serves (False while it moves: `set_placement`)."""
        return self._server_up

    def start(self) -> None:
        if self.running or not self._opened or not self._server_up:
            return
        self._open_turnstile()
        for scenario in self.endpoints():
            # A sender (its clients and connection pools) per scenario: users of two
            # scenarios sharing one pool would queue for each other's connections.
            url = self._url_of(scenario)
            # Request ids only to the demo server on this loop, whose phase table keeps them
            # (in its own process there is no timeline, and no server here to ask its url).
            in_window = not self.placement.process and url == self.server.url
            sender = HttpxSender(url, wire=self.wire if in_window else None)
            self.recorder.track(scenario)
            generator: LoadGenerator | OpenLoopGenerator
            if self.mode == "open":
                generator = OpenLoopGenerator(
                    sender,
                    self.recorder.add,
                    self._load_request(scenario),
                    max_in_flight=self._connections(scenario),
                )
                generator.start(self.rate)
            else:
                # Users start spread over one delay, as a real crowd would, not in lock-step.
                ramp_s = min(2.0, self._ramp_s(scenario))
                generator = LoadGenerator(
                    sender, self.recorder.add, self._load_request(scenario), ramp_s=ramp_s
                )
                generator.start(self._users[scenario])
            self._generators[scenario] = generator
            self._unsettle(scenario, time.perf_counter())
        self._run_start_s = self.now_s()
        if self._health_monitor is not None:
            # The verdict is about the load: not the idle time (window start-up) before it.
            self._health_monitor.restart()

    def halt(self) -> None:
        """The synchronous first half of a stop, for a click to take effect at once: the
        load is off (`running` is False), users send no more, their requests in flight
        are cancelled, and the blocking route's queued requests leave without blocking
        the loop. `stop()` does the rest (closing the generators' connections)."""
        turnstile = self.server.blocking_turnstile
        if turnstile is not None:
            turnstile.close()
        if any(name in CPU_SCENARIOS for name in self._generators):
            # The theory keeps the cost it showed at the end of the load.
            self._cpu_cost_s = self._cpu_meter.cost_s(self.iterations)
        generators, self._generators = self._generators, {}
        for generator in generators.values():
            if isinstance(generator, LoadGenerator):
                generator.cut()
        self._halted.extend(generators.values())

    def _open_turnstile(self) -> None:
        turnstile = self.server.blocking_turnstile
        if turnstile is not None:
            turnstile.open()

    async def stop(self, *, cut_in_flight: bool = True) -> None:
        """Stop all users. cut_in_flight drops requests in flight instead of waiting."""
        if cut_in_flight:
            self.halt()
        generators = [*self._generators.values(), *self._halted]
        self._generators, self._halted = {}, []
        self._stopping.update(generators)
        grace = 0.0 if cut_in_flight else 5.0
        try:
            await asyncio.gather(*(g.stop(grace_s=grace) for g in generators))
        finally:
            # Even when this stop is itself cancelled (the window closing mid-sweep), every
            # generator closes its connections; close() finishes any that could not.
            for generator in generators:
                await generator.aclose()
                self._stopping.discard(generator)

    def set_scenarios(self, scenarios: tuple[str, ...]) -> None:
        """Which scenarios run; takes effect at the next start."""
        unknown = set(scenarios) - set(SCENARIOS)
        if unknown or not (scenarios or self.route):
            raise ValueError(f"choose at least one of {', '.join(SCENARIOS)}")
        self.scenarios = tuple(s for s in SCENARIOS if s in scenarios)

    def set_users(self, users: int, scenario: str | None = None) -> list[str]:
        """Set the users of one scenario, or of all. Returns the scenarios whose value was
        capped (blocking: MAX_BLOCKING_USERS), for the window to say so."""
        if not 1 <= users <= MAX_USERS:
            raise ValueError(f"users must be between 1 and {MAX_USERS}")
        capped: list[str] = []
        routes = (self.route.scenario,) if self.route is not None else ()
        for name in [scenario] if scenario else (*SCENARIOS, *routes):
            value = self._capped_users(name, users)
            if value != users:
                capped.append(name)
            if value != self._users[name]:
                self._unsettle(name, time.perf_counter())
                if name in self.scenarios:
                    self._mark(
                        f"users ({name})" if scenario else "users",
                        format_value(self._users[name]),
                        format_value(value),
                    )
            self._users[name] = value
            generator = self._generators.get(name)
            if isinstance(generator, LoadGenerator):
                generator.set_concurrency(value)
        return [name for name in capped if name in self.endpoints()]

    def restore_users(self, users: dict[str, int]) -> None:
        """Put users back as they were (after a sweep): not a change of the user's, so no
        marker."""
        sweeping, self._sweeping = self._sweeping, True
        try:
            for name, value in users.items():
                self.set_users(value, name)
        finally:
            self._sweeping = sweeping

    @staticmethod
    def _capped_users(scenario: str, users: int) -> int:
        return min(users, MAX_BLOCKING_USERS) if scenario == "blocking" else users

    def set_mode(self, mode: str) -> None:
        """Closed loop (users) or open loop (arrival rate); takes effect at the next start."""
        if mode not in ("closed", "open"):
            raise ValueError(f"mode must be 'closed' or 'open', got {mode!r}")
        self.mode = mode
        self._settings_changed()

    def set_rate(self, rate: float) -> None:
        """Open loop: requests per second per scenario, live."""
        if not 0 < rate <= 100_000:
            raise ValueError("rate must be between 0 and 100000 requests per second")
        if self.mode == "open":
            self._mark("rate", f"{self.rate:g}", f"{rate:g}", "req/s")
        self.rate = rate
        self._settings_changed()
        for name, generator in self._generators.items():
            if isinstance(generator, OpenLoopGenerator):
                generator.set_max_in_flight(self._connections(name))
                generator.set_rate(rate)

    def _connections(self, scenario: str) -> int:
        """The open loop's bound on requests in flight, sized from theory for the rate."""
        if scenario not in SCENARIOS:
            return connections_for(self.rate, OWN_ROUTE_SERVICE_S)
        prediction = self.prediction(scenario)
        return connections_for(self.rate, prediction.service_time_s)

    def in_flight_cap(self, scenario: str) -> int | None:
        generator = self._generators.get(scenario)
        return generator.max_in_flight if isinstance(generator, OpenLoopGenerator) else None

    def set_delay(self, delay_ms: float) -> None:
        self._mark("delay", f"{self.delay_ms:g}", f"{delay_ms:g}", "ms")
        self.delay_ms = delay_ms
        self._settings_changed()
        for name, generator in self._generators.items():
            generator.set_request(self._load_request(name))

    def set_threads(self, threads: int) -> None:
        self.probes().set_thread_tokens(threads)
        self._mark("threads", str(self.threads), str(threads))
        self.threads = threads
        self._settings_changed()

    def apply(
        self,
        *,
        scenarios: tuple[str, ...],
        users: int,
        delay_ms: float,
        threads: int,
        iterations: int = DEFAULT_CPU_ITERATIONS,
        fanout: int = DEFAULT_FANOUT,
    ) -> None:
        """Load a preset's settings (call while stopped)."""
        self.set_scenarios(scenarios)
        self.iterations = iterations
        self.fanout = fanout
        self._cpu_cost_s = None
        self.set_users(users)
        self.set_delay(delay_ms)
        self.set_threads(threads)

    def reset(self) -> None:
        """Clear charts, curve, markers and figures (the load keeps its settings)."""
        self.recorder.reset()
        if self.own is not None and self.own.probed is not None:
            self.own.probed.block_watch.reset()
        self._own_held_s = 0.0
        self._probes.clear()
        self._curve.clear()
        self.markers.clear()
        self._run_start_s = 0.0
        self.health = None
        now = time.perf_counter()
        for name in self._settled_since:
            self._unsettle(name, now)

    def now_s(self) -> float:
        """Seconds since the recorder's origin: the time charts' x."""
        return time.perf_counter() - self.recorder.origin

    def _mark(self, setting: str, before: str, after: str, unit: str = "") -> None:
        """A marker for a change, running or not (a change between two runs is what a
        comparison is about); a sweep's own steps are not changes of the user's."""
        if not self._sweeping:
            self.markers.note(self.now_s(), setting, before, after, unit)

    def settings_values(self) -> dict[str, str]:
        """The settings now, keyed as markers name them."""
        values = {
            "mode": self.mode,
            "rate": f"{self.rate:g}",
            "threads": str(self.threads),
            "delay": f"{self.delay_ms:g}",
            "server": self.placement.label,
        }
        values.update({f"users ({name})": str(self._users[name]) for name in self.scenarios})
        return values

    def settings_label(self, values: dict[str, str] | None = None, scenario: str = "") -> str:
        """Settings in a few words (pins, exports): those now, or `values` (of one
        scenario, or of all)."""
        values = values or self.settings_values()
        if values["mode"] == "open":
            load = f"{values['rate']} req/s"
        else:
            names = [scenario] if scenario else list(self.scenarios)
            users = sorted({int(values[f"users ({name})"]) for name in names})
            load = f"{'/'.join(str(u) for u in users)} users"
        label = f"{load}, {values['threads']} threads, {values['delay']} ms"
        server = values.get("server", Placement().label)
        # Only a server out of the window's loop is worth the words (the lessons' default).
        return label if server == Placement().label else f"{label}, {server}"

    def pin(self) -> PinnedRun | None:
        """Freeze the current run for comparison (at most MAX_PINS, the oldest goes);
        None when nothing has been measured yet. Reset keeps the pins."""
        snap = dataclasses.replace(self.snapshot(), pins=())
        if not any(w.ok for s in snap.recorder.scenarios.values() for w in s.windows):
            return None
        self._pins_made += 1
        pinned = PinnedRun(self._pins_made, self.settings_label(), snap)
        self._pins = [*self._pins, pinned][-MAX_PINS:]
        return pinned

    def clear_pins(self) -> None:
        self._pins = []

    def _settings_changed(self) -> None:
        # A new delay or pool size makes every scenario's level unsettled again.
        now = time.perf_counter()
        for name in SCENARIOS:
            self._unsettle(name, now)

    def _unsettle(self, name: str, now: float) -> None:
        """The level of `name` changed at `now`: its curve point pools afresh from then."""
        self._settled_since[name] = now
        self.recorder.begin_period(name, at=now + CURVE_SKIP_S)

    # -- sweep ---------------------------------------------------------------------------------

    def sweep_plan(self, levels: Sequence[int], step_s: float) -> list[SweepStep]:
        """A step per level of users: every chosen scenario at once, as the live load runs
        them side by side (so sweep points and settled live points measure the same thing),
        blocking capped as its slider is, at the current delay and pool size."""
        if not levels:
            raise ValueError("a sweep needs at least one level of users")
        for users in levels:
            if not 1 <= users <= MAX_USERS:
                raise ValueError(f"users must be between 1 and {MAX_USERS}")
        return [
            tuple(self._sweep_run(name, users, step_s) for name in self.scenarios)
            for users in levels
        ]

    def _sweep_run(self, scenario: str, users: int, step_s: float) -> RunSettings:
        run = RunSettings(
            scenario=scenario,
            concurrency=self._capped_users(scenario, users),
            delay_ms=self._request(scenario).delay_ms,
            duration_s=step_s,
            threads=self.threads,
            iterations=self.iterations,
            fanout=self.fanout,
            # Where the steps' server runs: their theory counts its workers.
            server_process=self.placement.process,
            workers=self.placement.workers,
        )
        # Users start spread over one delay, as the live load's do; within the warm-up,
        # which the step's figures leave out.
        return dataclasses.replace(run, ramp_s=min(run.delay_ms / 1000, run.effective_warmup_s))

    async def sweep(
        self,
        levels: Sequence[int],
        *,
        step_s: float,
        progress: ProgressCallback | None = None,
    ) -> list[RunResult]:
        """Run the scenarios at each level of users for `step_s`, through loadgen's sweep
        engine on this session's server, adding a response-curve point per level per
        scenario as each step ends. The live load stops first (the caller may start it
        again after); the sweep's requests feed the live charts. Cancel it to end it."""
        if self._sweeping:
            raise RuntimeError("a sweep is already running")
        if self.mode != "closed":
            raise ValueError("a sweep varies users: closed loop only")
        steps = self.sweep_plan(levels, step_s)

        def report(update: SweepProgress) -> None:
            for result in update.finished:
                self.add_result_point(result)
                if result.settings.scenario in CPU_SCENARIOS:
                    # Once the sweep ends, the theory shows its last step's cost.
                    self._cpu_cost_s = result.prediction.service_time_s
            if update.runs:
                self.set_users(levels[update.done])
            self._sweep_users = {run.scenario: run.concurrency for run in update.runs}
            if progress is not None:
                progress(update)

        self._sweeping = True
        try:
            await self.stop(cut_in_flight=True)
            self._open_turnstile()
            for name in self.scenarios:
                self.recorder.track(name)
            return await sweep_steps(
                self._sweep_target(),
                steps,
                threads=self.threads,
                cpu_meter=self._cpu_meter,
                progress=report,
                sink=self.recorder.add,
            )
        finally:
            self._sweep_users = {}
            self._sweeping = False
            # The engine set the pool for each step; the slider's value holds again (it may
            # have moved during the sweep).
            self.probes().set_thread_tokens(self.threads)

    # -- what the window shows ---------------------------------------------------------------

    def _cpu_cost(self) -> float:
        """Seconds of the core one CPU-scenario request costs here (work and HTTP): while
        load runs, at the speed sampled over the last seconds (as a run's own theory is);
        once it stops, the cost it ended with (a sweep: its last step's)."""
        if self.running or self._cpu_cost_s is None:
            return self._cpu_meter.cost_s(self.iterations)
        return self._cpu_cost_s

    def prediction(self, scenario: str) -> theory.Prediction:
        if scenario not in SCENARIOS:
            return theory.unknown(scenario)  # a route of the user's own: no theory
        cpu_s: float | None = None
        cpu_share = 1.0
        workers = self.placement.workers if self.placement.process else 1
        if scenario in CPU_SCENARIOS:
            cpu_s = self._cpu_cost()
            # CPU-bound scenarios running side by side share the one core the GIL allows:
            # by their (weighted) users in a closed loop, evenly in an open loop (each at
            # the same rate).
            sharing = [s for s in self.scenarios if s in CPU_SCENARIOS] or [scenario]
            if self.mode == "open":
                cpu_share = 1 / len(sharing)
            else:
                shares = theory.cpu_shares({s: self._users[s] for s in sharing})
                cpu_share = shares.get(scenario, 1.0)
        if self.mode == "open":
            return open_loop(
                scenario,
                rate=self.rate,
                delay_s=self._request(scenario).delay_ms / 1000,
                threads=self.threads,
                fanout=self.fanout,
                cpu_s=cpu_s,
                cpu_share=cpu_share,
                workers=workers,
            )
        return theory.closed_loop(
            scenario,
            users=self._users[scenario],
            delay_s=self._request(scenario).delay_ms / 1000,
            threads=self.threads,
            fanout=self.fanout,
            cpu_s=cpu_s,
            cpu_share=cpu_share,
            workers=workers,
            loop_hold=self.loop_hold(),
        )

    def loop_hold(self, users: int | None = None) -> theory.LoopHold | None:
        """The blocking route beside the others, holding the loop they share (closed loop):
        at its users, or at `users` (capped as its slider is: the response curve's levels)."""
        if "blocking" not in self.scenarios:
            return None
        delay_s = self._request("blocking").delay_ms / 1000
        held_by = (
            self._users["blocking"] if users is None else self._capped_users("blocking", users)
        )
        # In a server process the blocking route holds a worker's plain asyncio loop.
        qt_loop = self._qt_loop and not self.placement.process
        return theory.LoopHold(users=held_by, delay_s=delay_s, qt_loop=qt_loop)

    def snapshot(self) -> LabSnapshot:
        return LabSnapshot(
            recorder=self.recorder.snapshot(),
            probes=tuple(self._probes),
            curve=tuple(self._curve.values()),
            running=self.running,
            scenarios=self.endpoints(),
            users={name: self._users[name] for name in self.endpoints()},
            predictions={name: self.prediction(name) for name in self.endpoints()},
            mode=self.mode,
            rate=self.rate,
            markers=self.markers.markers,
            run_start_s=self._run_start_s,
            pins=tuple(self._pins),
            settling=frozenset(self._draining),
        )

    def timeline(self, scenario: str, max_lanes: int = MAX_LANES) -> TimelineFrame:
        """The per-request timeline of a demo route now, from the server's phase table
        and the senders' wire log, in at most `max_lanes` lanes."""
        return build_frame(
            self.server.probes.phases,
            scenario,
            time.perf_counter(),
            wire=self.wire,
            max_lanes=max_lanes,
        )

    async def _sample_forever(self) -> None:
        last = time.perf_counter()
        tick = 0
        while True:
            await asyncio.sleep(PROBE_PERIOD_S)
            now = time.perf_counter()
            self._sample(now, last)
            last = now
            tick += 1
            if tick % 10 == 0:
                self._update_curve(now)
            if tick % round(HEALTH_PERIOD_S / PROBE_PERIOD_S) == 0:
                self._judge_health()

    def ui_busy(self, settle_s: float = UI_SETTLE_S) -> contextlib.AbstractContextManager[None]:
        """Wrap a repaint the window causes itself (theme switch, full screen, its figures):
        the loop stall, until `settle_s` after, is not blamed on the generator
        (HealthMonitor.ui_busy)."""
        monitor = self._health_monitor
        return contextlib.nullcontext() if monitor is None else monitor.ui_busy(settle_s)

    def _judge_health(self) -> None:
        """Is the generator (this process, this loop) what limits the figures right now?"""
        monitor = self._health_monitor
        if monitor is None:
            return
        held = self._own_held()  # every period, so that each counts only its own stalls
        if self.running:
            self.health = monitor.verdict(scenarios=(*self._loaded(), *held))
        else:
            self.health = None
        monitor.restart()

    def _track_backlog(self, now: float) -> None:
        """Which scenarios are settling after their users were lowered. A user taken away
        finishes the request it sent, and those requests queue ahead of the remaining
        users' (646 -> 102 users of a def route: p50 13-20 s for about 20 s where theory
        says 2.5 s). Settling lasts while such users are still waiting for an answer, and
        one recorder window more, so that the latency then shown is the settled queue's."""
        for name in list(self._draining):
            if name not in self._generators:
                del self._draining[name]
        for name, generator in self._generators.items():
            if not isinstance(generator, LoadGenerator):
                continue
            if generator.active_users > generator.concurrency:
                self._draining[name] = None  # still draining
            elif name in self._draining:
                drained_at = self._draining[name]
                if drained_at is None:
                    self._draining[name] = now
                elif now - drained_at >= self.recorder.window_s:
                    del self._draining[name]
                    # Where the charts show the settled queue again.
                    self.markers.event(now - self.recorder.origin, f"settled: {name}")

    def _sample(self, now: float, last: float) -> None:
        self._track_backlog(now)
        if any(name in CPU_SCENARIOS for name in self.scenarios):
            # Only for a CPU lesson: a sample reads every thread's schedstat (a def lesson
            # runs 40 threads), and nothing else needs the speed.
            self._cpu_meter.sample()
        probes = self.probes()
        pool = probes.threadpool()
        running = self._loaded()
        server_lag = (
            self._worker_probes.server_lag_ms() if self._worker_probes is not None else None
        )
        self._probes.append(
            ProbeSample(
                t_s=now - self.recorder.origin,
                in_flight=self._in_flight(),
                threads_total=pool.total,
                threads_borrowed=pool.borrowed,
                threads_waiting=pool.waiting,
                loop_lag_ms=self.window_loop_lag.max_since(last) * 1000,
                users={name: self._users[name] for name in running},
                theory_rps={name: self.prediction(name).throughput_rps for name in running},
                server_loop_lag_ms=server_lag,
            )
        )

    def _update_curve(self, now: float) -> None:
        """Add or refresh a response-curve point for each scenario settled at its level."""
        if self.mode != "closed" or self.sweeping:
            return  # the curve is against users; a sweep adds its own points
        for name in self._generators:
            since = self._settled_since.get(name, now)
            if now - since >= SETTLE_S:
                self.add_curve_point(name, now)

    def add_result_point(self, result: RunResult) -> CurvePoint:
        """The response-curve point of one sweep run: its summary, warm-up excluded."""
        summary = result.summary
        point = CurvePoint(
            scenario=result.settings.scenario,
            users=result.settings.concurrency,
            throughput_rps=summary.throughput_rps,
            latency_p50_ms=summary.latency.p50,
            latency_p99_ms=summary.latency.p99,
            generator_limited=result.generator_limited,
        )
        self._curve[(point.scenario, point.users)] = point
        return point

    def add_curve_point(self, name: str, now: float | None = None) -> CurvePoint | None:
        """A point for `name` at its current users from one histogram of every record that
        completed since its level settled (CURVE_SKIP_S after the change) until `now` (a
        perf_counter time; default now): the figures a sweep step over the same records
        gives. None before the period starts or while nothing has completed in it."""
        pooled = self.recorder.period(name, until=now)
        if pooled is None or pooled.ok == 0:
            return None
        users = self._users[name]
        point = CurvePoint(
            scenario=name,
            users=users,
            throughput_rps=pooled.throughput_rps,
            latency_p50_ms=pooled.latency.p50,
            latency_p99_ms=pooled.latency.p99,
            generator_limited=self.health is not None and self.health.generator_limited,
        )
        self._curve[(name, users)] = point
        return point

    # -- the user's own app ------------------------------------------------------------------

    def endpoints(self) -> tuple[str, ...]:
        """What runs at Start: the demo scenarios chosen, then the route of the user's own."""
        return (*self.scenarios, *((self.route.scenario,) if self.route is not None else ()))

    def _load_request(self, name: str) -> AnyRequest:
        """What the users of `name` send: a demo scenario's request, or the user's route."""
        if self.route is not None and name == self.route.scenario:
            return self.route
        return self._request(name)

    def _ramp_s(self, name: str) -> float:
        """Users start spread over this: a demo route's delay; for a route of the user's
        own, whose time is unknown, over OWN_ROUTE_RAMP_S."""
        if name in SCENARIOS:
            return self._request(name).delay_ms / 1000
        return OWN_ROUTE_RAMP_S

    def _url_of(self, name: str) -> str:
        if self.own is not None and self.route is not None and name == self.route.scenario:
            return self.own.url
        return self.server_url

    async def load_app(self, spec: str, app_dir: str | None = ".") -> OwnTarget:
        """Import the user's app ("module:attribute", from `app_dir`), run its lifespan and
        serve it on 127.0.0.1 (OwnTarget.open_app), in place of the app or URL loaded
        before. ValueError (one line) when it cannot; the demo server is untouched."""
        if self.running:
            raise ValueError("stop the load before loading an app")
        # The old app goes first: the same module loaded again is the same app object, and
        # its lifespan must not run twice at once.
        await self.close_own()
        self.own = await OwnTarget.open_app(spec, app_dir, threads=self.threads)
        return self.own

    async def use_url(self, url: str, *, allow_remote: bool = False) -> str:
        """Point at a server already running; returns the "/path?query" the URL names.
        RemoteHostError (a ValueError) when its host is not this machine, unless
        `allow_remote` (the user said yes); nothing is sent before Start."""
        if self.running:
            raise ValueError("stop the load before changing the target")
        base, target = split_url(url, allow_remote=allow_remote)
        await self.close_own()
        self.own = OwnTarget.for_url(base, remote=allow_remote)
        return target

    def set_route(self, request: RouteRequest | None, *, users: int = 10) -> None:
        """The route of the user's own under load at the next Start, with `users` (then
        the users slider drives it as it drives a demo scenario); None: no route."""
        if self.running:
            raise ValueError("stop the load before changing the route")
        if request is not None and self.own is None:
            raise ValueError("load an app or a URL first")
        if self.route is not None:
            self._users.pop(self.route.scenario, None)
        self.route = request
        if request is not None:
            if not 1 <= users <= MAX_USERS:
                raise ValueError(f"users must be between 1 and {MAX_USERS}")
            self._users[request.scenario] = users
            self._unsettle(request.scenario, time.perf_counter())

    async def close_own(self) -> None:
        """Forget the user's app or URL (stopping the app's server and lifespan)."""
        if self.route is not None:
            self.set_route(None)
        own, self.own = self.own, None
        self._own_held_s = 0.0
        if own is not None:
            await own.close()

    def block_sites(self) -> list[BlockSite]:
        """Where the user's code held the event loop, longest total first."""
        return [] if self.own is None else self.own.block_sites()

    def _own_held(self) -> tuple[str, ...]:
        """The lessons whose loop lag is by design, when the user's code held the loop for
        OWN_HELD_SHARE of the last health period: ("blocking",), and "cpu-async" when it
        computed meanwhile (the same rule as `run --app`)."""
        sites = self.block_sites()
        held = sum(site.total_s for site in sites)
        fresh, self._own_held_s = held - self._own_held_s, held
        if fresh < OWN_HELD_SHARE * HEALTH_PERIOD_S:
            return ()
        return ("blocking", "cpu-async") if computing(sites) else ("blocking",)

    def _in_flight(self) -> dict[str, int]:
        """Requests in flight server side: the demo's per scenario, the app's per route."""
        counts = self.probes().in_flight()
        if self.own is not None:
            counts.update(self.own.in_flight())
        return counts
