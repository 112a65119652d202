"""Classroom presets: what runs, at which settings, and what to watch."""

from __future__ import annotations

from dataclasses import dataclass

from embedded_server import DEFAULT_CPU_ITERATIONS, DEFAULT_FANOUT, DEFAULT_THREADS


@dataclass(frozen=True, kw_only=True, slots=True)
class Preset:
    name: str
    scenarios: tuple[str, ...]
    users: int
    delay_ms: float
    threads: int = DEFAULT_THREADS
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT
    explanation: str


PRESETS: tuple[Preset, ...] = (
    Preset(
        name="Sync vs async",
        scenarios=("sync", "async"),
        # 100 users over a 1 s wait: async serves all 100 at once (100 req/s), sync only
        # 40 at a time (40 req/s). Light enough (140 req/s) that the loop the window shares
        # stays responsive; at 500 ms (280 req/s) its lag p99 was 61 ms, measured.
        users=100,
        delay_ms=1000,
        explanation=(
            "Both routes wait 1 s for simulated I/O. The async def route awaits it, so "
            "the event loop serves every user at once: throughput = users / delay. The def "
            "route runs in FastAPI's thread pool of 40: past 40 users the rest queue, so "
            "throughput stays at 40 / delay and latency grows. Drag the thread-pool slider."
        ),
    ),
    Preset(
        name="The blocking mistake",
        scenarios=("blocking", "async"),
        users=5,
        delay_ms=100,
        explanation=(
            "The blocking route is async def but calls time.sleep: it holds the event loop, "
            "so only one request runs at a time (10 req/s at 100 ms), and everything else on "
            "the loop stalls too: the async route, and this very window. Watch the loop-lag "
            "chart: the freezes are the lesson, not a bug. Users are capped at 20 here."
        ),
    ),
    Preset(
        name="Thread-pool exhaustion",
        scenarios=("sync", "async"),
        users=60,
        delay_ms=300,
        threads=10,
        explanation=(
            "A thread pool of 10: the def route serves 10 requests at a time (33 req/s at "
            "300 ms) and the other 50 users wait for a thread, shown as 'waiting'. Raise the "
            "thread-pool slider and watch sync catch up with async."
        ),
    ),
    Preset(
        name="CPU-bound work",
        scenarios=("cpu-sync", "cpu-async"),
        users=4,
        delay_ms=0,
        # ~3 ms of work a request: long enough to dominate the HTTP overhead, short
        # enough that the async route's stalls of the loop stay visible but bearable.
        iterations=50_000,
        explanation=(
            "Pure-Python work holds the GIL, so neither threads nor async def help: both "
            "routes together get one core, shared by their users (the dashed theory). "
            "async def is worse for everyone else: it blocks the loop while it computes, "
            "and the lag chart shows it; def at least lets the loop run between GIL switches."
        ),
    ),
    Preset(
        name="Fan-out: sequential vs gather",
        scenarios=("fanout-sequential", "fanout-gather"),
        users=10,
        delay_ms=200,
        explanation=(
            "Each request calls 3 downstream routes of 200 ms. Awaiting them one after another "
            "takes 3 × 200 ms; asyncio.gather runs them at once: about 200 ms, and three "
            "times the throughput for the same users."
        ),
    ),
)


def preset_named(name: str) -> Preset:
    for preset in PRESETS:
        if preset.name.lower() == name.lower():
            return preset
    known = ", ".join(f'"{p.name}"' for p in PRESETS)
    raise ValueError(f"unknown preset {name!r}; choose one of {known}")
