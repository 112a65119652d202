"""Settings of the demo server, and every route parameter with its bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Query

#: The scenarios, one route each, in the order the app lists them.
SCENARIOS: tuple[str, ...] = (
    "async",
    "sync",
    "blocking",
    "cpu-async",
    "cpu-sync",
    "fanout-sequential",
    "fanout-gather",
)

#: Scenarios whose route takes a simulated I/O delay.
DELAY_SCENARIOS = frozenset({"async", "sync", "blocking", "fanout-sequential", "fanout-gather"})
#: Scenarios whose route takes an amount of CPU work.
CPU_SCENARIOS = frozenset({"cpu-async", "cpu-sync"})
#: Scenarios whose route calls downstream routes.
FANOUT_SCENARIOS = frozenset({"fanout-sequential", "fanout-gather"})

MAX_DELAY_MS = 10_000
# The blocking route stalls the whole event loop, the GUI's included, for each request:
# 2 s is long enough to see the freeze and short enough that Stop answers soon after.
MAX_BLOCKING_DELAY_MS = 2_000
# About 1 s of pure-Python work on this 2-core machine at the top of the range.
MAX_CPU_ITERATIONS = 20_000_000
DEFAULT_CPU_ITERATIONS = 200_000
MAX_FANOUT = 20
DEFAULT_FANOUT = 3
# FastAPI (through Starlette and anyio) runs `def` routes on a 40-token thread limiter.
DEFAULT_THREADS = 40
MAX_THREADS = 1000

# The routes' parameters, each with its bounds: FastAPI answers 422 outside them.
DelayMs = Annotated[
    float, Query(ge=0, le=MAX_DELAY_MS, description="simulated I/O wait in milliseconds")
]
BlockingDelayMs = Annotated[
    float,
    Query(ge=0, le=MAX_BLOCKING_DELAY_MS, description="time the event loop is blocked, in ms"),
]
Iterations = Annotated[
    int, Query(ge=1, le=MAX_CPU_ITERATIONS, description="loop iterations of pure-Python work")
]
Fanout = Annotated[int, Query(ge=1, le=MAX_FANOUT, description="downstream calls per request")]
ThreadTokens = Annotated[int, Query(ge=1, le=MAX_THREADS)]


@dataclass(frozen=True, kw_only=True, slots=True)
class ServerSettings:
    """How the demo server is set up.

    threads: tokens of anyio's default thread limiter, i.e. how many `def` routes run at
        once (FastAPI's default is 40); changeable later with `ServerProbes.set_thread_tokens`.
    loop_lag_interval_s: period of the timer whose lateness is reported as loop lag.
    """

    threads: int = DEFAULT_THREADS
    loop_lag_interval_s: float = 0.010

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= MAX_THREADS:
            raise ValueError(f"threads must be between 1 and {MAX_THREADS}, got {self.threads}")
        if not 0.001 <= self.loop_lag_interval_s <= 1.0:
            raise ValueError("loop_lag_interval_s must be between 0.001 and 1 s")
