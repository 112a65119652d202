"""`audit`: load each route of a user's app at a few levels and say what kind of route it is.

For every operation chosen (by default each GET that can be sent as it is), a closed-loop
run at each load level on the embedded server, with the `BlockWatch` on, then a verdict,
decided from the evidence in this order:

- *blocks the event loop*: the loop was held in the user's code, waiting (a blocking call
  in `async def`), for at least `HELD_SHARE` of a level: names the file and line, and says
  what to do. This comes first: a held loop also makes requests time out or fail;
- *CPU-bound*: the loop (an `async def` route) was held computing, or the threads that ran
  a `def` route used most of a core and never more than one (the GIL);
- *no answer*: no request was answered in the longest a level may last;
- *fails*: most answered requests were errors (the app's own exceptions are named);
- *thread pool (def)*: a `def` route, run by anyio's thread pool (capacity: its tokens);
- *async, non-blocking*: an `async def` route that never held the loop.

A level lasts its duration, or twice the route's own latency and a second when that is
longer (a slow route is measured, not failed), at most `max_level_s`. The app's closing
gate (`ProbedApp.admit_until`) turns away every request arriving after a level's end, so a
route that holds the loop costs at most one more hold per level, not one per queued
request. Qt-free: the command line drives it (`loopscope audit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loopscope.embedded_server import (
    DEFAULT_THREADS,
    BlockSite,
    EmbeddedServer,
    Operation,
    ProbedApp,
    computing,
)
from loopscope.embedded_server.platform_support import other_threads_cpu_readable, thread_cpu_s

from ._generator import LoadGenerator
from ._recorder import Recorder
from ._records import ERROR_ABANDONED, ERROR_TIMEOUT, RequestRecord, RouteRequest
from ._runner import HELD_SHARE, _wait_unless_stopped
from ._sender import HttpxSender
from .advice import advice

VERDICT_ASYNC = "async, non-blocking"
VERDICT_THREAD_POOL = "thread pool (def)"
VERDICT_BLOCKS = "blocks the event loop"
VERDICT_CPU = "CPU-bound"
VERDICT_FAILS = "fails"
VERDICT_NO_ANSWER = "no answer"
VERDICT_UNKNOWN = "unknown (interrupted)"

# A `def` route whose handler threads used this share of one core, and never more than
# about one core (`ONE_CORE`), is CPU-bound (the GIL serialises its threads). The share is
# the route's own: the CPU clocks of anyio's worker threads, not the whole process (whose
# loop thread also runs the generator and the framework: ~1.0 of a core for any route).
DEF_CPU_BUSY = 0.5
ONE_CORE = 1.2
# Share of answered requests that were errors above which a route's verdict is that it fails.
FAILING_SHARE = 0.5
# A level lasts at least this many of the route's latencies (its p50 so far) plus
# `STRETCH_SLACK_S`: two completions per user, and a level stays within twice the p99.
STRETCH = 2.0
STRETCH_SLACK_S = 1.0
MAX_LEVEL_S = 30.0
# After a level, the handlers still inside the app may finish this long before the next
# level starts (a handler holding the loop finishes whatever this says: nothing else runs).
SETTLE_S = 0.5
# A level an interrupt cut after less than this much measurement says nothing: dropped.
MIN_MEASURED_S = 0.1
# anyio names the threads of its pool so (anyio 4): their CPU clocks are the `def` routes'.
_WORKER_THREAD_NAME = "AnyIO worker thread"
_MAX_LATENCIES = 4096


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditSettings:
    levels: tuple[int, ...] = (1, 8, 32)
    duration_s: float = 2.0
    warmup_s: float = 0.5
    threads: int = DEFAULT_THREADS
    # The longest a level may stretch to measure a slow route.
    max_level_s: float = MAX_LEVEL_S
    # The longest the app's start-up (its lifespan) may take on the embedded server.
    startup_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.levels or any(level < 1 for level in self.levels):
            raise ValueError("audit levels are numbers of users, at least 1")
        if self.duration_s <= self.warmup_s:
            raise ValueError("the audit's duration must be longer than its warm-up")
        if self.max_level_s < self.duration_s:
            raise ValueError("the longest a level may last is at least its duration")
        if self.startup_timeout_s <= 0:
            raise ValueError("the start-up timeout must be above 0 s")


@dataclass(frozen=True, slots=True)
class LevelResult:
    users: int
    requests: int
    errors: dict[str, int]
    throughput_rps: float
    latency_p50_ms: float
    latency_p99_ms: float
    loop_held_share: float  # of the level's time, the loop held in the user's code
    # Of one core, the CPU of the threads that ran a `def` route's handler (anyio's worker
    # threads); NaN where per-thread CPU clocks are not available.
    route_cpu_share: float = math.nan
    measured_s: float = 0.0  # the measured interval (after the warm-up)
    wall_s: float = 0.0  # the whole level, warm-up and stretch included
    partial: bool = False  # cut short by an interrupt

    @property
    def answered(self) -> int:
        return self.requests - sum(
            count for kind, count in self.errors.items() if not kind.startswith("http_")
        )

    @property
    def held(self) -> bool:
        """The loop was held for much of the level: its figures came in bursts."""
        return self.loop_held_share >= HELD_SHARE

    def to_json(self) -> dict[str, object]:
        return {
            "users": self.users,
            "requests": self.requests,
            "errors": self.errors,
            "throughput_rps": _rounded(self.throughput_rps, 2),
            "latency_p50_ms": _rounded(self.latency_p50_ms, 2),
            "latency_p99_ms": _rounded(self.latency_p99_ms, 2),
            "loop_held_share": round(self.loop_held_share, 3),
            "route_cpu_share": _rounded(self.route_cpu_share, 3),
            "measured_s": round(self.measured_s, 2),
            "wall_s": round(self.wall_s, 2),
            "partial": self.partial,
        }


@dataclass(frozen=True, slots=True)
class RouteAudit:
    operation: Operation
    verdict: str
    detail: str  # "capacity 40", "at shop/inventory.py:9 (time.sleep(0.1))", ...
    levels: tuple[LevelResult, ...]
    blocks: tuple[BlockSite, ...] = ()
    # What the app raised while answering this route: ("Type: message (at f:l)", count).
    exceptions: tuple[tuple[str, int], ...] = ()

    @property
    def blocks_loop(self) -> bool:
        """Holds the event loop: a blocking call, or CPU work, in an `async def` route."""
        return self.verdict == VERDICT_BLOCKS or (
            self.verdict == VERDICT_CPU and self.operation.sync is not True
        )

    def to_json(self) -> dict[str, object]:
        return {
            "route": self.operation.label,
            "endpoint": _endpoint_kind(self.operation),
            "verdict": self.verdict,
            "detail": self.detail,
            "blocks_loop": self.blocks_loop,
            "levels": [level.to_json() for level in self.levels],
            "blocking_sites": [{**site.to_json(), "advice": advice(site)} for site in self.blocks],
            "exceptions": [{"what": what, "count": count} for what, count in self.exceptions],
        }


@dataclass(frozen=True, slots=True)
class AppOutput:
    """What the user's app wrote while it ran (its prints, uvicorn's error log): the file
    it went to, how many lines, and the distinct messages with their counts, first first."""

    path: str
    lines: int
    messages: tuple[tuple[str, int], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "lines": self.lines,
            "messages": [{"text": text, "count": count} for text, count in self.messages],
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    app: str
    settings: AuditSettings
    routes: tuple[RouteAudit, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (route, why)
    # Stopped early (Ctrl+C): the routes audited so far, the last one maybe in part.
    partial: bool = False
    # The signal that stopped it ("SIGINT", "SIGTERM"), set by the command line.
    interrupted: str | None = None
    app_output: AppOutput | None = None

    @property
    def blocks_loop(self) -> bool:
        return any(route.blocks_loop for route in self.routes)

    @property
    def verdict(self) -> str:
        """ "blocks", "clear" or "unknown": an interrupted audit proves only a block."""
        if self.blocks_loop:
            return "blocks"
        return "unknown" if self.partial else "clear"

    def to_json(self) -> dict[str, object]:
        return {
            "app": self.app,
            "levels": list(self.settings.levels),
            "duration_s": self.settings.duration_s,
            "threads": self.settings.threads,
            "blocks_loop": self.blocks_loop,
            "verdict": self.verdict,
            "partial": self.partial,
            "interrupted": self.interrupted,
            "routes": [route.to_json() for route in self.routes],
            "skipped": [{"route": route, "why": why} for route, why in self.skipped],
            "app_output": None if self.app_output is None else self.app_output.to_json(),
        }

    def to_markdown(self) -> str:
        lines = [
            f"# LoopScope audit of `{self.app}`",
            "",
            f"Closed loop at {', '.join(str(u) for u in self.settings.levels)} users, "
            f"{self.settings.duration_s:g} s each (longer for a slow route, at most "
            f"{self.settings.max_level_s:g} s), {self.settings.threads} threads.",
            "",
            "| route | endpoint | verdict | "
            + " | ".join(f"{_users(u)}: req/s, p50 ms" for u in self.settings.levels)
            + " |",
            "|---|---|---|" + "---|" * len(self.settings.levels),
        ]
        for route in self.routes:
            verdict = f"**{route.verdict}**" + (f" ({route.detail})" if route.detail else "")
            cells = [
                f"{_fmt(level.throughput_rps)}, {_fmt(level.latency_p50_ms)}"
                + (" (held)" if level.held else "")
                + (" (partial)" if level.partial else "")
                for level in route.levels
            ]
            cells += ["not measured"] * (len(self.settings.levels) - len(cells))
            lines.append(
                f"| `{route.operation.label}` | {_endpoint_kind(route.operation)} | {verdict} | "
                + " | ".join(cells)
                + " |"
            )
        if any(level.held for route in self.routes for level in route.levels):
            lines += [
                "",
                "*(held)*: the loop was held for much of the level, so its requests finished "
                "in bursts (the handlers queued behind the held loop run back to back) and its "
                "req/s and p50 are rough, or - when no burst ended in time; the verdict rests "
                "on the held share, not on them.",
            ]
        lines += self._blocking_lines() + self._exception_lines() + self._output_lines()
        if self.partial:
            lines += [
                "",
                "**Partial**: the audit was interrupted"
                + (f" by {self.interrupted}" if self.interrupted else "")
                + "; the levels above were measured, the rest were not.",
            ]
        if self.skipped:
            lines += ["", "Not loaded: " + "; ".join(f"`{r}` ({why})" for r, why in self.skipped)]
        verdict = {
            "blocks": "**a route blocks the event loop**: every other request waits while it runs.",
            "unknown": f"**{VERDICT_UNKNOWN}**: no level measured so far shows a block.",
            "clear": "no route blocks the event loop.",
        }[self.verdict]
        lines += ["", "Verdict: " + verdict]
        return "\n".join(lines) + "\n"

    def _blocking_lines(self) -> list[str]:
        blocking = [(route, site) for route in self.routes for site in route.blocks]
        if not blocking:
            return []
        lines = [
            "",
            "## What held the event loop",
            "",
            "| route | where | call | times | longest ms | computing | what to do |",
            "|---|---|---|---|---|---|---|",
        ]
        for route, site in blocking:
            lines.append(
                f"| `{route.operation.label}` | `{site.site.where}` ({site.site.function}) "
                f"| `{site.site.code}` | {site.stalls} | {site.max_s * 1000:.0f} "
                f"| {site.cpu_share:.0%} | {advice(site)} |"
            )
        return lines

    def _exception_lines(self) -> list[str]:
        raised = [(route, what, n) for route in self.routes for what, n in route.exceptions]
        if not raised:
            return []
        lines = ["", "## What the app raised", "", "| route | exception | times |", "|---|---|---|"]
        for route, what, count in raised:
            lines.append(f"| `{route.operation.label}` | `{_cell(what)}` | {count:,} |")
        return lines

    def _output_lines(self) -> list[str]:
        output = self.app_output
        if output is None or output.lines == 0:
            return []
        lines = [
            "",
            f"The app wrote {output.lines:,} lines (its prints, uvicorn's error log) to "
            f"`{output.path}`; the most frequent:",
            "",
        ]
        for text, count in output.messages:
            lines.append(f"- {count:,} x `{_cell(text)}`")
        return lines


def _cell(text: str) -> str:
    """Text for a Markdown table cell or code span: no pipes, no backticks, one line."""
    return " ".join(text.replace("|", "/").replace("`", "'").split())[:200]


def _users(count: int) -> str:
    return f"{count} user" if count == 1 else f"{count} users"


def _endpoint_kind(operation: Operation) -> str:
    return {True: "def", False: "async def", None: "unknown"}[operation.sync]


def _rounded(value: float, digits: int) -> float | None:
    return None if math.isnan(value) else round(value, digits)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def request_for(operation: Operation) -> RouteRequest:
    """The request the audit repeats: as the pre-flight or the user fixed it, else with the
    schema's first values."""
    return RouteRequest(
        scenario=operation.label,
        method=operation.method,
        path=operation.concrete_path(),
        query=tuple(operation.query().items()),
        headers=operation.headers,
        body=operation.body,
    )


