"""Sweeps: load levels one step after another, each step a fresh measurement.

`sweep_steps` is the engine. A step is one run or several at once (`RunSettings`, each a
whole run: its own generator, recorder and warm-up, excluded from its summary). Before
each step the server is given a moment to finish the previous step's requests and its
thread pool is reset, so every step starts from the same state; progress goes to a
callback, with the results of each step as it ends. The engine loads a server the caller
provides (its URL and probes):

- `run_sweep` (`loopscope sweep`): every scenario at every level, one run per step, against
  an embedded server of its own, or a server process (`--server-process`, `WorkerProbes`);
- the desktop window: its scenarios side by side at each level of users, against the
  session's running server, feeding the live charts through `sink`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from loopscope.embedded_server import (
    CPU_SCENARIOS,
    MAX_BLOCKING_DELAY_MS,
    MAX_DELAY_MS,
    MAX_THREADS,
    MAX_WORKERS,
    SCENARIOS,
    AppImportError,
    BlockWatch,
    EmbeddedServer,
    LoopLagMonitor,
    ProbedApp,
    ServerProcess,
    ServerSettings,
    ThreadPoolStats,
    WorkerProbes,
    create_app,
    import_app,
)

from . import theory
from ._cpu_cost import CpuCostMeter
from ._generator import MAX_USERS, RecordSink
from ._open_loop import MAX_IN_FLIGHT, MAX_RATE
from ._records import RouteRequest
from ._runner import LoadedServer, Neighbours, RunResult, RunSettings, measure, sampling
from ._workload import Workload

# The whole sweep's load time, warm-ups included; longer sweeps are refused up front.
MAX_SWEEP_S = 3600.0
MAX_STEP_S = 600.0
MAX_STEPS = 200
# Between steps, wait this long at most for the server to finish the last step's
# requests (sync ones sleeping in threads cannot be cancelled); the warm-up absorbs
# whatever is left.
SETTLE_MAX_S = 5.0
_SETTLE_POLL_S = 0.02

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepSettings(Workload):
    """Scenarios × levels of one workload: `concurrency` (closed loop, users) or `rates`
    (open loop, req/s), each step `step_duration_s` long.

    The workload's warmup_s=None means min(1 s, a fifth of the step); its max_in_flight,
    the open loop's bound (None: sized for each rate, as `run` does). Invalid settings
    raise ValueError with a message fit for the command line.
    """

    scenarios: tuple[str, ...]
    concurrency: tuple[int, ...] = ()
    rates: tuple[float, ...] = ()
    step_duration_s: float = 5.0
    # Routes of the user's own app (the workload's `app`) instead of demo scenarios;
    # `scenarios` are then their labels.
    routes: tuple[RouteRequest, ...] = ()

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def open_loop(self) -> bool:
        return bool(self.rates)

    @property
    def levels(self) -> tuple[float, ...]:
        return self.rates if self.rates else tuple(float(n) for n in self.concurrency)

    @property
    def load_s(self) -> float:
        """Seconds of load the whole sweep asks for (settling between steps not counted)."""
        return len(self.scenarios) * len(self.levels) * self.step_duration_s

    def steps(self) -> list[RunSettings]:
        """One run per scenario and level, scenario by scenario, levels in the order given:
        each this sweep's workload on a pool of `effective_threads`."""
        workload = {**self.workload_keywords(), "threads": self.effective_threads}
        routes = {route.scenario: route for route in self.routes}
        return [
            RunSettings(
                **workload,
                scenario=scenario,
                route=routes.get(scenario),
                concurrency=1 if self.open_loop else int(level),
                rate=level if self.open_loop else None,
                duration_s=self.step_duration_s,
            )
            for scenario in self.scenarios
            for level in self.levels
        ]


def _validate(s: SweepSettings) -> None:
    if not s.scenarios:
        raise ValueError("give at least one scenario")
    if s.routes:
        if s.app is None:
            raise ValueError("routes of your own need the app that serves them")
        if s.scenarios != tuple(route.scenario for route in s.routes):
            raise ValueError("a sweep of routes names them as its scenarios")
    for name in () if s.routes else s.scenarios:
        if name not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    if len(set(s.scenarios)) != len(s.scenarios):
        raise ValueError("each scenario (or route) may appear only once")
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
    if not 1 <= s.workers <= MAX_WORKERS:
        raise ValueError(f"workers must be between 1 and {MAX_WORKERS}")
    if s.server_process and s.app is not None:
        raise ValueError("a server process serves LoopScope's demo routes, not your app")
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


#: Runs that load the server at the same time: one sweep step.
SweepStep = tuple[RunSettings, ...]


