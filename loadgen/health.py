"""Generator health: is the load generator (or the loop it shares) what limits a result?

LoopScope's client and, in most uses, the server run in one Python process on one event
loop. With the GIL that process gets at most one core, so past some load the numbers
measure the client, not the server. `HealthMonitor` watches three signs while load runs:

- CPU: the process's CPU time over wall time; near 100 % of one core it has nothing left.
  On a machine shared with other work (a fast server on the other core, anything else)
  the process may get less than a core while it still wants all of one: where the system
  says how long its threads waited, runnable, for a CPU (Linux: schedstat), that wait
  counts too, so a client starved of a CPU is not called healthy.
- loop lag: how late a 10 ms timer fires on the shared loop (p99).
- send slip: how late open-loop requests started against their schedule.

`verdict()` turns them into a plain-language warning, or none. In the window the verdict
follows a window that slides (`slide()`: the last few seconds, judged every second), and
`VerdictHold` keeps a warning until the signs have been healthy for a while, so a banner
neither flickers at the limit nor outlives a passing stall by more than a few seconds.

The window stalls the same loop itself when it restyles and repaints (the theme switch,
F11): measured offscreen, 270-520 ms in the call and a 550-930 ms late tick, with more
ticks 50-240 ms late in the second after. Those stalls are the window's, not the
generator's: the window wraps them in `ui_busy()`, and the lag and CPU of that span (and
of a settling time after it, for the repaints it queued) are left out of the verdict.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from loopscope.embedded_server import CPU_SCENARIOS, LoopLagMonitor
from loopscope.embedded_server.platform_support import ThreadTimes, thread_cpu_times

from ._cpu_cost import runnable_share

# One core is all a Python process gets for Python code (the GIL): past ~85 % of it the
# client starts queueing its own work.
CPU_LIMIT = 0.85
# 50 ms of loop lag at p99 is where a GUI feels sluggish and where request timings start
# to include the client's own waiting.
LOOP_LAG_LIMIT_MS = 50.0
# More than 1 % of open-loop requests started late means the schedule was not kept.
LATE_START_LIMIT = 0.01
# Scenarios that block the loop on purpose: their lag is the lesson, not a client fault.
LOOP_BLOCKING_SCENARIOS = frozenset({"blocking", "cpu-async"})
# A UI-busy span lasts this long after the window's call returns: the repaints it queued
# run after it (offscreen, ticks stayed 50-240 ms late for up to a second), and the
# timer that ends the span is itself late by any stall still going on.
UI_SETTLE_S = 1.5
# A tick the window's stall made late may end just after the span: left out with it.
_TICK_SLACK_S = 0.05
# The window's once-a-second repaint of its figures stalls the loop 30-65 ms (measured
# offscreen at 10 users): one such tick a second is 1 % of the 10 ms ticks, exactly what a
# p99 reads, so the window wraps it too; its paint events run within this much after.
UI_PAINT_SETTLE_S = 0.2
# A warning is taken back only after this many healthy verdicts in a row (`VerdictHold`):
# one healthy verdict at the edge of a limit does not make the banner flicker, and a stall
# long over is forgotten within the judged window and this many verdicts more.
CLEAR_AFTER = 2
# Below this much wall time outside UI-busy spans, the CPU share is not judged: a share
# of a few ticks says nothing.
MIN_JUDGED_S = 0.5


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    cpu_fraction: float
    loop_lag_p99_ms: float
    late_start_fraction: float
    warnings: tuple[str, ...] = field(default_factory=tuple)
    # Of one core, what the process wanted: its CPU time plus its threads' wait for a CPU
    # (equal to cpu_fraction where the system does not say how long they waited).
    cpu_demand: float | None = None
    # Who held the loop when its lag is past the limit and that is not the generator's
    # doing (a route that blocks the loop): never report "healthy" beside it.
    lag_cause: str | None = None
    # The machine has fewer cores than the server's worker processes and this process
    # need (`short_of_cores`): the figures measure the machine, not the generator.
    machine_note: str | None = None

    @property
    def generator_limited(self) -> bool:
        return bool(self.warnings)

    def to_json(self) -> dict[str, object]:
        return {
            "generator_limited": self.generator_limited,
            "cpu_percent_of_one_core": round(self.cpu_fraction * 100, 1),
            "cpu_demand_percent_of_one_core": (
                None if self.cpu_demand is None else round(self.cpu_demand * 100, 1)
            ),
            "loop_lag_p99_ms": round(self.loop_lag_p99_ms, 1),
            "late_start_percent": round(self.late_start_fraction * 100, 2),
            "warnings": list(self.warnings),
            "loop_lag_cause": self.lag_cause,
        }


def judge(
    *,
    cpu_fraction: float,
    loop_lag_p99_ms: float,
    late_start_fraction: float = 0.0,
    scenarios: tuple[str, ...] = (),
    cpu_demand: float | None = None,
) -> HealthVerdict:
    """The verdict for measured signs (pure: testable with any numbers).

    cpu_demand: of one core, the process's CPU time plus its threads' wait for a CPU
    (None: not known, judged by cpu_fraction alone).
    """
    warnings: list[str] = []
    # CPU-bound routes saturate the core by design: there the server is the limit.
    cpu_by_design = any(s in CPU_SCENARIOS for s in scenarios)
    if cpu_fraction >= CPU_LIMIT and not cpu_by_design:
        warnings.append(
            f"the LoopScope process used {cpu_fraction:.0%} of a core: with the GIL that is "
            "all it gets, so the load generator may be what limits these numbers"
        )
    elif cpu_demand is not None and cpu_demand >= CPU_LIMIT and not cpu_by_design:
        warnings.append(
            f"the LoopScope process wanted {cpu_demand:.0%} of a core and got "
            f"{cpu_fraction:.0%}: it waited for a CPU the rest of the time (the machine "
            "is busy), so the load generator may be what limits these numbers"
        )
    blocks_by_design = any(s in LOOP_BLOCKING_SCENARIOS for s in scenarios)
    lag_cause: str | None = None
    if loop_lag_p99_ms >= LOOP_LAG_LIMIT_MS and blocks_by_design:
        lag_cause = "the route holding the loop"
    elif loop_lag_p99_ms >= LOOP_LAG_LIMIT_MS:
        warnings.append(
            f"the shared event loop ran {loop_lag_p99_ms:.0f} ms late at p99: request "
            "timings include the client's own waiting"
        )
    if late_start_fraction >= LATE_START_LIMIT:
        warnings.append(
            f"{late_start_fraction:.1%} of requests started late against their schedule: "
            "the generator could not keep the rate"
        )
    return HealthVerdict(
        cpu_fraction,
        loop_lag_p99_ms,
        late_start_fraction,
        tuple(warnings),
        lag_cause=lag_cause,
        cpu_demand=cpu_demand,
    )


def short_of_cores(
    workers: int, scenarios: tuple[str, ...], cores: int | None = None
) -> str | None:
    """Why CPU-bound routes in `workers` server processes fall below their theory here,
    when the machine has fewer cores (default: os.cpu_count()) than the workers and this
    process (the window and its generator) need; None when it has enough. The theory counts
    min(workers, cores) cores for the workers alone."""
    cores = cores if cores is not None else os.cpu_count() or 1
    if not any(s in CPU_SCENARIOS for s in scenarios) or workers + 1 <= cores:
        return None
    return (
        f"this machine has {cores} core{'s' if cores > 1 else ''} for {workers} worker "
        f"process{'es' if workers > 1 else ''} and this window with its load generator, so "
        f"the workers get less than the {min(workers, cores)} core"
        f"{'s' if min(workers, cores) > 1 else ''} theory counts for them, and CPU-bound "
        "figures fall below it (more so while other programs run)"
    )


class VerdictHold:
    """The verdict to show: a warning at once, and its end only after CLEAR_AFTER healthy
    verdicts in a row (hysteresis in time, so it is bounded: never a latch)."""

    def __init__(self, clear_after: int = CLEAR_AFTER) -> None:
        self._clear_after = clear_after
        self._healthy_in_a_row = 0
        self.shown: HealthVerdict | None = None

    def update(self, verdict: HealthVerdict | None) -> HealthVerdict | None:
        """Take the latest verdict (None: no load) and return the one to show."""
        held = self.shown
        if (
            verdict is None
            or verdict.generator_limited
            or held is None
            or not held.generator_limited
        ):
            self._healthy_in_a_row = 0
            self.shown = verdict
            return verdict
        self._healthy_in_a_row += 1
        if self._healthy_in_a_row >= self._clear_after:
            self._healthy_in_a_row = 0
            self.shown = verdict
        return self.shown


@dataclass(frozen=True, slots=True)
class _Mark:
    """The clocks at the start of a judged window: wall, process CPU, threads' CPU and wait."""

    wall: float
    cpu: float
    threads: ThreadTimes | None

    @classmethod
    def now(cls) -> _Mark:
        return cls(time.perf_counter(), time.process_time(), thread_cpu_times())


