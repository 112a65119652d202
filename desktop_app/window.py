"""The main window: the control panel on the left; the run bar (Start/Stop, the sliders),
the charts and the figures table on the right.

`MainWindow` is the shell: it builds the layout, wires the parts below to the panel and
to each other, runs the load (Start, Stop, Reset, pins) and shuts everything down. Its
parts: `LessonDriver` (lessons, headline), `PlacementDriver` (where the server runs),
`LoadBinding` (the panel's load settings), `OwnAppDriver` ("Your app"), `SweepDriver`,
`WindowDialogs` (export, PNG, another machine), `WindowLook` (theme, presentation mode),
`WindowSettings` (what is remembered), `Banners` and `PaintTimers`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QFrame,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from loopscope.resources import resource_root

from .banners import Banners
from .charts import Charts
from .controls import ControlPanel
from .figures_table import FiguresTable
from .lesson_driver import LessonDriver
from .load_binding import LoadBinding
from .own_app_driver import OwnAppDriver
from .paint_timers import PaintTimers
from .placement_driver import PlacementDriver
from .presets import Preset, PresetCatalog, bundled_presets
from .projector_fit import ChartsScroll
from .session import LabSession, Placement
from .shell import PartContext
from .sweep_driver import SWEEP_STEP_S, SWEEP_USERS, SweepDriver
from .window_dialogs import EXPORT_COLUMNS as EXPORT_COLUMNS
from .window_dialogs import WindowDialogs
from .window_look import StyleSheets, WindowLook, WindowWidgets
from .window_settings import WindowSettings


class MainWindow(QMainWindow):
    """Turns user actions into session calls and paints session snapshots on timers."""

    closed = Signal()

    def __init__(
        self,
        session: LabSession,
        *,
        settings: QSettings | None = None,
        presets: PresetCatalog | None = None,
        styles: Path | None = None,
        notices: Sequence[str] = (),
        placement: Placement | None = None,
    ) -> None:
        """settings: where the last lesson, theme and window size are remembered (None in
        --autorun and tests, so runs are reproducible). presets: the lessons (default: the
        bundled ones); their loading problems are shown. styles: the folder of the style
        sheets (default: the bundled one). notices: start-up problems found before the
        window existed (shown, and said on stderr, once each). placement: where the server
        runs, from the command line (`gui --server-process --workers N`): it holds over
        the lessons' own until another lesson is chosen or the server is moved here."""
        super().__init__()
        self.session = session
        catalog = bundled_presets() if presets is None else presets
        self.setWindowTitle("LoopScope: async def vs def under load")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shutdown_done = False
        self._shutting_down = False

        self.controls = ControlPanel([p.name for p in catalog.presets])
        self.controls.setFixedWidth(400)
        self.banners = Banners(session)
        self.memory = WindowSettings(settings, self.banners.add_notice)
        context = PartContext(session, self.controls, self)
        self.dialogs = WindowDialogs(self, context, lambda: self.lessons.current.name)
        self.own = OwnAppDriver(context, self.dialogs)
        self.mover = PlacementDriver(context, forced=placement, show_placement=self._show_placement)
        self.lessons = LessonDriver(
            catalog.presets,
            context,
            placement=self.mover,
            settings=self.memory,
        )
        self.table = FiguresTable()
        sheets = resource_root() / "styles" if styles is None else styles
        self.look = WindowLook(
            self._build_layout(), session, StyleSheets(sheets, self.banners.add_notice)
        )
        self.painter = PaintTimers(
            self,
            session,
            self,
            self.table,
            (
                self.own.show_blocked,
                self.banners.show_health,
                self.banners.show_draining,
                # A preset, a route of the user's found to hold the loop: capped users.
                lambda: self.binding.show_capped(),
            ),
        )
        self.binding = LoadBinding(context, self.own.panel, self.painter.paint_text)
        self.sweeper = SweepDriver(
            context,
            show_running=self.binding.show_running,
            closing=lambda: self._shutting_down,
        )
        self._wire()
        for notice in (*notices, *catalog.problems):
            self.banners.add_notice(notice)
        self.look.apply_style()
        self.memory.restore(
            self.lessons.presets,
            apply_preset=self.apply_preset,
            restore_geometry=self.restoreGeometry,
            show_dark=self.controls.dark.setChecked,
        )
        self._show_placement(session.placement)

    def _build_layout(self) -> WindowWidgets:
        """The control panel (scrolling, and folding to a strip) beside a column of the
        headline, the banners, the charts (the look puts them at its top), the figures and
        what blocked the loop."""
        # The parts' widgets, named on the window as the tests and scripts know them.
        self.own_panel = self.own.panel
        self.own_toggle = self.own.toggle
        self.blocked = self.own.blocked
        self.headline = self.lessons.headline
        self.health_banner = self.banners.health_banner
        self.notice_banner = self.banners.notice_banner
        right = QVBoxLayout()
        # The title, Start/Stop, Pin, Reset and the sliders: in view at any size.
        self.controls.run_bar.set_title(self.headline)
        right.addWidget(self.controls.run_bar)
        right.addWidget(self.notice_banner)
        # Every chart keeps a readable least height (Charts._fit_rows); a screen too short
        # for all of them and the figures scrolls this column, never the run bar above.
        column = QWidget()
        charts_column = QVBoxLayout(column)
        charts_column.setContentsMargins(0, 0, 0, 0)
        charts_column.addWidget(self.table)
        charts_column.addWidget(self.own.blocked_heading)
        charts_column.addWidget(self.blocked)
        self.charts_scroll = ChartsScroll()
        self.charts_scroll.setWidget(column)
        self.charts_scroll.setWidgetResizable(True)
        self.charts_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.charts_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right.addWidget(self.charts_scroll, 1)
        # The generator's banner lies over the top of the charts, out of the layout: it
        # comes and goes during a run, and each time a row of its own came or went (or
        # stayed, empty) every chart was laid out and painted again at a new size.
        self.charts_scroll.hold_on_top(self.banners.health_row)
        central = QWidget()
        layout = QHBoxLayout(central)
        # The panel scrolls rather than forcing the window taller than a 1080p screen
        # (presentation mode's 16 pt controls need more height than that).
        self.controls_scroll = QScrollArea()
        self.controls_scroll.setWidget(self.controls)
        self.controls_scroll.setWidgetResizable(True)
        self.controls_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.controls_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.controls_scroll)
        # A narrow strip that folds the panel away, so the charts get the screen (presentation
        # mode does it on entering; the strip and F9 bring the panel back).
        self.panel_toggle = QToolButton()
        self.panel_toggle.setObjectName("panelToggle")
        self.panel_toggle.setAutoRaise(True)
        self.panel_toggle.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        layout.addWidget(self.panel_toggle)
        layout.addLayout(right, 1)
        self.setCentralWidget(central)
        self.resize(1600, 1000)
        return WindowWidgets(
            self,
            self.controls,
            self.controls_scroll,
            self.panel_toggle,
            charts_column,
            self.charts_scroll,
            self.table,
        )

    def _wire(self) -> None:
        """The panel's buttons and the keys to what they do."""
        controls, look = self.controls, self.look
        controls.preset_chosen.connect(self.lessons.choose)
        controls.start_stop_clicked.connect(self.toggle_running)
        controls.sweep_clicked.connect(self.sweeper.toggle)
        controls.export_clicked.connect(self.dialogs.export_dialog)
        controls.pin_clicked.connect(self.pin_run)
        controls.clear_pins_clicked.connect(self.clear_pins)
        controls.placement_changed.connect(self.mover.choose)
        controls.reset_clicked.connect(self.reset)
        controls.dark_toggled.connect(self.set_dark)
        controls.presentation_toggled.connect(self.set_presentation)
        controls.save_png_clicked.connect(self.dialogs.save_png_dialog)
        controls.export_trace_clicked.connect(self.dialogs.export_trace_dialog)
        self.panel_toggle.clicked.connect(lambda: look.show_controls(not look.controls_shown))
        keys: list[tuple[QKeySequence, Callable[[], object]]] = [
            (QKeySequence(Qt.Key.Key_Space), self.toggle_running),
            # Text fields keep Space for typing: Ctrl+Enter starts and stops from there too.
            (QKeySequence("Ctrl+Return"), self.toggle_running),
            (QKeySequence("Ctrl+Enter"), self.toggle_running),
            (QKeySequence(Qt.Key.Key_F11), lambda: controls.presentation.toggle()),
            (QKeySequence(Qt.Key.Key_F9), lambda: look.show_controls(not look.controls_shown)),
            (QKeySequence(Qt.Key.Key_Escape), lambda: controls.presentation.setChecked(False)),
        ]
        for sequence, action in keys:
            QShortcut(sequence, self).activated.connect(action)
        for sequence in _closing_keys():
            # One window: closing it is quitting, by the close button's own path.
            QShortcut(sequence, self).activated.connect(self.close)
        self._space_through = _SpaceThroughNumberFields(self)
        for box in self.findChildren(QAbstractSpinBox):
            box.installEventFilter(self._space_through)
        look.show_controls(True)

    # -- what the parts ask of the window (Shell) ------------------------------------------

    @property
    def charts(self) -> Charts:
        return self.look.charts

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine on the shared loop, owned by the window, errors shown."""
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.show_message(f"Error: {task.exception()}")

    @property
    def tasks(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks the window started and that have not finished yet."""
        return frozenset(self._tasks)

    def show_message(self, text: str) -> None:
        self.controls.status.setText(text)

    def refresh(self) -> None:
        """Paint everything now (charts, figures, health), not at the next timer ticks."""
        self.painter.paint_plots()
        self.painter.paint_text()

    def show_headline(self) -> None:
        self.lessons.show_headline()

    # -- the load -------------------------------------------------------------------------------

    def toggle_running(self) -> None:
        if self._shutting_down:
            return
        if self.sweeper.cancel():  # Stop during a sweep ends the sweep (and its load)
            return
        if self.session.running:
            # Here, in the click's own handler, not in the task: the blocking lesson's next
            # queued request may get the loop before the task's first step.
            self.session.halt()
            self.binding.show_running(False)
            # Closes what was halted, and only that: a Start right after goes on.
            self.spawn(self.session.load.finish_halt())
        else:
            self.start()

    def start(self) -> None:
        if not self.session.endpoints():
            self.show_message("Choose at least one endpoint to load.")
            return
        if not self.session.server_ready:
            self.show_message("The server is moving: Start again in a moment.")
            return
        self.session.start()
        self.binding.show_running(True)
        self.show_message("")

    async def stop(self) -> None:
        self.binding.show_running(False)
        await self.session.stop(cut_in_flight=True)

    def reset(self) -> None:
        self.session.reset()
        self.charts.clear()
        self.painter.paint_text()

    def pin_run(self) -> None:
        """Freeze the current run as a faint overlay, to compare with the next one."""
        pinned = self.session.pin()
        if pinned is None:
            self.show_message("Nothing to pin yet: start the load and let it run a few seconds.")
            return
        self.show_message(
            f"Pinned {pinned.number}: {pinned.label}. Change a setting and run again to compare."
        )
        self.refresh()

    def clear_pins(self) -> None:
        self.session.clear_pins()
        self.refresh()

    # -- the parts' actions, as the app, tests and scripts call them ---------------------------

    def apply_preset(self, preset: Preset) -> None:
        """Load a preset (stops the load first) and clear the charts."""
        self.lessons.apply(preset)

    @property
    def presets(self) -> tuple[Preset, ...]:
        return self.lessons.presets

    def move_server(self, placement: Placement) -> None:
        """Move the demo server (PlacementDriver.move); `settled()` awaits it."""
        self.mover.move(placement)

    async def settled(self) -> None:
        """Until the server has finished moving (a lesson or the Server choice moved it)."""
        await self.mover.settled()

    def _show_placement(self, placement: Placement) -> None:
        """What follows the server's place: the loop-lag chart's lines, the timeline, and
        "Your app" (served on this window's loop, so only beside a server there too)."""
        self.own.follow_placement(placement)
        self.charts.show_placement(placement)
        self.lessons.show_headline()

    def set_dark(self, dark: bool) -> None:
        self.memory.remember_dark(dark)
        self.look.set_dark(dark)

    def set_presentation(self, on: bool) -> None:
        self.look.set_presentation(on)

    def toggle_sweep(self) -> None:
        """Start a sweep over SWEEP_USERS, or cancel the one running."""
        self.sweeper.toggle()

    async def sweep(
        self, levels: tuple[int, ...] = SWEEP_USERS, step_s: float = SWEEP_STEP_S
    ) -> None:
        await self.sweeper.sweep(levels, step_s)

    def export_run(self, csv_path: Path) -> bool:
        return self.dialogs.export_run(csv_path)

    def save_charts_png(self, path: Path) -> bool:
        return self.dialogs.save_charts_png(path)

    @property
    def remote_question(self) -> QMessageBox | None:
        return self.dialogs.remote_question

    @property
    def notices(self) -> tuple[str, ...]:
        return self.banners.notices

    def show_own_panel(self, shown: bool) -> None:
        self.own.show_panel(shown)

    async def load_app(self, spec: str, app_dir: str = "") -> bool:
        return await self.own.load_app(spec, app_dir)

    def use_url(self, url: str) -> None:
        self.own.use_url(url)

    def choose_route(self, text: str) -> None:
        self.own.choose_route(text)

    # -- shutdown -------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._shutdown_done:
            event.accept()
            return
        # Shut the server down gracefully on the loop first, then close for real.
        event.ignore()
        if not self._shutting_down:
            self._shutting_down = True
            self.session.halt()  # at once, as Stop does (toggle_running: why)
            self.show_message("Stopping…")
            self.spawn(self._shutdown())

    async def _shutdown(self) -> None:
        self.memory.save_geometry(self.saveGeometry())
        self.painter.stop()
        self.sweeper.cancel()
        # Let every other task the window started (a Stop still closing its connections)
        # finish before the session goes: nothing may outlive it.
        others = [t for t in self._tasks if t is not asyncio.current_task()]
        await asyncio.gather(*others, return_exceptions=True)
        try:
            await self.session.close()
        finally:
            # Even when closing the session failed: the window goes and `closed` fires, or
            # whoever waits for it (the app, an --autorun) would wait for ever.
            self._shutdown_done = True
            self.close()
            self.closed.emit()


class _SpaceThroughNumberFields(QObject):
    """Lets Space through a number field to the window's Start/Stop shortcut.

    A spin box, like any text field, claims every printable key before shortcuts are
    tried (it accepts the ShortcutOverride event), so Space typed a space into the number
    and left it blank ("workers: ") instead of starting. A number has no use for a space."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Space
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
        ):
            return True  # swallowed unaccepted: the shortcut gets the key, the box does not
        return super().eventFilter(watched, event)


def _closing_keys() -> list[QKeySequence]:
    """The platform's Quit and Close keys, and Ctrl+Q / Ctrl+W where it binds none (the
    Windows scheme, also offscreen's, has no Quit key): each once, or Qt finds them
    ambiguous and fires neither."""
    found: dict[str, QKeySequence] = {}
    for standard in (QKeySequence.StandardKey.Quit, QKeySequence.StandardKey.Close):
        for sequence in QKeySequence.keyBindings(standard):
            found.setdefault(sequence.toString(), sequence)
    for text in ("Ctrl+Q", "Ctrl+W"):
        found.setdefault(QKeySequence(text).toString(), QKeySequence(text))
    return list(found.values())