@dataclass(frozen=True, slots=True)
class SweepProgress:
    """Reported before each step (`runs` set) and once at the end (`runs` empty).

    finished: the results of the step that has just ended (empty before the first step),
    so a caller can show each step's figures while the sweep goes on.
    """

    done: int
    total: int
    runs: SweepStep
    elapsed_s: float
    finished: tuple[RunResult, ...] = ()

    @property
    def step(self) -> RunSettings | None:
        """The step's first run (its only one in `loopscope sweep`); None at the end."""
        return self.runs[0] if self.runs else None


ProgressCallback = Callable[[SweepProgress], None]


class SweepProbes(Protocol):
    """What a sweep reads of a server: `ServerProbes` (on this loop) or `WorkerProbes`
    (a server process's, over HTTP)."""

    def in_flight(self) -> dict[str, int]: ...

    def threadpool(self) -> ThreadPoolStats: ...

    def set_thread_tokens(self, tokens: int) -> None: ...

    @property
    def loop_lag(self) -> LoopLagMonitor | None:
        """The lag of a server on this loop, reused for the generator's health; None: the
        server's loop is elsewhere."""

    @property
    def block_watch(self) -> BlockWatch | None: ...


class SweepTarget(Protocol):
    """The server a sweep loads (an `EmbeddedServer` is one): where to send, and its probes
    to see it settle, to reset its thread pool and to judge the generator's health."""

    @property
    def url(self) -> str: ...

    @property
    def probes(self) -> SweepProbes: ...


@dataclass(frozen=True, slots=True)
class ProcessTarget:
    """A server process as a sweep's target: its shared URL and its workers' probes."""

    url: str
    probes: WorkerProbes


async def _settle(probes: SweepProbes) -> None:
    """Wait (bounded) until the server has no request in flight and no thread borrowed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_MAX_S
    while loop.time() < deadline:
        if not any(probes.in_flight().values()) and probes.threadpool().borrowed == 0:
            return
        await asyncio.sleep(_SETTLE_POLL_S)


def _cpu_shares(step: SweepStep) -> dict[str, float]:
    """CPU-bound runs of one step share the one core the GIL allows (`theory.cpu_shares`)."""
    return theory.cpu_shares({run.scenario: run.concurrency for run in step if run.rate is None})


def _loop_hold(step: SweepStep) -> theory.LoopHold | None:
    """The step's closed-loop `blocking` run holds the loop its other runs share."""
    for run in step:
        if run.scenario == "blocking" and run.rate is None and run.route is None:
            return theory.LoopHold(users=run.concurrency, delay_s=run.delay_ms / 1000)
    return None


async def _run_step(
    target: SweepTarget,
    step: SweepStep,
    *,
    threads: int,
    cpu_costs: Mapping[str, float],
    cpu_meter: CpuCostMeter | None,
    sink: RecordSink | None,
    app: ProbedApp | None = None,
) -> tuple[RunResult, ...]:
    """The step's runs at once; if one fails or the step is cancelled, none outlives it.

    app: the user's app the target serves on this loop: its closing gate bounds the
    step's end as `run`'s (`measure`); each result counts what it turned away."""
    scenarios = tuple(run.scenario for run in step)
    shares = _cpu_shares(step)
    hold = _loop_hold(step)
    probes = target.probes
    server = LoadedServer(
        target.url, threads, loop_lag=probes.loop_lag, block_watch=probes.block_watch, app=app
    )
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(
            measure(
                run,
                server,
                Neighbours(
                    cpu_s=cpu_costs.get(run.scenario),
                    cpu_share=shares.get(run.scenario, 1.0),
                    cpu_meter=cpu_meter,
                    loop_hold=hold,
                    alongside=tuple(name for name in scenarios if name != run.scenario),
                ),
                sink=sink,
            ),
            name=f"loopscope-sweep-{run.scenario}",
        )
        for run in step
    ]
    turned_away = app.turned_away if app is not None else 0
    try:
        results = tuple(await asyncio.gather(*tasks))
    except BaseException:
        if app is not None:
            app.close_gate()  # before anything awaits: the queued requests go unrun
        for task in tasks:
            task.cancel()
        # Let every run close its connections before the error (or cancel) goes on.
        await asyncio.wait(tasks)
        raise
    if app is None:
        return results
    # Requests still queued are turned away: the next step's settling (and the server's
    # shutdown) waits for the handler running now, not for each queued one in turn. The
    # next step's `measure` opens the gate again.
    app.close_gate()
    turned_away = app.turned_away - turned_away
    return tuple(replace(result, turned_away=turned_away) for result in results)


