"""What the session measures while load runs: probe samples, the response curve with each
level's settling, and the verdict on the generator's health."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections import deque
from collections.abc import Iterator

from loopscope.embedded_server import CPU_SCENARIOS, LoopLagMonitor, cancel_and_wait
from loopscope.loadgen import Recorder, RunResult
from loopscope.loadgen.health import (
    UI_SETTLE_S,
    HealthMonitor,
    HealthVerdict,
    VerdictHold,
    short_of_cores,
)

from .lab_snapshot import CurvePoint, ProbeSample
from .load import LoadControl
from .placement import PROBE_PERIOD_S
from .session_parts import SessionParts

# 90 s of probe samples at 10 Hz. Only the charts read them, and they show the last 60 s
# (charts.VISIBLE_S): 10 minutes of them (6000 samples) cost 4.3 MiB of memory that grew for
# the first 10 minutes of every session, and copying them cost every frame.
PROBE_HISTORY = 900
# A concurrency level counts as "settled" for the response curve after this long.
SETTLE_S = 4.0
# The curve point pools the records completing from this long after the level changed on
# (the first second is the ramp and the old level's requests finishing).
CURVE_SKIP_S = 1.0
# Generator health is judged over the last this many seconds: long enough for a p99 of
# loop lag (300 ticks), short enough that the warning follows a slider within seconds.
HEALTH_PERIOD_S = 3.0
# ... once every this many seconds (the window slides), so that a warning comes within a
# second or two of its cause and goes as soon as the cause has left the window.
HEALTH_STEP_S = 1.0


def _finite(value: float) -> float:
    """A figure to draw: NaN (a gap in the line) for one that grows without bound."""
    return value if math.isfinite(value) else math.nan


class Settling:
    """When each scenario's level (its users, or a setting they share) last changed."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder
        self._since: dict[str, float] = {}

    def unsettle(self, name: str, now: float) -> None:
        """The level of `name` changed at `now`: its curve point pools afresh from then."""
        self._since[name] = now
        self._recorder.begin_period(name, at=now + CURVE_SKIP_S)

    def settled(self, name: str, now: float) -> bool:
        """`name` has held its level for SETTLE_S at `now` (never changed: not yet)."""
        return now - self._since.get(name, now) >= SETTLE_S

    def unsettle_all(self, now: float) -> None:
        """Every level known so far starts afresh (the charts were cleared)."""
        for name in self._since:
            self.unsettle(name, now)


class GeneratorHealth:
    """Is the generator (this process, this loop) what limits the figures right now, and
    over a measured period (an autorun's)?"""

    def __init__(self) -> None:
        self._lag: LoopLagMonitor | None = None
        self._monitor: HealthMonitor | None = None
        # Judging a period of its own besides (`begin_period`), or None.
        self._period: HealthMonitor | None = None
        self._hold = VerdictHold()
        #: The verdict to show (None until load has run a step): the latest over the last
        #: HEALTH_PERIOD_S, a warning kept until healthy verdicts follow (VerdictHold).
        self.verdict: HealthVerdict | None = None

    def watch(self, window_loop_lag: LoopLagMonitor) -> None:
        """Judge from the lag of the window's loop (where the generator runs), from now."""
        self._lag = window_loop_lag
        self._monitor = HealthMonitor(window_loop_lag)
        self._monitor.restart()

    @property
    def watching(self) -> bool:
        return self._monitor is not None

    def restart(self) -> None:
        """The verdict is about what follows (the load), not the time before it."""
        self._hold = VerdictHold()
        if self._monitor is not None:
            self._monitor.restart()

    def forget(self) -> None:
        """No verdict, and none held (the charts were cleared)."""
        self._hold = VerdictHold()
        self.verdict = None

    def judge(self, scenarios: tuple[str, ...] | None, *, server_workers: int = 0) -> None:
        """A verdict over the last HEALTH_PERIOD_S, on the loop lag the `scenarios` under
        load cause; None: no load, no verdict. server_workers: the server's worker
        processes (0: it runs on this process's loop), for the machine's cores."""
        monitor = self._monitor
        if monitor is None:
            return
        latest = None if scenarios is None else _verdict(monitor, scenarios, server_workers)
        self.verdict = self._hold.update(latest)
        monitor.slide(HEALTH_PERIOD_S - HEALTH_STEP_S)

    def begin_period(self) -> None:
        """Judge the time from now until `end_period()` as a whole too, as `run` judges
        its measured interval (the sliding verdict goes on beside it)."""
        if self._lag is not None:
            self._period = HealthMonitor(self._lag)
            self._period.restart()

    def end_period(
        self, scenarios: tuple[str, ...], *, server_workers: int = 0
    ) -> HealthVerdict | None:
        """The verdict over the period since `begin_period()` (None: none was begun), on
        the same signs and rules as the sliding one."""
        monitor, self._period = self._period, None
        return None if monitor is None else _verdict(monitor, scenarios, server_workers)

    @contextlib.contextmanager
    def ui_busy(self, settle_s: float = UI_SETTLE_S) -> Iterator[None]:
        """Wrap a repaint the window causes itself (theme switch, full screen, its figures):
        the loop stall, until `settle_s` after, is not blamed on the generator
        (HealthMonitor.ui_busy), in the sliding verdict nor in a period's."""
        with contextlib.ExitStack() as stack:
            for monitor in (self._monitor, self._period):
                if monitor is not None:
                    stack.enter_context(monitor.ui_busy(settle_s))
            yield


