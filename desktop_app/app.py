"""Start-up of the desktop app: QApplication, one qasync loop, the session, the window.

The command line (`loopscope gui`, in the entry package) calls `run_gui`."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from loopscope.embedded_server import ServerStartError
from loopscope.loadgen import freeze_startup_objects, gc_tuned_for_load
from loopscope.loadgen.export import health_record, summary_record, write_json
from loopscope.resources import resource_root

from .presets import Preset, bundled_presets, preset_named

if TYPE_CHECKING:  # Qt is imported only once the app starts (the CLI imports this module)
    from loopscope.loadgen.health import HealthVerdict

    from .session import LabSession
    from .window import MainWindow


class DisplayError(RuntimeError):
    pass


@dataclass(frozen=True, kw_only=True, slots=True)
class GuiOptions:
    preset: str | None = None
    autorun_s: float | None = None
    screenshot: Path | None = None
    json_path: Path | None = None
    port: int = 0
    # The user's own app (module:attribute), the folder it imports from, and its route
    # under load ("GET /items"; None: the picker's first that can be sent as it is).
    app: str | None = None
    app_dir: str = "."
    route: str | None = None
    # `--server-process` / `--workers N`: the demo server in processes of its own.
    server_process: bool = False
    workers: int = 1
    # `--size WxH`, `--presentation`, `--theme light|dark`: how the window opens.
    size: tuple[int, int] | None = None
    presentation: bool = False
    theme: str | None = None


def check_display() -> None:
    """No display and no offscreen platform: say so in one line rather than let Qt abort."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("QT_QPA_PLATFORM")
    ):
        raise DisplayError(
            "no display found: run it on a desktop, or set QT_QPA_PLATFORM=offscreen "
            "for a headless --autorun"
        )


def autorun_figures(
    window: MainWindow,
    preset: Preset,
    measured_s: float,
    lag_ms: list[float],
    health: HealthVerdict | None = None,
) -> dict[str, Any]:
    """The `gui --autorun --json` figures: each scenario's record (the one `run --json`
    writes for its measurement, with its users), the async/sync ratio, the loop lag and
    the generator's health over the measured interval (`run --json`'s `generator_health`)."""
    session = window.session
    scenarios: dict[str, dict[str, Any]] = {
        name: {
            "users": session.users(name),
            **summary_record(session.recorder.summary(name), session.prediction(name)),
        }
        for name in session.endpoints()
    }
    figures: dict[str, Any] = {
        "preset": preset.name,
        "measured_s": round(measured_s, 3),
        "delay_ms": session.delay_ms,
        "threads": session.threads,
        # Where the server ran: this loop, or its own process with this many workers.
        "server_process": session.placement.process,
        "workers": session.placement.workers,
        "scenarios": scenarios,
        # The window's loop (the server's too, unless it ran in its own process).
        "loop_lag_ms": {
            "p99": round(float(np.percentile(lag_ms, 99)), 3) if lag_ms else None,
            "max": round(max(lag_ms), 3) if lag_ms else None,
        },
        "generator_health": health_record(health),
    }
    if session.own is not None:
        figures["app"] = session.own.name
        figures["blocked_loop"] = [site.to_json() for site in session.block_sites()]
    if "async" in scenarios and "sync" in scenarios:
        measured = [scenarios[n]["throughput_rps"] for n in ("async", "sync")]
        theory = [scenarios[n]["theory"]["throughput_rps"] for n in ("async", "sync")]
        if measured[1] and theory[1]:  # None or 0: nothing to divide by
            figures["async_over_sync"] = {
                "measured": round(measured[0] / measured[1], 3),
                "theory": round(theory[0] / theory[1], 3),
            }
    return figures