def default_operations(found: Sequence[Operation]) -> tuple[list[Operation], list[tuple[str, str]]]:
    """The audit's default choice: every GET that can be sent; and the rest, with why."""
    chosen: list[Operation] = []
    skipped: list[tuple[str, str]] = []
    for operation in found:
        missing = operation.missing()
        if operation.method != "GET":
            skipped.append((operation.label, "not a GET"))
        elif operation.has_body and operation.body is None:
            skipped.append((operation.label, "needs a request body (give --body)"))
        elif missing is not None:
            skipped.append(
                (
                    operation.label,
                    f"no value for the required {missing.location} parameter {missing.name!r}"
                    + (" (give --header)" if missing.location == "header" else ""),
                )
            )
        else:
            chosen.append(operation)
    return chosen, skipped


ProgressCallback = Callable[[str], None]


async def audit_routes(
    app: ProbedApp,
    name: str,
    chosen: Sequence[Operation],
    settings: AuditSettings | None = None,
    *,
    skipped: Sequence[tuple[str, str]] = (),
    progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
) -> AuditReport:
    """Serve `app` on the embedded server and audit each of `chosen`.

    stop: set, the audit ends at once (the level in progress is cut short, its requests
    turned away); the report keeps every level measured, the last route's too, and is
    `partial`: its verdict is a block if a measured level proves one, else unknown.
    ServerStartError when the app's start-up fails, outlasts `settings.startup_timeout_s`
    or is interrupted (`stop`).
    """
    settings = settings or AuditSettings()
    app.probes.set_thread_tokens(settings.threads)
    results: list[RouteAudit] = []
    stopped = False
    server = EmbeddedServer(app)
    await server.start(settings.startup_timeout_s, stop=stop)
    try:
        try:
            for operation in chosen:
                raised_before = Counter(app.exceptions)
                levels: list[LevelResult] = []
                sites: dict[tuple[str, str], BlockSite] = {}
                for users in settings.levels:
                    if progress is not None:
                        progress(f"{operation.label}: {users} users")
                    level, level_sites = await _measure_level(
                        app, server.url, operation, users, settings, stop
                    )
                    stopped = stop is not None and stop.is_set()
                    # A level the loop's holds cut short is evidence; one the interrupt
                    # cut before it measured anything is not.
                    if level.measured_s >= MIN_MEASURED_S or (level_sites and not level.partial):
                        levels.append(level)
                    for site in level_sites:
                        key = (site.site.file, site.site.function)
                        kept = sites.get(key)
                        if kept is None or site.total_s > kept.total_s:
                            sites[key] = site
                    if stopped or (level.requests == 0 and not level_sites):
                        break  # interrupted; or nothing answers: more users will not help
                raised = _raised_since(app, raised_before, operation.label)
                if levels or not stopped:
                    route = _judge(operation, levels, list(sites.values()), settings, raised)
                    if stopped and not route.blocks_loop:
                        route = RouteAudit(
                            operation, VERDICT_UNKNOWN, "", route.levels, route.blocks, raised
                        )
                    results.append(route)
                if stopped:
                    break
        finally:
            # Whatever ends the audit, requests still queued are turned away: the server's
            # shutdown then waits for one handler at most, not for every queued one.
            app.close_gate()
    finally:
        await server.stop()
    return AuditReport(name, settings, tuple(results), tuple(skipped), partial=stopped)