@dataclass(slots=True)
class _UiSpan:
    """Wall and CPU clocks when the window began stalling the loop, and when it was done."""

    wall0: float
    cpu0: float
    wall1: float | None = None
    cpu1: float | None = None


class HealthMonitor:
    """Samples the process's CPU time and the loop's lag between `start()` and `verdict()`.

    Pass the lag monitor of an embedded server on the same loop to reuse its timer;
    otherwise the monitor runs its own (call `start()` on the loop, `stop()` after).
    Time inside `ui_busy()` spans is left out of both signs.
    """

    def __init__(self, loop_lag: LoopLagMonitor | None = None) -> None:
        self._own_lag = loop_lag is None
        self._lag = loop_lag if loop_lag is not None else LoopLagMonitor()
        self._wall0 = 0.0
        self._cpu0 = 0.0
        self._threads0: ThreadTimes | None = None
        # Where a sliding window may start (`slide()`), oldest first.
        self._marks: deque[_Mark] = deque()
        self._spans: list[_UiSpan] = []
        # Calls inside ui_busy() whose settling time has not run out; the open span ends
        # when the last one's does, so spans never overlap.
        self._busy = 0
        self._settle_timers: set[asyncio.TimerHandle] = set()

    @contextlib.contextmanager
    def ui_busy(self, settle_s: float = UI_SETTLE_S) -> Iterator[None]:
        """Wrap a heavy repaint the window causes itself (a restyle, full screen): the
        loop lag and CPU from entering until `settle_s` after leaving are not the
        generator's, and the verdict leaves them out."""
        if self._busy == 0:
            self._spans.append(_UiSpan(time.perf_counter(), time.process_time()))
        self._busy += 1
        try:
            yield
        finally:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a plain call): nothing queued to wait for
                self._settled(None)
            else:
                timer: asyncio.TimerHandle | None = None

                def settled() -> None:
                    self._settled(timer)

                timer = loop.call_later(settle_s, settled)
                self._settle_timers.add(timer)

    def _settled(self, timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            self._settle_timers.discard(timer)
        self._busy -= 1
        if self._busy == 0 and self._spans:
            self._spans[-1].wall1 = time.perf_counter()
            self._spans[-1].cpu1 = time.process_time()

    @property
    def ui_busy_now(self) -> bool:
        return self._busy > 0

    def start(self) -> None:
        if self._own_lag:
            self._lag.start()
        self.restart()

    def restart(self) -> None:
        """Measure from now on (e.g. after the warm-up)."""
        self._marks.clear()
        self._marks.append(_Mark.now())
        self._measure_from(self._marks[0])

    def slide(self, keep_s: float) -> None:
        """After a verdict: the next one covers the last `keep_s` seconds before now (at
        least) and what follows, not the whole time since `restart()`, so a stall long
        over no longer counts."""
        mark = _Mark.now()
        self._marks.append(mark)
        while len(self._marks) > 1 and self._marks[1].wall <= mark.wall - keep_s:
            self._marks.popleft()
        self._measure_from(self._marks[0])

    def _measure_from(self, mark: _Mark) -> None:
        self._wall0, self._cpu0, self._threads0 = mark.wall, mark.cpu, mark.threads
        # Spans over before then no longer matter; an open one still does.
        self._spans = [s for s in self._spans if s.wall1 is None or s.wall1 > self._wall0]

    async def stop(self) -> None:
        for timer in self._settle_timers:
            timer.cancel()
        self._settle_timers.clear()
        if self._own_lag:
            await self._lag.stop()

    def _ui_spans(self, now_wall: float, now_cpu: float) -> list[tuple[float, float, float]]:
        """(wall start, wall end, CPU seconds) of each UI-busy span since `restart()`,
        clipped to it; an open span ends now."""
        clipped: list[tuple[float, float, float]] = []
        for span in self._spans:
            wall0, cpu0 = (
                (span.wall0, span.cpu0) if span.wall0 >= self._wall0 else (self._wall0, self._cpu0)
            )
            wall1 = now_wall if span.wall1 is None else span.wall1
            cpu1 = now_cpu if span.cpu1 is None else span.cpu1
            if wall1 > wall0:
                clipped.append((wall0, wall1, cpu1 - cpu0))
        return clipped

    def cpu_fraction(self) -> float:
        """CPU time over wall time since `restart()`, both outside UI-busy spans."""
        now_wall, now_cpu = time.perf_counter(), time.process_time()
        wall = now_wall - self._wall0
        cpu = now_cpu - self._cpu0
        for wall0, wall1, span_cpu in self._ui_spans(now_wall, now_cpu):
            wall -= wall1 - wall0
            cpu -= span_cpu
        return max(0.0, cpu) / wall if wall >= MIN_JUDGED_S else 0.0

    def cpu_demand(self, cpu_fraction: float) -> float | None:
        """Of one core, what the process wanted since `restart()`: `cpu_fraction` over the
        share of the time its computing got a CPU; None where the system does not say."""
        if self._threads0 is None:
            return None
        share = runnable_share(self._threads0, thread_cpu_times())
        return cpu_fraction / share if share > 0 else None

    def loop_lag_p99_ms(self) -> float:
        """p99 of the lag ticks since `restart()`, those ending inside a UI-busy span
        counted as on time: the window's lag is not the generator's, and the p99 stays
        one of every 100 ticks (dropping them would let a single tick become the p99)."""
        ticks = self._lag.lags_since(self._wall0)
        # Ticks are in time order: the ones ending in [start, end) are a slice of them.
        left_out: set[int] = set()
        for wall0, wall1, _ in self._ui_spans(time.perf_counter(), time.process_time()):
            first = len(ticks) - len(self._lag.lags_since(wall0))
            after = len(ticks) - len(self._lag.lags_since(wall1 + _TICK_SLACK_S))
            left_out.update(range(first, after))
        lags = sorted(0.0 if i in left_out else lag for i, lag in enumerate(ticks))
        if not lags:
            return 0.0
        return lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)] * 1000

    def verdict(
        self, *, scenarios: tuple[str, ...] = (), late_starts: int = 0, started: int = 0
    ) -> HealthVerdict:
        late = late_starts / started if started else 0.0
        cpu_fraction = self.cpu_fraction()
        return judge(
            cpu_fraction=cpu_fraction,
            cpu_demand=self.cpu_demand(cpu_fraction),
            loop_lag_p99_ms=self.loop_lag_p99_ms(),
            late_start_fraction=late,
            scenarios=scenarios,
        )