def _save_outputs(window: MainWindow, figures: dict[str, Any], options: GuiOptions) -> list[str]:
    """Write the asked-for outputs; one that fails does not stop the other. Returns one
    description per failure (the option, its path and why)."""
    failed: list[str] = []
    if options.screenshot is not None:
        # Written beside and renamed: a full disk leaves no truncated picture.
        partial = options.screenshot.with_name(f".{options.screenshot.name}.{os.getpid()}.png")
        try:
            options.screenshot.parent.mkdir(parents=True, exist_ok=True)
            # QPixmap.save says only True/False: no reason to give beyond the path.
            if window.grab().save(str(partial)):
                os.replace(partial, options.screenshot)
            else:
                partial.unlink(missing_ok=True)
                failed.append(f"--screenshot {options.screenshot} (the picture was not written)")
        except OSError as exc:
            partial.unlink(missing_ok=True)
            failed.append(f"--screenshot {options.screenshot} ({exc.strerror or exc})")
    if options.json_path is not None:
        try:
            write_json(options.json_path, figures)
        except OSError as exc:
            failed.append(f"--json {options.json_path} ({exc.strerror or exc})")
    return failed


async def _until(interrupt: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` (the run's own duration, not synchronisation); True when the
    interrupt came first."""
    try:
        await asyncio.wait_for(interrupt.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def _autorun_measure(
    window: MainWindow, preset: Preset, options: GuiOptions, interrupt: asyncio.Event
) -> int:
    """Run the preset, save and print the figures; 1 when an output could not be saved.
    `interrupt` set (a signal) ends the run early: what was measured is saved, marked."""
    import time

    assert options.autorun_s is not None
    session = window.session
    warmup = min(2.0, options.autorun_s / 4)
    await window.settled()  # a lesson may have moved the server (its own process)
    window.start()
    stopped = await _until(interrupt, warmup)
    session.recorder.begin_measurement()
    session.measurement.begin_health_period()
    lag_from = time.perf_counter()
    if not stopped:
        await _until(interrupt, options.autorun_s - warmup)
    session.recorder.end_measurement()
    health = session.measurement.end_health_period()
    measured_s = time.perf_counter() - lag_from
    lag_ms = [lag * 1000 for lag in session.window_loop_lag.lags_since(lag_from)]
    window.refresh()
    figures = autorun_figures(window, preset, measured_s, lag_ms, health)
    if interrupt.is_set():
        figures["partial"] = True
    failed = _save_outputs(window, figures, options)
    for name, row in figures["scenarios"].items():
        rps = row["throughput_rps"]  # None when nothing was measured
        theory = row["theory"]["throughput_rps"]  # None for a route of the user's own
        print(
            f"{name:>18}: {row['users']} users, {'–' if rps is None else f'{rps:.1f}'} req/s "
            f"(theory {'–' if theory is None else f'{theory:.1f}'}), "
            f"p50 {row['latency_ms']['p50']} ms, "
            f"p99 {row['latency_ms']['p99']} ms, errors {sum(row['errors'].values())}"
        )
    if failed:
        print(f"loopscope: not saved: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


async def _autorun(
    window: MainWindow, preset: Preset, options: GuiOptions, interrupt: asyncio.Event
) -> int:
    """The whole --autorun: whatever fails in it, the load stops and the window closes (a
    script or CI job waiting on us must never hang), with one line and status 1."""
    try:
        status = await _autorun_measure(window, preset, options, interrupt)
    except asyncio.CancelledError:
        raise  # the window was closed (Ctrl+C): it is shutting down by itself
    except Exception as exc:  # any failure must end the run, said in one line
        print(f"loopscope: the autorun failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 1
    try:
        await window.stop()
    except Exception as exc:  # closing below shuts everything down anyway
        print(f"loopscope: stopping the load failed: {exc}", file=sys.stderr)
        status = 1
    window.close()
    return status


async def _load_own_app(window: MainWindow, options: GuiOptions) -> bool:
    """`gui --app`: load the app into the window and put its route under load (--route,
    or with --autorun the first the picker can send as it is). False when it failed (the
    panel says why)."""
    assert options.app is not None
    if not await window.load_app(options.app, options.app_dir):
        return False
    own = window.session.own
    route = options.route
    if route is None and options.autorun_s is not None and own is not None:
        ready = [op for op in own.operations if op.ready]
        route = ready[0].label if ready else None
    if route is not None:
        window.choose_route(route)
        if window.session.route is None:
            return False
    return True


def _report_startup() -> None:
    """With LOOPSCOPE_STARTUP_T0 (a `date +%s.%N` taken before launch), say how long the
    window took to appear: the packaging smoke test reports it."""
    import time

    t0 = os.environ.get("LOOPSCOPE_STARTUP_T0")
    if t0:
        try:
            print(
                f"loopscope: window shown {time.time() - float(t0):.2f} s after launch",
                file=sys.stderr,
            )
        except ValueError:
            pass


class _Interrupts:
    """Ctrl+C in the terminal (or a SIGTERM) closes the window the normal way: graceful
    shutdown, and a server process with its workers ends with it. Before the window
    exists (the server still starting: its workers may be up already) it cancels the
    start, which stops what started. During --autorun the first signal ends the run
    early (`event`) and saves what it measured. Made on the task of the app's life."""

    def __init__(self, *, autorun: bool) -> None:
        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        self._autorun = autorun
        # Once set, a signal closes it.
        self.window: MainWindow | None = None
        self.signalled: list[signal.Signals] = []
        self.event = asyncio.Event()
        self._previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in self._previous:
            signal.signal(sig, self._on_signal)

    def _react(self) -> None:
        if self.window is not None and self._autorun and not self.event.is_set():
            self.event.set()
        elif self.window is not None:
            self.window.close()
        elif self._main is not None:
            self._main.cancel()

    def _on_signal(self, signum: int, _: object) -> None:
        self.signalled.append(signal.Signals(signum))
        self._loop.call_soon_threadsafe(self._react)

    def restore(self) -> None:
        """Put back the handlers there were before."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def exit_status(self) -> int:
        """The shell's convention for the first signal: 130, 143."""
        return 128 + int(self.signalled[0])

    def interrupted(self, cancelled: asyncio.CancelledError) -> int:
        """A cancellation a signal caused: said, and its exit status; any other goes on."""
        if not self.signalled:
            raise cancelled
        print(f"loopscope: interrupted by {self.signalled[0].name}", file=sys.stderr)
        return self.exit_status()


async def _open_session(session: LabSession, options: GuiOptions, interrupts: _Interrupts) -> int:
    """Start the session (its demo server): 0, or the exit status when it did not start
    (said in a dialog, or only on stderr in --autorun; the session is closed then)."""
    from PySide6.QtWidgets import QMessageBox

    try:
        await session.open()
    except ServerStartError as exc:
        if options.autorun_s is None:
            QMessageBox.critical(None, "LoopScope", f"The demo server could not start.\n\n{exc}")
        print(f"loopscope: {exc}", file=sys.stderr)
        await session.close()
        interrupts.restore()
        return 1
    except asyncio.CancelledError as cancelled:
        await session.close()
        interrupts.restore()
        return interrupts.interrupted(cancelled)
    return 0


async def _autorun_until_closed(
    window: MainWindow,
    preset: Preset,
    options: GuiOptions,
    interrupts: _Interrupts,
    closed: asyncio.Future[None],
) -> int:
    """Run --autorun until the window is `closed` (the autorun closes it, or a signal);
    its exit status, and with a signal what was saved of the partial result."""
    autorun = asyncio.get_running_loop().create_task(
        _autorun(window, preset, options, interrupts.event)
    )
    await closed
    if not autorun.done():
        autorun.cancel()
    try:
        status = await autorun
    except asyncio.CancelledError:
        status = 1
    if interrupts.signalled:
        saved = [
            f"{o} {p}"
            for o, p in (("--json", options.json_path), ("--screenshot", options.screenshot))
            if p
        ]
        where = f"; wrote {' and '.join(saved)}" if saved and status == 0 else ""
        print(
            f"loopscope: interrupted by {interrupts.signalled[0].name}: partial result{where}",
            file=sys.stderr,
        )
        return interrupts.exit_status()
    return status


async def run_window(options: GuiOptions) -> int:
    """The app's life on the running qasync loop; returns the exit status."""
    from PySide6.QtCore import QSettings

    from .session import LabSession, Placement
    from .window import MainWindow

    icon_problem = set_window_icon()
    catalog = bundled_presets()
    preset = catalog.named(options.preset) if options.preset else catalog.presets[0]
    notices = [] if icon_problem is None else [icon_problem]
    # Given on the command line, the placement holds over the lesson's own (MainWindow).
    placement = Placement(process=True, workers=options.workers) if options.server_process else None
    session = LabSession(port=options.port, placement=placement)
    interrupts = _Interrupts(autorun=options.autorun_s is not None)
    status = await _open_session(session, options, interrupts)
    if status:
        return status
    try:
        # --autorun is reproducible: it neither reads nor writes the remembered settings.
        settings = None if options.autorun_s is not None else QSettings("LoopScope", "LoopScope")
        window = MainWindow(
            session, settings=settings, presets=catalog, notices=notices, placement=placement
        )
        closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def window_closed() -> None:
            if not closed.done():
                closed.set_result(None)

        window.closed.connect(window_closed)
        interrupts.window = window  # from now on a signal closes it
        if options.preset or options.autorun_s is not None:
            window.apply_preset(preset)
        if options.app is not None and not await _load_own_app(window, options):
            print(f"loopscope: {window.own_panel.message.text()}", file=sys.stderr)
            if options.autorun_s is not None:
                return 1
        show_window(window, options)
        _report_startup()
        # The window is built: later collections skip all of it. No collection now (run_gui
        # ran one before the loop): it would stop the loop the lag chart has just begun.
        freeze_startup_objects(collect=False)
        if options.autorun_s is None:
            await closed
            return 0
        return await _autorun_until_closed(window, preset, options, interrupts, closed)
    except asyncio.CancelledError as cancelled:
        # A signal that came as the server finished starting, before the window existed.
        return interrupts.interrupted(cancelled)
    finally:
        interrupts.restore()
        # Also when building the window failed: the embedded server must not outlive us.
        await session.close()


def show_window(window: MainWindow, options: GuiOptions) -> None:
    """Show the window in the theme, mode and size the command line asked for, for this
    launch only: what the user chooses in the window is what is remembered."""
    if options.theme is not None:
        with window.memory.for_this_launch():
            window.controls.dark.setChecked(options.theme == "dark")
    if options.presentation or options.size is not None:
        window.memory.keep_geometry()
    if options.presentation:
        window.controls.presentation.setChecked(True)  # full screen, unless a size is given
    if options.size is not None:
        window.showNormal()
        window.resize(*options.size)
    window.show()


def set_window_icon(path: Path | None = None) -> str | None:
    """Give the app its icon (default: the bundled one). A missing or unreadable file is a
    problem to say (the returned line), not a reason not to start."""
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    path = resource_root() / "icons" / "loopscope.png" if path is None else path
    icon = QIcon(str(path))
    if icon.isNull():  # what QIcon makes of a missing or unreadable file, silently
        return f"Icon {path} is missing or unreadable: started without it."
    QApplication.setWindowIcon(icon)
    return None


def run_gui(options: GuiOptions) -> int:
    """Entry point: raises ValueError for a bad preset, DisplayError without a display."""
    if options.preset is not None:
        preset_named(options.preset)
    from .source_cache import stop_pyside_source_caching

    stop_pyside_source_caching()  # before the many imports of the window (30 MiB)
    from ._compat import check as check_libraries  # qasync's, asyncio's, shiboken's internals

    check_libraries()  # one line naming the library that changed, before it is relied on
    check_display()
    from PySide6.QtWidgets import QApplication

    from .event_loop import LabEventLoop

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("LoopScope")
    # The window drives shutdown itself: quitting on last-window-close would stop the loop
    # before uvicorn's graceful shutdown finished.
    app.setQuitOnLastWindowClosed(False)
    from .gc_guard import MainThreadGarbageCollector

    # 1000 requests in flight share this loop (loadgen/_gc_policy.py); the start-up objects
    # are frozen once the window is built (run_window). Qt objects must never be freed on
    # one of the server's worker threads: collection is paced on this one (gc_guard.py).
    collector = MainThreadGarbageCollector()
    gc.collect()  # the imports' garbage, before the loop (and its lag chart) starts
    with gc_tuned_for_load(freeze=False, paced=False):
        collector.start()
        try:
            with asyncio.Runner(loop_factory=LabEventLoop) as runner:
                return runner.run(run_window(options))
        finally:
            collector.stop()
