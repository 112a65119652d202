"""`audit`: load each route of a user's app at a few levels and say what kind of route it is.

For every operation chosen (by default each GET that can be sent as it is), a short closed-loop
run at each load level on the embedded server, with the `BlockWatch` on, then a verdict:

- *async, non-blocking*: an `async def` route that never held the loop;
- *thread pool (def)*: a `def` route, run by anyio's thread pool (capacity: its tokens);
- *blocks the event loop*: the loop was held in the user's code, waiting (a blocking call
  in `async def`): names the file and line;
- *CPU-bound*: the loop (an `async def` route) or the process (a `def` route) was busy
  computing; for an `async def` route it also blocks the loop;
- *fails*: most requests were answered with an error.

A route that holds the loop for at least `HELD_SHARE` of a run blocks it: a single slow
start-up is not a verdict. Qt-free: the command line drives it (`loopscope audit`).
"""

from __future__ import annotations

import asyncio
import math
import time
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

from ._generator import LoadGenerator
from ._recorder import Recorder
from ._records import RouteRequest
from ._runner import HELD_SHARE, _wait_unless_stopped
from ._sender import HttpxSender

VERDICT_ASYNC = "async, non-blocking"
VERDICT_THREAD_POOL = "thread pool (def)"
VERDICT_BLOCKS = "blocks the event loop"
VERDICT_CPU = "CPU-bound"
VERDICT_FAILS = "fails"

# A `def` route whose process used this much of one core without gaining throughput from
# more users is CPU-bound (the GIL serialises its threads).
DEF_CPU_BUSY = 0.8
DEF_SCALING = 1.5
# Error share above which a route's verdict is that it fails.
FAILING_SHARE = 0.5
# How long a level's requests still in flight may finish before the next level starts.
DRAIN_S = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditSettings:
    levels: tuple[int, ...] = (1, 8, 32)
    duration_s: float = 2.0
    warmup_s: float = 0.5
    threads: int = DEFAULT_THREADS

    def __post_init__(self) -> None:
        if not self.levels or any(level < 1 for level in self.levels):
            raise ValueError("audit levels are numbers of users, at least 1")
        if self.duration_s <= self.warmup_s:
            raise ValueError("the audit's duration must be longer than its warm-up")


@dataclass(frozen=True, slots=True)
class LevelResult:
    users: int
    requests: int
    errors: dict[str, int]
    throughput_rps: float
    latency_p50_ms: float
    latency_p99_ms: float
    loop_held_share: float  # of the measured time, the loop held in the user's code
    process_cpu_share: float  # of one core, this whole process (server and client)

    def to_json(self) -> dict[str, object]:
        return {
            "users": self.users,
            "requests": self.requests,
            "errors": self.errors,
            "throughput_rps": _rounded(self.throughput_rps, 2),
            "latency_p50_ms": _rounded(self.latency_p50_ms, 2),
            "latency_p99_ms": _rounded(self.latency_p99_ms, 2),
            "loop_held_share": round(self.loop_held_share, 3),
            "process_cpu_share": round(self.process_cpu_share, 3),
        }


@dataclass(frozen=True, slots=True)
class RouteAudit:
    operation: Operation
    verdict: str
    detail: str  # "capacity 40", "at shop/inventory.py:9 (time.sleep(0.1))", ...
    levels: tuple[LevelResult, ...]
    blocks: tuple[BlockSite, ...] = ()

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
            "blocking_sites": [site.to_json() for site in self.blocks],
        }


