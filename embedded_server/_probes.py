"""Server-side probes: in-flight requests, thread-pool tokens and event-loop lag."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import anyio.to_thread
from anyio import CapacityLimiter

from ._blockwatch import BlockWatch
from ._phases import PhaseTable
from ._settings import MAX_THREADS, SCENARIOS
from ._tasks import cancel_and_wait


@dataclass(frozen=True, slots=True)
class ThreadPoolStats:
    total: int
    borrowed: int
    waiting: int


@dataclass(frozen=True, slots=True)
class LoopLagStats:
    """Lateness of a periodic timer on the loop, in milliseconds."""

    last_ms: float
    max_1s_ms: float
    p99_10s_ms: float
    max_10s_ms: float


@dataclass(frozen=True, slots=True)
class ProbeSnapshot:
    in_flight: dict[str, int]
    threadpool: ThreadPoolStats
    loop_lag: LoopLagStats

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class LoopLagMonitor:
    """Measures how late a periodic timer fires on the running loop.

    A blocked loop (the `blocking` scenario) shows up as one late tick as long as the block.
    """

    # 60 s of ticks at 10 ms: a minute of lag chart, bounded memory.
    _HISTORY = 6000

    def __init__(self, interval_s: float = 0.010) -> None:
        self._interval_s = interval_s
        self._samples: deque[tuple[float, float]] = deque(maxlen=self._HISTORY)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="loopscope-loop-lag"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self._interval_s)
            after = time.perf_counter()
            self._samples.append((after, max(0.0, after - before - self._interval_s)))

    def lags_since(self, since: float) -> list[float]:
        """Lags in seconds of the ticks after `since` (a perf_counter time)."""
        return [lag for at, lag in self._samples if at >= since]

    def max_since(self, since: float) -> float:
        """Largest lag in seconds among ticks after `since` (a perf_counter time)."""
        worst = 0.0
        for at, lag in reversed(self._samples):
            if at < since:
                break
            worst = max(worst, lag)
        return worst

    def stats(self) -> LoopLagStats:
        if not self._samples:
            return LoopLagStats(0.0, 0.0, 0.0, 0.0)
        now = time.perf_counter()
        recent = [lag for at, lag in self._samples if now - at <= 10.0]
        last_second = [lag for at, lag in self._samples if now - at <= 1.0]
        ordered = sorted(recent)
        p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)] if ordered else 0.0
        return LoopLagStats(
            last_ms=self._samples[-1][1] * 1000,
            max_1s_ms=max(last_second, default=0.0) * 1000,
            p99_10s_ms=p99 * 1000,
            max_10s_ms=max(recent, default=0.0) * 1000,
        )


class ServerProbes:
    """What the server can tell about itself; read from Python or over `GET /stats`."""

    def __init__(
        self,
        *,
        threads: int,
        loop_lag_interval_s: float = 0.010,
        routes: Iterable[str] = SCENARIOS,
    ) -> None:
        # Keyed by scenario for the demo app, by route label ("GET /items") for a user's.
        self._in_flight: dict[str, int] = dict.fromkeys(routes, 0)
        #: A user's app (ProbedApp): what names the code that holds the loop.
        self.block_watch: BlockWatch | None = None
        self._wanted_threads = threads
        self._limiter: CapacityLimiter | None = None
        self.loop_lag = LoopLagMonitor(loop_lag_interval_s)
        #: Each request's phases (arrived, working, done), for the per-request timeline.
        self.phases = PhaseTable()

    async def attach(self) -> None:
        """Bind to the running loop: its thread limiter and a loop-lag timer."""
        # anyio keeps one default limiter per event loop; it only exists inside the loop.
        self._limiter = anyio.to_thread.current_default_thread_limiter()
        self._limiter.total_tokens = self._wanted_threads
        self.loop_lag.start()

    async def detach(self) -> None:
        await self.loop_lag.stop()

    def request_started(self, scenario: str) -> None:
        self._in_flight[scenario] = self._in_flight.get(scenario, 0) + 1

    def request_finished(self, scenario: str) -> None:
        self._in_flight[scenario] -= 1

    def in_flight(self) -> dict[str, int]:
        return dict(self._in_flight)

    def set_thread_tokens(self, tokens: int) -> None:
        """Resize the thread pool `def` routes run in; takes effect at once."""
        if not 1 <= tokens <= MAX_THREADS:
            raise ValueError(f"thread tokens must be between 1 and {MAX_THREADS}, got {tokens}")
        self._wanted_threads = tokens
        if self._limiter is not None:
            self._limiter.total_tokens = tokens

    def threadpool(self) -> ThreadPoolStats:
        if self._limiter is None:
            return ThreadPoolStats(total=self._wanted_threads, borrowed=0, waiting=0)
        stats = self._limiter.statistics()
        return ThreadPoolStats(
            total=int(self._limiter.total_tokens),
            borrowed=stats.borrowed_tokens,
            waiting=stats.tasks_waiting,
        )

    def thread_holders(self) -> tuple[object, ...]:
        """The tasks holding a thread token now (their `def` handler has its thread)."""
        if self._limiter is None:
            return ()
        return self._limiter.statistics().borrowers

    def snapshot(self) -> ProbeSnapshot:
        return ProbeSnapshot(
            in_flight=self.in_flight(), threadpool=self.threadpool(), loop_lag=self.loop_lag.stats()
        )
