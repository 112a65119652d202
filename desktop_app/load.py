"""`LoadControl`: the generators of the live load and the sweep, and the settings they run
at (users, mode, rate, delay, threads), each change marked on the time charts."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Unpack

from loopscope.embedded_server import (
    CPU_SCENARIOS,
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    SCENARIOS,
)
from loopscope.loadgen import (
    MAX_USERS,
    AnyRequest,
    HttpxSender,
    LoadGenerator,
    OpenLoopGenerator,
    ProgressCallback,
    RunResult,
    RunSettings,
    SweepProgress,
    SweepStep,
    connections_for,
    sweep_steps,
)

from .annotations import format_value
from .load_settings import LessonLoad, capped_users
from .session_parts import SessionParts

# Open loop on a route of the user's own: no theory sizes its connections, so they are
# sized as for a 1 s service time (bounded by the open loop's own maximum).
OWN_ROUTE_SERVICE_S = 1.0
# Its users start spread over this long (a demo route's over its delay): users arriving all
# at once would measure their own stampede.
OWN_ROUTE_RAMP_S = 0.2

Generator = LoadGenerator | OpenLoopGenerator


class LoadControl:
    """One generator per running scenario (closed or open loop), or a sweep's steps."""

    def __init__(self, parts: SessionParts) -> None:
        self._parts = parts
        self._settings = parts.settings
        self._generators: dict[str, Generator] = {}
        self._sweeping = False
        # The scenarios the sweep's current step loads, with their users.
        self._sweep_users: dict[str, int] = {}
        # Generators taken out of service whose stop has not finished closing them.
        self._stopping: set[Generator] = set()
        # Generators `halt()` took out of service that no `stop()` has taken up yet.
        self._halted: list[Generator] = []
        # The endpoints whose users are capped below what was asked (they hold the loop).
        self._capped: set[str] = set()

    # -- what runs ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Load is on: the live generators, or a sweep (settling between steps included)."""
        return bool(self._generators) or self._sweeping

    @property
    def sweeping(self) -> bool:
        """True while a sweep runs (it adds its own curve points)."""
        return self._sweeping

    def live(self) -> tuple[str, ...]:
        """The scenarios the live load runs (none during a sweep)."""
        return tuple(self._generators)

    def loaded(self) -> tuple[str, ...]:
        """The scenarios under load right now: the live ones, or the sweep step's."""
        return tuple(self._generators) or tuple(self._sweep_users)

    def backlogged(self) -> dict[str, bool]:
        """Per live closed-loop scenario: users taken away still wait for their answer."""
        return {
            name: generator.active_users > generator.concurrency
            for name, generator in self._generators.items()
            if isinstance(generator, LoadGenerator)
        }

    def endpoints(self) -> tuple[str, ...]:
        """What runs at Start: the demo scenarios chosen, then the route of the user's own."""
        route = self._parts.your_app.route
        return (*self._settings.scenarios, *((route.scenario,) if route is not None else ()))

    def capped(self) -> dict[str, int]:
        """The endpoints at Start whose users are capped below the slider's value (they
        hold the loop), with the users they run at."""
        return {
            name: self._settings.users[name] for name in self.endpoints() if name in self._capped
        }

    def in_flight_cap(self, scenario: str) -> int | None:
        generator = self._generators.get(scenario)
        return generator.max_in_flight if isinstance(generator, OpenLoopGenerator) else None

    def _load_request(self, name: str) -> AnyRequest:
        """What the users of `name` send: a demo scenario's request, or the user's route."""
        route = self._parts.your_app.route
        if route is not None and name == route.scenario:
            return route
        return self._settings.request(name)

    def _ramp_s(self, name: str) -> float:
        """Users start spread over this: a demo route's delay; for a route of the user's
        own, whose time is unknown, over OWN_ROUTE_RAMP_S."""
        if name in SCENARIOS:
            return self._settings.request(name).delay_ms / 1000
        return OWN_ROUTE_RAMP_S

    def _connections(self, scenario: str) -> int:
        """The open loop's bound on requests in flight, sized from theory for the rate."""
        if scenario not in SCENARIOS:
            return connections_for(self._settings.rate, OWN_ROUTE_SERVICE_S)
        prediction = self._parts.predictions.prediction(scenario)
        return connections_for(self._settings.rate, prediction.service_time_s)

    # -- start and stop ----------------------------------------------------------------

    def start(self) -> None:
        """A generator per endpoint (the caller checked the server serves)."""
        parts, settings = self._parts, self._settings
        server = parts.server
        server.open_turnstile()
        parts.your_app.open_gate()
        parts.recorder.load_started()
        for scenario in self.endpoints():
            # A sender (its clients and connection pools) per scenario: users of two
            # scenarios sharing one pool would queue for each other's connections.
            own_url = parts.your_app.url_of(scenario)
            url = server.url if own_url is None else own_url
            # Request ids only to the demo server on this loop, whose phase table keeps them
            # (in its own process there is no timeline, and no server here to ask its url).
            in_window = not server.placement.process and url == server.server.url
            sender = HttpxSender(url, wire=parts.wire if in_window else None)
            parts.recorder.track(scenario)
            generator: Generator
            if settings.mode == "open":
                generator = OpenLoopGenerator(
                    sender,
                    parts.recorder.add,
                    self._load_request(scenario),
                    max_in_flight=self._connections(scenario),
                )
                generator.start(settings.rate)
            else:
                # Users start spread over one delay, as a real crowd would, not in lock-step.
                ramp_s = min(2.0, self._ramp_s(scenario))
                generator = LoadGenerator(
                    sender, parts.recorder.add, self._load_request(scenario), ramp_s=ramp_s
                )
                generator.start(settings.users[scenario])
            self._generators[scenario] = generator
            self._parts.on_level_change(scenario, time.perf_counter())

    def halt(self) -> None:
        """The synchronous first half of a stop, for a click to take effect at once: the
        load is off (`running` is False), users send no more, their requests in flight
        are cancelled, and the blocking route's queued requests leave without blocking
        the loop. `stop()` does the rest (closing the generators' connections)."""
        self._parts.server.close_turnstile()
        self._parts.your_app.close_gate()
        if self._generators:
            self._parts.recorder.load_stopped()
        if any(name in CPU_SCENARIOS for name in self._generators):
            # The theory keeps the cost it showed at the end of the load.
            self._parts.predictions.keep_current_cost()
        generators, self._generators = self._generators, {}
        for generator in generators.values():
            if isinstance(generator, LoadGenerator):
                generator.cut()
        self._halted.extend(generators.values())

    async def stop(self, *, cut_in_flight: bool = True) -> None:
        """Stop all users. cut_in_flight drops requests in flight instead of waiting."""
        if cut_in_flight:
            self.halt()
        generators = [*self._generators.values(), *self._halted]
        self._generators, self._halted = {}, []
        await self._close(generators, grace=0.0 if cut_in_flight else 5.0)

    async def finish_halt(self) -> None:
        """The second half of `halt()`: close the generators it took out of service, and
        only those (a run started since, by a Start right after the Stop, goes on)."""
        generators, self._halted = self._halted, []
        await self._close(generators, grace=0.0)

    async def _close(self, generators: list[Generator], *, grace: float) -> None:
        self._stopping.update(generators)
        try:
            await asyncio.gather(*(g.stop(grace_s=grace) for g in generators))
        finally:
            # Even when this stop is itself cancelled (the window closing mid-sweep), every
            # generator closes its connections; close() finishes any that could not.
            for generator in generators:
                await generator.aclose()
                self._stopping.discard(generator)

    async def close(self) -> None:
        """Stop the load, and close any generator an interrupted stop left open."""
        await self.stop(cut_in_flight=True)
        for generator in list(self._stopping):
            await generator.aclose()
        self._stopping.clear()

    # -- settings ----------------------------------------------------------------------

    def now_s(self) -> float:
        """Seconds since the recorder's origin: the time charts' x."""
        return time.perf_counter() - self._parts.recorder.origin

    def mark(self, setting: str, before: str, after: str, unit: str = "") -> None:
        """A marker for a change, running or not (a change between two runs is what a
        comparison is about); a sweep's own steps are not changes of the user's."""
        if not self._sweeping:
            self._parts.markers.note(self.now_s(), setting, before, after, unit)

    def _settings_changed(self) -> None:
        # A new delay or pool size makes every scenario's level unsettled again.
        now = time.perf_counter()
        for name in SCENARIOS:
            self._parts.on_level_change(name, now)

    def set_scenarios(self, scenarios: tuple[str, ...]) -> None:
        """Which scenarios run; takes effect at the next start."""
        unknown = set(scenarios) - set(SCENARIOS)
        if unknown or not (scenarios or self._parts.your_app.route):
            raise ValueError(f"choose at least one of {', '.join(SCENARIOS)}")
        self._settings.scenarios = tuple(s for s in SCENARIOS if s in scenarios)

    def set_users(self, users: int, scenario: str | None = None) -> list[str]:
        """Set the users of one scenario, or of all. Returns the scenarios whose value was
        capped (blocking: MAX_BLOCKING_USERS), for the window to say so."""
        if not 1 <= users <= MAX_USERS:
            raise ValueError(f"users must be between 1 and {MAX_USERS}")
        settings = self._settings
        capped: list[str] = []
        route = self._parts.your_app.route
        routes = (route.scenario,) if route is not None else ()
        for name in [scenario] if scenario else (*SCENARIOS, *routes):
            value = capped_users(name, users, holds_loop=self._parts.your_app.holds_loop(name))
            if value != users:
                capped.append(name)
                self._capped.add(name)
            else:
                self._capped.discard(name)
            if value != settings.users[name]:
                self._parts.on_level_change(name, time.perf_counter())
                if name in settings.scenarios:
                    self.mark(
                        f"users ({name})" if scenario else "users",
                        format_value(settings.users[name]),
                        format_value(value),
                    )
            settings.users[name] = value
            generator = self._generators.get(name)
            if isinstance(generator, LoadGenerator):
                generator.set_concurrency(value)
        return [name for name in capped if name in self.endpoints()]

    def guard_loop_holders(self) -> str | None:
        """Cap the users of the route of the user's once it is seen holding the loop, as
        blocking's are (its requests are let in one at a time: ProbedApp); returns the
        route when it was capped now."""
        route = self._parts.your_app.route
        if route is None or route.scenario in self._capped:
            return None
        name = route.scenario
        if not self._parts.your_app.holds_loop(name):
            return None
        before = self._settings.users[name]
        self.set_users(before, name)
        if name not in self._capped:
            return None
        # Not one of the demo's scenarios, which set_users marks: the charts say it here.
        self.mark(f"users ({name})", format_value(before), format_value(self._settings.users[name]))
        return name

    def restore_users(self, users: dict[str, int]) -> None:
        """Put users back as they were (after a sweep): not a change of the user's, so no
        marker."""
        sweeping, self._sweeping = self._sweeping, True
        try:
            for name, value in users.items():
                self.set_users(value, name)
        finally:
            self._sweeping = sweeping

    def set_mode(self, mode: str) -> None:
        """Closed loop (users) or open loop (arrival rate); takes effect at the next start."""
        if mode not in ("closed", "open"):
            raise ValueError(f"mode must be 'closed' or 'open', got {mode!r}")
        self._settings.mode = mode
        self._settings_changed()

    def set_rate(self, rate: float) -> None:
        """Open loop: requests per second per scenario, live."""
        if not 0 < rate <= 100_000:
            raise ValueError("rate must be between 0 and 100000 requests per second")
        settings = self._settings
        if settings.mode == "open":
            self.mark("rate", f"{settings.rate:g}", f"{rate:g}", "req/s")
        settings.rate = rate
        self._settings_changed()
        for name, generator in self._generators.items():
            if isinstance(generator, OpenLoopGenerator):
                generator.set_max_in_flight(self._connections(name))
                generator.set_rate(rate)

    def set_delay(self, delay_ms: float) -> None:
        self.mark("delay", f"{self._settings.delay_ms:g}", f"{delay_ms:g}", "ms")
        self._settings.delay_ms = delay_ms
        self._settings_changed()
        for name, generator in self._generators.items():
            generator.set_request(self._load_request(name))

    def set_threads(self, threads: int) -> None:
        self._parts.server.probes().set_thread_tokens(threads)
        self.mark("threads", str(self._settings.threads), str(threads))
        self._settings.threads = threads
        self._settings_changed()

    def apply(self, **lesson: Unpack[LessonLoad]) -> None:
        """Load a preset's settings (call while stopped)."""
        self.set_scenarios(lesson["scenarios"])
        self._settings.iterations = lesson.get("iterations", DEFAULT_CPU_ITERATIONS)
        self._settings.fanout = lesson.get("fanout", DEFAULT_FANOUT)
        self._parts.predictions.keep_cost(None)
        self.set_users(lesson["users"])
        self.set_delay(lesson["delay_ms"])
        self.set_threads(lesson["threads"])

    # -- sweep -------------------------------------------------------------------------

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
            tuple(self._sweep_run(name, users, step_s) for name in self._settings.scenarios)
            for users in levels
        ]

    def _sweep_run(self, scenario: str, users: int, step_s: float) -> RunSettings:
        placement = self._parts.server.placement
        run = RunSettings(
            # What the live load's users of `scenario` send: its scenario, delay (capped
            # for blocking), iterations and fanout.
            **dataclasses.asdict(self._settings.request(scenario)),
            concurrency=capped_users(scenario, users),
            duration_s=step_s,
            threads=self._settings.threads,
            # Where the steps' server runs: their theory counts its workers.
            server_process=placement.process,
            workers=placement.workers,
        )
        # Users start spread over one delay, as the live load's do; within the warm-up,
        # which the step's figures leave out.
        return dataclasses.replace(run, ramp_s=min(run.delay_ms / 1000, run.effective_warmup_s))

    async def sweep(
        self,
        levels: Sequence[int],
        *,
        step_s: float,
        on_result: Callable[[RunResult], object],
        progress: ProgressCallback | None = None,
    ) -> list[RunResult]:
        """Run the scenarios at each level of users for `step_s` through loadgen's sweep
        engine, `on_result` told each run as its step ends. The live load stops first;
        the sweep's requests feed the recorder. Cancel it to end it."""
        if self._sweeping:
            raise RuntimeError("a sweep is already running")
        if self._settings.mode != "closed":
            raise ValueError("a sweep varies users: closed loop only")
        steps = self.sweep_plan(levels, step_s)
        parts = self._parts

        def report(update: SweepProgress) -> None:
            for result in update.finished:
                on_result(result)
                if result.settings.scenario in CPU_SCENARIOS:
                    # Once the sweep ends, the theory shows its last step's cost.
                    parts.predictions.keep_cost(result.prediction.service_time_s)
            if update.runs:
                self.set_users(levels[update.done])
            self._sweep_users = {run.scenario: run.concurrency for run in update.runs}
            if progress is not None:
                progress(update)

        self._sweeping = True
        try:
            await self.stop(cut_in_flight=True)
            parts.server.open_turnstile()
            parts.recorder.load_started()
            for name in self._settings.scenarios:
                parts.recorder.track(name)
            return await sweep_steps(
                parts.server.sweep_target(),
                steps,
                threads=self._settings.threads,
                cpu_meter=parts.cpu_meter,
                progress=report,
                sink=parts.recorder.add,
            )
        finally:
            self._sweep_users = {}
            self._sweeping = False
            parts.recorder.load_stopped()
            # The engine set the pool for each step; the slider's value holds again (it may
            # have moved during the sweep).
            parts.server.probes().set_thread_tokens(self._settings.threads)