def _raised_since(app: ProbedApp, before: Counter[str], label: str) -> tuple[tuple[str, int], ...]:
    """The exceptions the app raised since `before` (only `label` was loaded meanwhile),
    most frequent first, without the route's label in front."""
    new = Counter(app.exceptions)
    new.subtract(before)
    return tuple(
        (what.removeprefix(f"{label}: "), count) for what, count in new.most_common(5) if count > 0
    )


class _Completions:
    """The recorder's sink, also noting finished requests' latencies for the stretch.

    Every request that ended before its timeout counts, failed ones too: a route that
    drops its connections (a streaming answer that raises) ends its requests as fast as
    it answers them, and a level waiting for successes would stretch to its limit.
    """

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self.latencies: list[float] = []
        self.answered = asyncio.Event()

    def __call__(self, record: RequestRecord) -> None:
        self._recorder.add(record)
        if record.error != ERROR_TIMEOUT:
            if len(self.latencies) < _MAX_LATENCIES:
                self.latencies.append(record.latency_s)
            self.answered.set()


class _WorkerCpu:
    """CPU seconds of anyio's worker threads since construction (NaN where one thread cannot
    read another's CPU clock: platform_support). Threads started later count from zero."""

    def __init__(self) -> None:
        self._start = self._clocks()

    @staticmethod
    def _clocks() -> dict[int, float] | None:
        if not other_threads_cpu_readable():
            return None
        clocks: dict[int, float] = {}
        for thread in threading.enumerate():
            if thread.name != _WORKER_THREAD_NAME or thread.ident is None:
                continue
            cpu = thread_cpu_s(thread.ident)
            if cpu is not None:  # None: the thread has just ended
                clocks[thread.ident] = cpu
        return clocks

    def seconds(self) -> float:
        now = self._clocks()
        if now is None or self._start is None:
            return math.nan
        return sum(cpu - self._start.get(ident, 0.0) for ident, cpu in now.items())