async def sweep_steps(
    target: SweepTarget,
    steps: Sequence[SweepStep],
    *,
    threads: int,
    cpu_costs: Mapping[str, float] | None = None,
    cpu_meter: CpuCostMeter | None = None,
    progress: ProgressCallback | None = None,
    sink: RecordSink | None = None,
    stop: asyncio.Event | None = None,
    app: ProbedApp | None = None,
) -> list[RunResult]:
    """Run `steps` against `target`, one after another, each step's runs at once.

    Before each step the server settles (bounded by SETTLE_MAX_S) and its thread pool is
    reset to `threads`. cpu_costs: the measured cost of one request of each CPU scenario
    (theory's service time); or cpu_meter: this machine's speed, sampled by its owner while
    the steps run (each run's theory takes it over its own measured span). sink: also
    receives every request record. Returns every run's result, in step order. Cancelling
    cuts the running step's load at once.

    stop: set it (an interrupt) to end the sweep early: the running step's load is cut
    and that step dropped (half a step would pass for a whole one); the steps finished
    until then are returned, and no final progress is reported.

    app: the user's app `target` serves on this loop (`ProbedApp`): its closing gate
    bounds the end of each step, as `run`'s; a result's `turned_away` counts its step's.
    """
    costs = dict(cpu_costs or {})
    started = time.perf_counter()
    results: list[RunResult] = []
    finished: tuple[RunResult, ...] = ()
    total = len(steps)
    for index, step in enumerate(steps):
        if stop is not None and stop.is_set():
            return results
        if progress is not None:
            progress(SweepProgress(index, total, step, time.perf_counter() - started, finished))
        await _unless_stopped(stop, _settle(target.probes))
        if stop is not None and stop.is_set():
            return results
        # Every step starts from the same pool, whatever happened before.
        target.probes.set_thread_tokens(threads)
        step_results = await _unless_stopped(
            stop,
            _run_step(
                target,
                step,
                threads=threads,
                cpu_costs=costs,
                cpu_meter=cpu_meter,
                sink=sink,
                app=app,
            ),
            on_stop=None if app is None else app.close_gate,
        )
        if step_results is None:
            return results
        finished = step_results
        results.extend(finished)
    if progress is not None:
        progress(SweepProgress(total, total, (), time.perf_counter() - started, finished))
    return results


async def _unless_stopped(
    stop: asyncio.Event | None,
    work: Awaitable[T],
    *,
    on_stop: Callable[[], None] | None = None,
) -> T | None:
    """`work`'s result, or None if `stop` is set first (the work is then cancelled and
    awaited, so its load is gone when this returns). on_stop: called as soon as the stop
    is seen, before anything awaits."""
    if stop is None:
        return await work
    loop = asyncio.get_running_loop()
    task = loop.create_task(_awaited(work), name="loopscope-sweep-step")
    stopped = loop.create_task(stop.wait(), name="loopscope-sweep-stop")
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if on_stop is not None and stop.is_set() and not task.done():
            on_stop()
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
        await asyncio.wait({task, stopped})
    if task.cancelled():
        return None
    # A step that finished as the stop came is complete: keep it (or raise its error).
    return task.result()


async def _awaited(work: Awaitable[T]) -> T:
    return await work


async def run_sweep(
    settings: SweepSettings,
    *,
    progress: ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
) -> list[RunResult]:
    """`loopscope sweep`: every step, one run each, against one embedded server of its own;
    results in step order. stop: see `sweep_steps`."""
    threads = settings.effective_threads
    # This machine's speed while the steps run, as `run` does: the CPU theory's cost.
    meter = CpuCostMeter() if set(settings.scenarios) & CPU_SCENARIOS else None
    steps = [(run,) for run in settings.steps()]
    if settings.server_process:
        async with (
            ServerProcess(workers=settings.workers, threads=threads) as process,
            WorkerProbes(process.probe_urls, threads=threads) as probes,
            sampling(meter),
        ):
            if meter is not None:
                meter.watch(process.worker_pids())
            return await sweep_steps(
                ProcessTarget(process.url, probes),
                steps,
                threads=threads,
                cpu_meter=meter,
                progress=progress,
                stop=stop,
            )
    probed: ProbedApp | None = None
    if settings.app is not None:
        try:
            probed = ProbedApp(import_app(settings.app, settings.app_dir), threads=threads)
        except AppImportError as exc:
            raise ValueError(str(exc)) from None
        server = EmbeddedServer(probed)
    else:
        server = EmbeddedServer(create_app(ServerSettings(threads=threads)))
    await server.start(settings.startup_timeout_s, stop=stop)
    try:
        async with sampling(meter):
            return await sweep_steps(
                server,
                steps,
                threads=threads,
                cpu_meter=meter,
                progress=progress,
                stop=stop,
                app=probed,
            )
    finally:
        if probed is not None:
            probed.close_gate()  # whatever ended the sweep: the queued requests go unrun
        await server.stop()