@dataclass(frozen=True, slots=True)
class AuditReport:
    app: str
    settings: AuditSettings
    routes: tuple[RouteAudit, ...]
    skipped: tuple[tuple[str, str], ...] = field(default=())  # (route, why)
    # Stopped early (Ctrl+C): the routes audited so far, the rest not loaded.
    partial: bool = False

    @property
    def blocks_loop(self) -> bool:
        return any(route.blocks_loop for route in self.routes)

    def to_json(self) -> dict[str, object]:
        return {
            "app": self.app,
            "levels": list(self.settings.levels),
            "duration_s": self.settings.duration_s,
            "threads": self.settings.threads,
            "blocks_loop": self.blocks_loop,
            "partial": self.partial,
            "routes": [route.to_json() for route in self.routes],
            "skipped": [{"route": route, "why": why} for route, why in self.skipped],
        }

    def to_markdown(self) -> str:
        lines = [
            f"# LoopScope audit of `{self.app}`",
            "",
            f"Closed loop at {', '.join(str(u) for u in self.settings.levels)} users, "
            f"{self.settings.duration_s:g} s each, {self.settings.threads} threads.",
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
                for level in route.levels
            ]
            lines.append(
                f"| `{route.operation.label}` | {_endpoint_kind(route.operation)} | {verdict} | "
                + " | ".join(cells)
                + " |"
            )
        blocking = [(route, site) for route in self.routes for site in route.blocks]
        if blocking:
            lines += [
                "",
                "## What held the event loop",
                "",
                "| route | where | call | times | longest ms | computing |",
                "|---|---|---|---|---|---|",
            ]
            for route, site in blocking:
                lines.append(
                    f"| `{route.operation.label}` | `{site.site.where}` ({site.site.function}) "
                    f"| `{site.site.code}` | {site.stalls} | {site.max_s * 1000:.0f} "
                    f"| {site.cpu_share:.0%} |"
                )
        if self.partial:
            lines += ["", "**Partial**: the audit was interrupted; the routes above are complete."]
        if self.skipped:
            lines += ["", "Not loaded: " + "; ".join(f"`{r}` ({why})" for r, why in self.skipped)]
        lines += [
            "",
            "Verdict: "
            + (
                "**a route blocks the event loop**: every other request waits while it runs."
                if self.blocks_loop
                else "no route blocks the event loop."
            ),
        ]
        return "\n".join(lines) + "\n"


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

    stop: set, the audit ends after the level in progress; the report keeps the routes
    audited at every level and is `partial`.
    """
    settings = settings or AuditSettings()
    app.probes.set_thread_tokens(settings.threads)
    results: list[RouteAudit] = []
    stopped = False
    async with EmbeddedServer(app) as server:
        for operation in chosen:
            levels: list[LevelResult] = []
            sites: dict[tuple[str, str], BlockSite] = {}
            for users in settings.levels:
                if progress is not None:
                    progress(f"{operation.label}: {users} users")
                level, level_sites = await _measure_level(
                    app, server.url, operation, users, settings, stop
                )
                if stop is not None and stop.is_set():
                    stopped = True
                    break
                levels.append(level)
                for site in level_sites:
                    key = (site.site.file, site.site.function)
                    kept = sites.get(key)
                    if kept is None or site.total_s > kept.total_s:
                        sites[key] = site
            if stopped:
                break
            results.append(_judge(operation, levels, list(sites.values()), settings))
    return AuditReport(name, settings, tuple(results), tuple(skipped), partial=stopped)


async def _measure_level(
    app: ProbedApp,
    url: str,
    operation: Operation,
    users: int,
    settings: AuditSettings,
    stop: asyncio.Event | None,
) -> tuple[LevelResult, list[BlockSite]]:
    recorder = Recorder()
    # A sender per level: closing the generator closes its sender.
    sender = HttpxSender(url, timeout_s=30.0)
    generator = LoadGenerator(sender, recorder.add, request_for(operation))
    generator.start(users)
    try:
        # These waits are the measurement's own duration, not synchronisation.
        await _wait_unless_stopped(stop, settings.warmup_s)
        recorder.begin_measurement()
        app.block_watch.reset()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await _wait_unless_stopped(stop, settings.duration_s - settings.warmup_s)
        recorder.end_measurement()
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        # Everything the watch saw in this run is this route's: only it is loaded.
        sites = app.block_watch.sites()
    finally:
        await generator.aclose(grace_s=0.5 if stop is not None and stop.is_set() else DRAIN_S)
    summary = recorder.summary(operation.label)
    held = sum(site.total_s for site in sites) / wall if wall > 0 else 0.0
    level = LevelResult(
        users=users,
        requests=summary.requests,
        errors=dict(summary.errors),
        throughput_rps=summary.throughput_rps,
        latency_p50_ms=summary.latency.p50,
        latency_p99_ms=summary.latency.p99,
        loop_held_share=min(1.0, held),
        process_cpu_share=cpu / wall if wall > 0 else 0.0,
    )
    return level, sites


def _judge(
    operation: Operation,
    levels: list[LevelResult],
    sites: list[BlockSite],
    settings: AuditSettings,
) -> RouteAudit:
    requests = sum(level.requests for level in levels)
    errors = sum(sum(level.errors.values()) for level in levels)
    if requests == 0 or errors / requests > FAILING_SHARE:
        kinds = sorted({kind for level in levels for kind in level.errors})
        detail = f"{errors} of {requests} requests failed: {', '.join(kinds) or 'no answer'}"
        return RouteAudit(operation, VERDICT_FAILS, detail, tuple(levels))
    sites.sort(key=lambda site: site.total_s, reverse=True)
    top = tuple(sites[:3])
    if max(level.loop_held_share for level in levels) >= HELD_SHARE and top:
        worst = top[0]
        where = f"at {worst.site.where}, in {worst.site.function}()"
        verdict = VERDICT_CPU if computing(top) else VERDICT_BLOCKS
        return RouteAudit(operation, verdict, f"holds the loop {where}", tuple(levels), top)
    if operation.sync:
        first, last = levels[0], levels[-1]
        scaling = last.throughput_rps / first.throughput_rps if first.throughput_rps else 0.0
        if last.process_cpu_share >= DEF_CPU_BUSY and scaling < DEF_SCALING:
            detail = (
                f"a core busy at {last.users} users, {scaling:.1f}x the throughput of "
                f"{first.users}: its threads share the GIL"
            )
            return RouteAudit(operation, VERDICT_CPU, detail, tuple(levels))
        return RouteAudit(
            operation, VERDICT_THREAD_POOL, f"capacity {settings.threads}", tuple(levels)
        )
    return RouteAudit(operation, VERDICT_ASYNC, "", tuple(levels))