async def _wait_for_answer_or_stop(
    answered: asyncio.Event, stop: asyncio.Event | None, timeout_s: float
) -> None:
    """Wait until a request is answered, `stop` is set, or `timeout_s` has passed."""
    waiters = [asyncio.ensure_future(answered.wait())]
    if stop is not None:
        waiters.append(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(0.0, timeout_s), return_when="FIRST_COMPLETED")
    finally:
        for waiter in waiters:
            waiter.cancel()
        for waiter in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await waiter


async def _measure_level(
    app: ProbedApp,
    url: str,
    operation: Operation,
    users: int,
    settings: AuditSettings,
    stop: asyncio.Event | None,
) -> tuple[LevelResult, list[BlockSite]]:
    recorder = Recorder()
    seen = _Completions(recorder)
    watch = app.block_watch
    # A sender per level: closing the generator closes its sender. Its timeout outlasts
    # the longest level: a slow answer is measured, and the level's end cuts the rest.
    sender = HttpxSender(url, timeout_s=settings.max_level_s + 5.0)
    generator = LoadGenerator(sender, seen, request_for(operation))
    watch.reset()
    cpu = _WorkerCpu()
    t0 = time.perf_counter()
    end = t0 + settings.duration_s
    app.admit_until(end)
    generator.start(users)
    measured_from: float | None = None
    try:
        # These waits are the measurement's own duration, not synchronisation.
        stopped = await _wait_unless_stopped(stop, settings.warmup_s)
        if stopped:
            app.close_gate()  # before anything awaits: the queued requests go unrun
        measured_from = time.perf_counter()
        recorder.begin_measurement(measured_from)
        # The planned end, set in advance: the recorder judges each record as it arrives,
        # and a held loop delivers the late ones before our own timer ends the level.
        recorder.end_measurement(max(end, measured_from))
        await watch.caught_up()
        while not stopped:
            now = time.perf_counter()
            # A held loop is its own evidence: a level that holds it is not stretched (each
            # queued request would hold it once more); the gate turns the rest away.
            if watch.held_s() < HELD_SHARE * (now - t0):
                estimate = statistics.median(seen.latencies) if seen.latencies else now - t0
                wanted = max(settings.duration_s, STRETCH * estimate + STRETCH_SLACK_S)
                planned = t0 + min(settings.max_level_s, wanted)
                if planned > end:
                    end = planned
                    app.admit_until(end)
                    recorder.end_measurement(end)
            if now >= end:
                break
            seen.answered.clear()
            await _wait_for_answer_or_stop(seen.answered, stop, end - now)
            stopped = stop is not None and stop.is_set()
        if stopped:
            app.close_gate()
            end = min(time.perf_counter(), end)
        # Answers after `end` are the gate's 503s or stragglers: not the measurement's.
        measured_until = max(end, measured_from)
        recorder.end_measurement(measured_until)
        app.close_gate()
    finally:
        await generator.aclose(grace_s=0)
        await app.settled(SETTLE_S)
        await watch.caught_up()
    wall = time.perf_counter() - t0
    # Everything the watch saw in this level is this route's: only it is loaded.
    sites = watch.sites()
    summary = recorder.summary(operation.label)
    # Requests still in flight at the level's end are cut by design: not the route's errors.
    errors = dict(summary.errors)
    level = LevelResult(
        users=users,
        requests=summary.requests,
        errors=errors,
        throughput_rps=summary.throughput_rps,
        latency_p50_ms=summary.latency.p50,
        latency_p99_ms=summary.latency.p99,
        loop_held_share=min(1.0, watch.held_s() / wall) if wall > 0 else 0.0,
        route_cpu_share=cpu.seconds() / wall if wall > 0 else math.nan,
        measured_s=measured_until - measured_from if measured_from is not None else 0.0,
        wall_s=wall,
        partial=stopped,
    )
    return level, sites


