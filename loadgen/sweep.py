"""Sweeps: every scenario at every load level, one step each, against one embedded server.

Each step is a whole run (its own generator, recorder and warm-up, excluded from its
summary); between steps the thread pool is reset and the server is given a moment to
finish the previous step's requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from loopscope.embedded_server import (
    CPU_SCENARIOS,
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    MAX_BLOCKING_DELAY_MS,
    MAX_DELAY_MS,
    MAX_THREADS,
    SCENARIOS,
    EmbeddedServer,
    ServerSettings,
    create_app,
)

from ._generator import MAX_USERS
from ._open_loop import MAX_IN_FLIGHT, MAX_RATE
from ._runner import RunResult, RunSettings, measure, measure_cpu_cost_s

# The whole sweep's load time, warm-ups included; longer sweeps are refused up front.
MAX_SWEEP_S = 3600.0
MAX_STEP_S = 600.0
MAX_STEPS = 200
# Between steps, wait this long at most for the server to finish the last step's
# requests (sync ones sleeping in threads cannot be cancelled); the warm-up absorbs
# whatever is left.
SETTLE_MAX_S = 5.0
_SETTLE_POLL_S = 0.02


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepSettings:
    """Scenarios × levels: `concurrency` (closed loop, users) or `rates` (open loop, req/s).

    warmup_s=None means min(1 s, a fifth of the step). max_in_flight: the open loop's
    bound (None: sized for each rate, as `run` does). Invalid settings raise ValueError
    with a message fit for the command line.
    """

    scenarios: tuple[str, ...]
    concurrency: tuple[int, ...] = ()
    rates: tuple[float, ...] = ()
    delay_ms: float = 200.0
    step_duration_s: float = 5.0
    warmup_s: float | None = None
    threads: int | None = None
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT
    max_in_flight: int | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def open_loop(self) -> bool:
        return bool(self.rates)

    @property
    def levels(self) -> tuple[float, ...]:
        return self.rates if self.rates else tuple(float(n) for n in self.concurrency)

    @property
    def effective_threads(self) -> int:
        return self.threads or DEFAULT_THREADS

    @property
    def load_s(self) -> float:
        """Seconds of load the whole sweep asks for (settling between steps not counted)."""
        return len(self.scenarios) * len(self.levels) * self.step_duration_s

    def steps(self) -> list[RunSettings]:
        """One run per scenario and level, scenario by scenario, levels in the order given."""
        steps: list[RunSettings] = []
        for scenario in self.scenarios:
            for level in self.levels:
                steps.append(
                    RunSettings(
                        scenario=scenario,
                        concurrency=1 if self.open_loop else int(level),
                        rate=level if self.open_loop else None,
                        max_in_flight=self.max_in_flight,
                        delay_ms=self.delay_ms,
                        duration_s=self.step_duration_s,
                        warmup_s=self.warmup_s,
                        threads=self.effective_threads,
                        iterations=self.iterations,
                        fanout=self.fanout,
                    )
                )
        return steps


def _validate(s: SweepSettings) -> None:
    if not s.scenarios:
        raise ValueError("give at least one scenario")
    for name in s.scenarios:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    if len(set(s.scenarios)) != len(s.scenarios):
        raise ValueError("each scenario may appear only once")
    if bool(s.concurrency) == bool(s.rates):
        raise ValueError("give either --concurrency levels (closed loop) or --rates (open loop)")
    for users in s.concurrency:
        if not 1 <= users <= MAX_USERS:
            raise ValueError(f"concurrency levels must be between 1 and {MAX_USERS}, got {users}")
    for rate in s.rates:
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"rates must be above 0 and at most {MAX_RATE:g}, got {rate:g}")
    if s.max_in_flight is not None and not 1 <= s.max_in_flight <= MAX_IN_FLIGHT:
        raise ValueError(f"max in flight must be between 1 and {MAX_IN_FLIGHT}")
    if not 0 <= s.delay_ms <= MAX_DELAY_MS:
        raise ValueError(f"delay must be between 0 and {MAX_DELAY_MS:g} ms")
    if "blocking" in s.scenarios and s.delay_ms > MAX_BLOCKING_DELAY_MS:
        raise ValueError(f"the delay for blocking must be at most {MAX_BLOCKING_DELAY_MS} ms")
    if not 0 < s.step_duration_s <= MAX_STEP_S:
        raise ValueError(f"the step duration must be above 0 and at most {MAX_STEP_S:g} s")
    if s.warmup_s is not None and not 0 <= s.warmup_s < s.step_duration_s:
        raise ValueError("the warm-up must be shorter than the step duration")
    if s.threads is not None and not 1 <= s.threads <= MAX_THREADS:
        raise ValueError(f"threads must be between 1 and {MAX_THREADS}")
    steps = len(s.scenarios) * len(s.levels)
    if steps > MAX_STEPS:
        raise ValueError(f"a sweep has at most {MAX_STEPS} steps, this one {steps}")
    if s.load_s > MAX_SWEEP_S:
        raise ValueError(
            f"the sweep would take {s.load_s:,.0f} s ({steps} steps of {s.step_duration_s:g} s);"
            f" the limit is {MAX_SWEEP_S:,.0f} s"
        )


def step_label(step: RunSettings) -> str:
    """e.g. "sync c=50" or "blocking r=30/s"."""
    if step.rate is not None:
        return f"{step.scenario} r={step.rate:g}/s"
    return f"{step.scenario} c={step.concurrency}"


@dataclass(frozen=True, slots=True)
class SweepProgress:
    """Reported before each step (`step` set) and once at the end (`step` None)."""

    done: int
    total: int
    step: RunSettings | None
    elapsed_s: float


ProgressCallback = Callable[[SweepProgress], None]


async def _settle(server: EmbeddedServer) -> None:
    """Wait (bounded) until the server has no request in flight and no thread borrowed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_MAX_S
    probes = server.probes
    while loop.time() < deadline:
        if not any(probes.in_flight().values()) and probes.threadpool().borrowed == 0:
            return
        await asyncio.sleep(_SETTLE_POLL_S)


async def run_sweep(
    settings: SweepSettings, *, progress: ProgressCallback | None = None
) -> list[RunResult]:
    """Run every step against one embedded server; results in step order."""
    steps = settings.steps()
    threads = settings.effective_threads
    # One CPU cost per scenario, measured before any load, as `run` does.
    cpu_costs = {
        name: measure_cpu_cost_s(settings.iterations)
        for name in settings.scenarios
        if name in CPU_SCENARIOS
    }
    started = time.perf_counter()
    results: list[RunResult] = []
    server = EmbeddedServer(create_app(ServerSettings(threads=threads)))
    await server.start()
    try:
        for index, step in enumerate(steps):
            if progress is not None:
                progress(SweepProgress(index, len(steps), step, time.perf_counter() - started))
            await _settle(server)
            # Every step starts from the same pool, whatever happened before.
            server.probes.set_thread_tokens(threads)
            results.append(
                await measure(step, server.url, threads, cpu_s=cpu_costs.get(step.scenario))
            )
    finally:
        await server.stop()
    if progress is not None:
        progress(SweepProgress(len(steps), len(steps), None, time.perf_counter() - started))
    return results
