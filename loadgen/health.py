"""Generator health: is the load generator (or the loop it shares) what limits a result?

LoopScope's client and, in most uses, the server run in one Python process on one event
loop. With the GIL that process gets at most one core, so past some load the numbers
measure the client, not the server. `HealthMonitor` watches three signs while load runs:

- CPU: the process's CPU time over wall time; near 100 % of one core it has nothing left.
- loop lag: how late a 10 ms timer fires on the shared loop (p99).
- send slip: how late open-loop requests started against their schedule.

`verdict()` turns them into a plain-language warning, or none.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from loopscope.embedded_server import CPU_SCENARIOS, LoopLagMonitor

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


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    cpu_fraction: float
    loop_lag_p99_ms: float
    late_start_fraction: float
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def generator_limited(self) -> bool:
        return bool(self.warnings)

    def to_json(self) -> dict[str, object]:
        return {
            "generator_limited": self.generator_limited,
            "cpu_percent_of_one_core": round(self.cpu_fraction * 100, 1),
            "loop_lag_p99_ms": round(self.loop_lag_p99_ms, 1),
            "late_start_percent": round(self.late_start_fraction * 100, 2),
            "warnings": list(self.warnings),
        }


def judge(
    *,
    cpu_fraction: float,
    loop_lag_p99_ms: float,
    late_start_fraction: float = 0.0,
    scenarios: tuple[str, ...] = (),
) -> HealthVerdict:
    """The verdict for measured signs (pure: testable with any numbers)."""
    warnings: list[str] = []
    # CPU-bound routes saturate the core by design: there the server is the limit.
    cpu_by_design = any(s in CPU_SCENARIOS for s in scenarios)
    if cpu_fraction >= CPU_LIMIT and not cpu_by_design:
        warnings.append(
            f"the LoopScope process used {cpu_fraction:.0%} of a core: with the GIL that is "
            "all it gets, so the load generator may be what limits these numbers"
        )
    blocks_by_design = any(s in LOOP_BLOCKING_SCENARIOS for s in scenarios)
    if loop_lag_p99_ms >= LOOP_LAG_LIMIT_MS and not blocks_by_design:
        warnings.append(
            f"the shared event loop ran {loop_lag_p99_ms:.0f} ms late at p99: request "
            "timings include the client's own waiting"
        )
    if late_start_fraction >= LATE_START_LIMIT:
        warnings.append(
            f"{late_start_fraction:.1%} of requests started late against their schedule: "
            "the generator could not keep the rate"
        )
    return HealthVerdict(cpu_fraction, loop_lag_p99_ms, late_start_fraction, tuple(warnings))


class HealthMonitor:
    """Samples the process's CPU time and the loop's lag between `start()` and `verdict()`.

    Pass the lag monitor of an embedded server on the same loop to reuse its timer;
    otherwise the monitor runs its own (call `start()` on the loop, `stop()` after).
    """

    def __init__(self, loop_lag: LoopLagMonitor | None = None) -> None:
        self._own_lag = loop_lag is None
        self._lag = loop_lag if loop_lag is not None else LoopLagMonitor()
        self._wall0 = 0.0
        self._cpu0 = 0.0

    def start(self) -> None:
        if self._own_lag:
            self._lag.start()
        self.restart()

    def restart(self) -> None:
        """Measure from now on (e.g. after the warm-up)."""
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()

    async def stop(self) -> None:
        if self._own_lag:
            await self._lag.stop()

    def cpu_fraction(self) -> float:
        wall = time.perf_counter() - self._wall0
        return (time.process_time() - self._cpu0) / wall if wall > 0 else 0.0

    def loop_lag_p99_ms(self) -> float:
        lags = sorted(self._lag.lags_since(self._wall0))
        if not lags:
            return 0.0
        return lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)] * 1000

    def verdict(
        self, *, scenarios: tuple[str, ...] = (), late_starts: int = 0, started: int = 0
    ) -> HealthVerdict:
        late = late_starts / started if started else 0.0
        return judge(
            cpu_fraction=self.cpu_fraction(),
            loop_lag_p99_ms=self.loop_lag_p99_ms(),
            late_start_fraction=late,
            scenarios=scenarios,
        )