def _judge(
    operation: Operation,
    levels: list[LevelResult],
    sites: list[BlockSite],
    settings: AuditSettings,
    raised: tuple[tuple[str, int], ...] = (),
) -> RouteAudit:
    """The verdict, from the strongest evidence down: a held loop, then answers."""
    sites.sort(key=lambda site: site.total_s, reverse=True)
    top = tuple(sites[:3])
    held = max((level.loop_held_share for level in levels), default=0.0)
    if held >= HELD_SHARE and top:
        worst = top[0]
        verdict = VERDICT_CPU if computing(top) else VERDICT_BLOCKS
        where = f"at {worst.site.where}, in {worst.site.function}()"
        detail = f"holds the loop {held:.0%} of the time {where}"
        return RouteAudit(operation, verdict, detail, tuple(levels), top, raised)
    requests = sum(level.requests for level in levels)
    answered = sum(level.answered for level in levels)
    failed = sum(
        count for level in levels for kind, count in level.errors.items() if kind != ERROR_ABANDONED
    )
    if answered == 0 and failed == 0:
        longest = max((level.wall_s for level in levels), default=0.0)
        detail = f"no request answered in {longest:.0f} s"
        return RouteAudit(operation, VERDICT_NO_ANSWER, detail, tuple(levels), (), raised)
    if requests and failed / requests > FAILING_SHARE:
        kinds = sorted({kind for level in levels for kind in level.errors})
        detail = f"{failed} of {requests} requests failed: {', '.join(kinds)}"
        if raised:
            detail += f"; raised {raised[0][0]}"
        return RouteAudit(operation, VERDICT_FAILS, detail, tuple(levels), (), raised)
    if operation.sync:
        shares = [lvl.route_cpu_share for lvl in levels if not math.isnan(lvl.route_cpu_share)]
        # Computing most of the time, and never past one core: the GIL runs its threads
        # one at a time (a route whose C code releases the GIL would use more cores).
        if shares and max(shares) >= DEF_CPU_BUSY and shares[-1] < ONE_CORE:
            detail = (
                f"its threads used {max(shares):.0%} of a core, never more than one: "
                "they share the GIL"
            )
            return RouteAudit(operation, VERDICT_CPU, detail, tuple(levels), (), raised)
        return RouteAudit(
            operation,
            VERDICT_THREAD_POOL,
            f"capacity {settings.threads}",
            tuple(levels),
            (),
            raised,
        )
    return RouteAudit(operation, VERDICT_ASYNC, "", tuple(levels), (), raised)
