"""`LabSession`: the composition root of the desktop app, with no Qt in it.

It creates the parts and wires them, and shuts them all down: the demo server where its
placement says (`DemoServer`), the user's own app (`YourApp`), the load and its settings
(`LoadControl`, `LoadSettings`), the theory's predictions (`Predictions`), what is measured
(`Measurement`, with the recorder) and the comparison of runs (`Comparison`). Widgets call
its methods and read `snapshot()` on their timers; the settings and state they read are
the parts', forwarded read-only (`session.mode` is `session.settings.mode`).
"""

from __future__ import annotations

import contextlib
import operator
import time
from collections.abc import Sequence
from typing import Generic, TypeVar, Unpack, cast

from loopscope.embedded_server import (
    BlockSite,
    EmbeddedServer,
    LoopLagMonitor,
)
from loopscope.loadgen import (
    CpuCostMeter,
    ProgressCallback,
    Recorder,
    RouteRequest,
    RunResult,
    WireLog,
    theory,
)
from loopscope.loadgen.health import UI_SETTLE_S, HealthVerdict

from .annotations import MarkerLog
from .comparison import MAX_PINS, Comparison
from .finished_run import FinishedRun, finish_run
from .lab_snapshot import CurvePoint, LabSnapshot, PinnedRun, ProbeSample
from .load import LoadControl
from .load_settings import MAX_BLOCKING_USERS, LessonLoad, LoadSettings
from .measurement import (
    CURVE_SKIP_S,
    HEALTH_PERIOD_S,
    PROBE_HISTORY,
    SETTLE_S,
    GeneratorHealth,
    Measurement,
    Settling,
)
from .own_app import OwnTarget
from .placement import PROBE_PERIOD_S, DemoServer, Placement
from .predictions import Predictions, on_qt_loop
from .run_timeline import RunTimeline
from .session_parts import SessionParts
from .your_app import YourApp

__all__ = [
    "CURVE_SKIP_S",
    "HEALTH_PERIOD_S",
    "MAX_BLOCKING_USERS",
    "MAX_PINS",
    "PROBE_HISTORY",
    "PROBE_PERIOD_S",
    "SETTLE_S",
    "CurvePoint",
    "LabSession",
    "LabSnapshot",
    "PinnedRun",
    "Placement",
    "ProbeSample",
]

T = TypeVar("T")