def _verdict(
    monitor: HealthMonitor, scenarios: tuple[str, ...], server_workers: int
) -> HealthVerdict:
    """The monitor's verdict on the loop lag `scenarios` cause, with a note when the
    machine has too few cores for the server's `server_workers` processes and this one."""
    verdict = monitor.verdict(scenarios=scenarios)
    if server_workers:
        note = short_of_cores(server_workers, scenarios)
        verdict = dataclasses.replace(verdict, machine_note=note)
    return verdict


class Measurement:
    """Samples the probes 10 times a second, adds settled levels to the response curve
    each second, and judges the generator's health each HEALTH_PERIOD_S."""

    def __init__(
        self,
        parts: SessionParts,
        *,
        load: LoadControl,
        settling: Settling,
        health: GeneratorHealth,
    ) -> None:
        self._parts = parts
        self._load = load
        self._settling = settling
        self._health = health
        self._probes: deque[ProbeSample] = deque(maxlen=PROBE_HISTORY)
        self._curve: dict[tuple[str, int], CurvePoint] = {}
        # Scenarios draining the backlog of users taken away, and when it was drained
        # (None: still draining); see `_track_backlog`.
        self._draining: dict[str, float | None] = {}
        self._sampler: asyncio.Task[None] | None = None
        # The lessons the user's code made by design at each health step in the window.
        self._held: deque[tuple[str, ...]] = deque(maxlen=round(HEALTH_PERIOD_S / HEALTH_STEP_S))
        # ... and in every step of a period judged whole (`begin_health_period`), or None.
        self._period_held: dict[str, None] | None = None

    # -- what the window reads ---------------------------------------------------------

    def probes(self) -> tuple[ProbeSample, ...]:
        return tuple(self._probes)

    def curve(self) -> tuple[CurvePoint, ...]:
        return tuple(self._curve.values())

    def settling(self) -> frozenset[str]:
        """Scenarios whose users were lowered and whose queue still drains."""
        return frozenset(self._draining)

    def in_flight(self) -> dict[str, int]:
        """Requests in flight server side: the demo's per scenario, the app's per route."""
        counts = self._parts.server.probes().in_flight()
        counts.update(self._parts.your_app.in_flight())
        return counts

    # -- life --------------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling on the running loop."""
        self._sampler = asyncio.get_running_loop().create_task(
            self._sample_forever(), name="loopscope-probe-sampler"
        )

    async def stop(self) -> None:
        await cancel_and_wait(self._sampler)

    def reset(self) -> None:
        """Forget samples, curve and verdict; every level settles afresh."""
        self._probes.clear()
        self._curve.clear()
        self._health.forget()
        self._settling.unsettle_all(time.perf_counter())

    def restart_clock(self) -> None:
        """A new run from now (Start): the probes count from the recorder's new origin,
        and every level settles afresh; the response curve, measured against users,
        stays."""
        self._probes.clear()
        self._settling.unsettle_all(time.perf_counter())

    async def _sample_forever(self) -> None:
        last = time.perf_counter()
        tick = 0
        while True:
            await asyncio.sleep(PROBE_PERIOD_S)
            now = time.perf_counter()
            self._sample(now, last)
            last = now
            tick += 1
            if tick % 10 == 0:
                self._update_curve(now)
            if tick % round(HEALTH_STEP_S / PROBE_PERIOD_S) == 0:
                self._judge_health()

    # -- each tick ---------------------------------------------------------------------

    def _sample(self, now: float, last: float) -> None:
        self._track_backlog(now)
        parts = self._parts
        server = parts.server
        if any(name in CPU_SCENARIOS for name in parts.settings.scenarios):
            # Only for a CPU lesson: a sample reads every thread's schedstat (a def lesson
            # runs 40 threads), and nothing else needs the speed.
            parts.cpu_meter.sample()
        pool = server.probes().threadpool()
        running = self._load.loaded()
        users = parts.settings.users
        predicted = {name: parts.predictions.prediction(name) for name in running}
        self._probes.append(
            ProbeSample(
                t_s=now - parts.recorder.origin,
                in_flight=self.in_flight(),
                threads_total=pool.total,
                threads_borrowed=pool.borrowed,
                threads_waiting=pool.waiting,
                loop_lag_ms=server.window_loop_lag.max_since(last) * 1000,
                users={name: users[name] for name in running},
                theory_rps={name: predicted[name].throughput_rps for name in running},
                server_loop_lag_ms=server.server_lag_ms(),
                theory_latency_ms={name: _finite(predicted[name].latency_ms) for name in running},
            )
        )

    def _track_backlog(self, now: float) -> None:
        """Which scenarios are settling after their users were lowered. A user taken away
        finishes the request it sent, and those requests queue ahead of the remaining
        users' (646 -> 102 users of a def route: p50 13-20 s for about 20 s where theory
        says 2.5 s). Settling lasts while such users are still waiting for an answer, and
        one recorder window more, so that the latency then shown is the settled queue's."""
        recorder = self._parts.recorder
        live = self._load.live()
        for name in list(self._draining):
            if name not in live:
                del self._draining[name]
        for name, backlogged in self._load.backlogged().items():
            if backlogged:
                self._draining[name] = None  # still draining
            elif name in self._draining:
                drained_at = self._draining[name]
                if drained_at is None:
                    self._draining[name] = now
                elif now - drained_at >= recorder.window_s:
                    del self._draining[name]
                    # Where the charts show the settled queue again.
                    self._parts.markers.event(now - recorder.origin, f"settled: {name}")

    def _update_curve(self, now: float) -> None:
        """Add or refresh a response-curve point for each scenario settled at its level."""
        if self._parts.settings.mode != "closed" or self._load.sweeping:
            return  # the curve is against users; a sweep adds its own points
        for name in self._load.live():
            if self._settling.settled(name, now):
                self.add_curve_point(name, now)

    def _judge_health(self) -> None:
        if not self._health.watching:
            return
        # Every step, so that each counts only its own stalls; the verdict's window spans
        # several steps, and a stall of the user's code in any of them is the code's.
        self._held.append(self._parts.your_app.held_lessons(HEALTH_STEP_S))
        held = tuple(dict.fromkeys(name for step in self._held for name in step))
        if self._period_held is not None:
            self._period_held.update(dict.fromkeys(self._held[-1]))
        self._health.judge(
            (*self._load.loaded(), *held) if self._load.running else None,
            server_workers=self._server_workers(),
        )

    def _server_workers(self) -> int:
        """The server's worker processes; 0 when it runs on this process's loop."""
        placement = self._parts.server.placement
        return placement.workers if placement.process else 0

    # -- a period judged whole (`gui --autorun`'s measured interval) --------------------

    def begin_health_period(self) -> None:
        """Judge the generator's health over the time from now to `end_health_period()`
        as a whole, beside the banner's sliding verdict."""
        self._period_held = {}
        self._health.begin_period()

    def end_health_period(self) -> HealthVerdict | None:
        """The verdict over the period, as `run --json` gives its measured interval's: on
        the loop lag the scenarios under load (and the user's code, where it held the loop
        in any step) cause. None: no period was begun, or no load ran at its end."""
        held, self._period_held = self._period_held or {}, None
        scenarios = (*self._load.loaded(), *held) if self._load.running else None
        verdict = self._health.end_period(scenarios or (), server_workers=self._server_workers())
        return verdict if scenarios is not None else None

    # -- the response curve ------------------------------------------------------------

    def add_point(self, point: CurvePoint) -> CurvePoint:
        """Put `point` on the curve, in place of any at its scenario and users."""
        self._curve[(point.scenario, point.users)] = point
        return point

    def add_result_point(self, result: RunResult) -> CurvePoint:
        """The response-curve point of one sweep run: its summary, warm-up excluded."""
        summary = result.summary
        point = CurvePoint(
            scenario=result.settings.scenario,
            users=result.settings.concurrency,
            throughput_rps=summary.throughput_rps,
            latency_p50_ms=summary.latency.p50,
            latency_p99_ms=summary.latency.p99,
            generator_limited=result.generator_limited,
        )
        return self.add_point(point)

    def add_curve_point(self, name: str, now: float | None = None) -> CurvePoint | None:
        """A point for `name` at its current users from one histogram of every record that
        completed since its level settled (CURVE_SKIP_S after the change) until `now` (a
        perf_counter time; default now): the figures a sweep step over the same records
        gives. None before the period starts or while nothing has completed in it."""
        pooled = self._parts.recorder.period(name, until=now)
        if pooled is None or pooled.ok == 0:
            return None
        users = self._parts.settings.users[name]
        verdict = self._health.verdict
        point = CurvePoint(
            scenario=name,
            users=users,
            throughput_rps=pooled.throughput_rps,
            latency_p50_ms=pooled.latency.p50,
            latency_p99_ms=pooled.latency.p99,
            generator_limited=verdict is not None and verdict.generator_limited,
        )
        return self.add_point(point)