class _Forward(Generic[T]):
    """A read-only attribute of one of the session's parts, read through the session:
    the window reads `session.mode`, the load's settings own it."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._get = operator.attrgetter(path)

    def __get__(self, session: object, owner: type | None = None) -> T:
        return cast(T, self._get(session))

    def __set__(self, session: object, value: T) -> None:
        raise AttributeError(f"read-only here: set it on session.{self._path}")


class LabSession:
    """Everything the window drives: server, load, measurement and their shutdown."""

    # The parts the session and the window read.
    settings = _Forward[LoadSettings]("parts.settings")
    demo = _Forward[DemoServer]("parts.server")
    your_app = _Forward[YourApp]("parts.your_app")
    predictions = _Forward[Predictions]("parts.predictions")
    recorder = _Forward[Recorder]("parts.recorder")
    markers = _Forward[MarkerLog]("parts.markers")
    # What the window reads, kept by the parts.
    running = _Forward[bool]("load.running")
    server_ready = _Forward[bool]("demo.ready")
    placement = _Forward[Placement]("demo.placement")
    server = _Forward[EmbeddedServer]("demo.server")
    server_url = _Forward[str]("demo.url")
    window_loop_lag = _Forward[LoopLagMonitor]("demo.window_loop_lag")
    timeline_available = _Forward[bool]("demo.timeline_available")
    mode = _Forward[str]("settings.mode")
    rate = _Forward[float]("settings.rate")
    scenarios = _Forward[tuple[str, ...]]("settings.scenarios")
    delay_ms = _Forward[float]("settings.delay_ms")
    threads = _Forward[int]("settings.threads")
    iterations = _Forward[int]("settings.iterations")
    fanout = _Forward[int]("settings.fanout")
    own = _Forward[OwnTarget | None]("your_app.own")
    route = _Forward[RouteRequest | None]("your_app.route")
    health = _Forward[HealthVerdict | None]("generator_health.verdict")

    def __init__(
        self, *, window_s: float = 1.0, port: int = 0, placement: Placement | None = None
    ) -> None:
        recorder = Recorder(window_s=window_s)
        settings = LoadSettings()
        cpu_meter = CpuCostMeter()
        self.settling = Settling(recorder)
        self.generator_health = GeneratorHealth()
        demo = DemoServer(
            port=port,
            placement=placement or Placement(),
            cpu_meter=cpu_meter,
            on_start=self.generator_health.watch,
        )
        #: The parts the load and the measurement share (the session's own read them
        #: through it: `session.recorder` is `session.parts.recorder`).
        self.parts = SessionParts(
            settings=settings,
            server=demo,
            your_app=YourApp(settings, on_level_change=self.settling.unsettle),
            # The theory keeps the CPU cost a load ended with, once it is not running.
            predictions=Predictions(
                settings, demo, cpu_meter, load_running=lambda: self.load.running
            ),
            recorder=recorder,
            wire=WireLog(),
            markers=MarkerLog(),
            cpu_meter=cpu_meter,
            on_level_change=self.settling.unsettle,
        )
        self.load = LoadControl(self.parts)
        self.measurement = Measurement(
            self.parts, load=self.load, settling=self.settling, health=self.generator_health
        )
        self.comparison = Comparison(settings, demo, self.parts.markers)
        self.timelines = RunTimeline(
            demo, self.parts.wire, lambda: self.finished, self.settings_values
        )
        #: The run kept on screen after Stop, until Reset or the next Start.
        self.finished: FinishedRun | None = None
        self._opened = False
        self._closed = False

    # -- life ------------------------------------------------------------------------

    async def open(self) -> None:
        """Start the server where `placement` says, and the probe sampler (raises
        ServerStartError)."""
        await self.demo.start(threads=self.settings.threads)
        self.predictions.qt_loop = on_qt_loop()
        self.measurement.start()
        self._opened = True

    async def close(self) -> None:
        """Stop load, the sampler and the server; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.load.halt()
        # The load is cut: nobody waits for an answer any more, so the server need not
        # give requests in flight a grace period (an async request sleeping its 2 s delay
        # held the window's close for uvicorn's whole 1 s grace). Asked now, so that
        # uvicorn's shutdown ticks overlap with the generators' closing.
        self.demo.request_stop()
        await self.load.close()
        await self.measurement.stop()
        if self._opened:
            await self.demo.stop()
        await self.your_app.close()

    @property
    def closed(self) -> bool:
        """`close()` has begun."""
        return self._closed

    async def set_placement(self, placement: Placement) -> None:
        """Move the demo server (stopped first, started again where asked); only while the
        load is stopped. ServerStartError when the new one cannot start (the session then
        falls back to the window's loop)."""
        if self.running:
            raise ValueError("stop the load before moving the server")
        if placement == self.demo.placement:
            return
        before = self.demo.placement
        if not self._opened:
            self.demo.placement = placement
            return
        try:
            await self.demo.move(placement, threads=self.settings.threads)
        finally:
            self.load.mark("server", before.label, self.demo.placement.label)

    def worker_pids(self) -> list[int]:
        """The server's worker processes (none when it shares the window's loop)."""
        return self.demo.worker_pids()

    # -- load --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the load: a new run, its time axis from 0 (the run on screen before it,
        its series, probes and markers, goes; the response curve and the pins stay)."""
        if self.running or not self._opened or not self.demo.ready:
            return
        self.finished = None
        self.recorder.reset()
        self.measurement.restart_clock()
        self.comparison.begin_run()
        self.load.start()
        # The verdict is about the load: not the idle time (window start-up) before it.
        self.generator_health.restart()

    def halt(self) -> None:
        """The synchronous first half of a stop (LoadControl.halt); the run stays on
        screen (`finished`)."""
        self._finish_run()
        self.load.halt()

    async def stop(self, *, cut_in_flight: bool = True) -> None:
        """Stop all users. cut_in_flight drops requests in flight instead of waiting."""
        self._finish_run()
        await self.load.stop(cut_in_flight=cut_in_flight)

    def _finish_run(self) -> None:
        """Keep the run as it is at this instant (Stop), before the load goes."""
        if not self.running:
            return
        self.finished = finish_run(self.recorder, self.measurement.probes(), time.perf_counter())
        self.comparison.end_run(self.finished.ended_s)

    def users(self, scenario: str) -> int:
        return self.settings.users[scenario]

    def endpoints(self) -> tuple[str, ...]:
        """What runs at Start: the demo scenarios chosen, then the route of the user's own."""
        return self.load.endpoints()

    def set_scenarios(self, scenarios: tuple[str, ...]) -> None:
        """Which scenarios run; takes effect at the next start."""
        self.load.set_scenarios(scenarios)

    def set_users(self, users: int, scenario: str | None = None) -> list[str]:
        """Set the users of one scenario, or of all. Returns the scenarios whose value was
        capped (blocking: MAX_BLOCKING_USERS), for the window to say so."""
        return self.load.set_users(users, scenario)

    def restore_users(self, users: dict[str, int]) -> None:
        """Put users back as they were (after a sweep), with no marker."""
        self.load.restore_users(users)

    def set_mode(self, mode: str) -> None:
        """Closed loop (users) or open loop (arrival rate); takes effect at the next start."""
        self.load.set_mode(mode)

    def set_rate(self, rate: float) -> None:
        """Open loop: requests per second per scenario, live."""
        self.load.set_rate(rate)

    def set_delay(self, delay_ms: float) -> None:
        self.load.set_delay(delay_ms)

    def set_threads(self, threads: int) -> None:
        self.load.set_threads(threads)

    def apply(self, **lesson: Unpack[LessonLoad]) -> None:
        """Load a preset's settings (call while stopped)."""
        self.load.apply(**lesson)

    async def sweep(
        self,
        levels: Sequence[int],
        *,
        step_s: float,
        progress: ProgressCallback | None = None,
    ) -> list[RunResult]:
        """Run the scenarios at each level of users for `step_s`, through loadgen's sweep
        engine on this session's server, adding a response-curve point per level per
        scenario as each step ends. The live load stops first (the caller may start it
        again after); the sweep's requests feed the live charts. Cancel it to end it."""
        if self.running:  # the markers after it are between runs
            self.comparison.end_run(self.load.now_s())
        # The charts and the table show the sweep's load, not a run stopped before it.
        self.finished = None
        return await self.load.sweep(
            levels, step_s=step_s, on_result=self.measurement.add_result_point, progress=progress
        )

    # -- what the window shows ---------------------------------------------------------

    def reset(self) -> None:
        """Clear charts, curve, markers and figures, and the run kept after Stop (the load
        keeps its settings)."""
        self.finished = None
        self.recorder.reset()
        self.your_app.reset()
        self.measurement.reset()
        self.comparison.reset()

    def prediction(self, scenario: str) -> theory.Prediction:
        return self.predictions.prediction(scenario)

    def loop_hold(self, users: int | None = None) -> theory.LoopHold | None:
        """The blocking route holding the loop the others share (Predictions.loop_hold)."""
        return self.predictions.loop_hold(users)

    def snapshot(self) -> LabSnapshot:
        endpoints = self.endpoints()
        finished = self.finished
        return LabSnapshot(
            recorder=self.recorder.snapshot() if finished is None else finished.recorder,
            probes=self.measurement.probes() if finished is None else finished.probes,
            curve=self.measurement.curve(),
            running=self.running,
            scenarios=endpoints,
            users={name: self.settings.users[name] for name in endpoints},
            predictions={name: self.prediction(name) for name in endpoints},
            mode=self.settings.mode,
            rate=self.settings.rate,
            markers=self.markers.markers,
            run_start_s=self.comparison.run_start_s,
            pins=self.comparison.pins,
            settling=self.measurement.settling(),
            finished=finished,
        )

    def ui_busy(self, settle_s: float = UI_SETTLE_S) -> contextlib.AbstractContextManager[None]:
        """Wrap a repaint the window causes itself: its loop stall is not blamed on the
        generator (GeneratorHealth.ui_busy)."""
        return self.generator_health.ui_busy(settle_s)

    def settings_values(self) -> dict[str, str]:
        """The settings now, keyed as markers name them."""
        return self.comparison.settings_values()

    def settings_label(self, values: dict[str, str] | None = None, scenario: str = "") -> str:
        """Settings in a few words (pins, exports): those now, or `values`."""
        return self.comparison.settings_label(values, scenario)

    def pin(self) -> PinnedRun | None:
        """Freeze the current run for comparison (at most MAX_PINS, the oldest goes);
        None when nothing has been measured yet. Reset keeps the pins."""
        return self.comparison.pin(self.snapshot())

    def clear_pins(self) -> None:
        self.comparison.clear_pins()

    # -- the user's own app ------------------------------------------------------------

    async def load_app(self, spec: str, app_dir: str | None = ".") -> OwnTarget:
        """Import the user's app ("module:attribute", from `app_dir`), run its lifespan and
        serve it on 127.0.0.1 (OwnTarget.open_app), in place of the app or URL loaded
        before. ValueError (one line) when it cannot; the demo server is untouched."""
        if self.running:
            raise ValueError("stop the load before loading an app")
        return await self.your_app.load_app(spec, app_dir, threads=self.settings.threads)

    async def use_url(self, url: str, *, allow_remote: bool = False) -> str:
        """Point at a server already running; returns the "/path?query" the URL names
        (YourApp.use_url)."""
        if self.running:
            raise ValueError("stop the load before changing the target")
        return await self.your_app.use_url(url, allow_remote=allow_remote)

    def set_route(self, request: RouteRequest | None, *, users: int = 10) -> None:
        """The route of the user's own under load at the next Start, with `users` (then
        the users slider drives it as it drives a demo scenario); None: no route."""
        if self.running:
            raise ValueError("stop the load before changing the route")
        self.your_app.set_route(request, users=users)

    def block_sites(self) -> list[BlockSite]:
        """Where the user's code held the event loop, longest total first."""
        return self.your_app.block_sites()
