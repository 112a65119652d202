"""The main window: controls on the left, charts and the figures table on the right."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QImage, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from loopscope.embedded_server import SCENARIOS
from loopscope.loadgen import SweepProgress, export
from loopscope.loadgen.health import UI_PAINT_SETTLE_S
from loopscope.resources import resource_root

from .annotations import settings_at
from .charts import Charts, ChartStyle
from .controls import ControlPanel
from .own_app import (
    RemoteHostError,
    fits,
    operation_target,
    parse_headers,
    route_request,
    split_url,
)
from .own_app_panel import BlockedLoopTable, OwnAppPanel
from .palette import endpoint_colours
from .presets import Preset, PresetCatalog, bundled_presets
from .session import LabSession, LabSnapshot, Placement

# Probe charts (in flight, threads, loop lag) redraw 4 times a second: enough to watch a
# freeze start and end; each redraw costs a few ms of the loop the server shares.
PLOT_PERIOD_MS = 250
# The recorder's series only change once a window (1 s), and text changing faster than
# that cannot be read: table, throughput/latency charts and the curve refresh each second.
TEXT_PERIOD_MS = 1000

TABLE_COLUMNS = (
    "Endpoint",
    "Load",
    "req/s",
    "theory req/s",
    "p50 ms",
    "theory ms",
    "p99 ms",
    "errors/s",
)


def _fmt(value: float, digits: int = 0) -> str:
    if math.isinf(value):
        return "∞"  # open loop past capacity: theory's latency grows without bound
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


# The sweep's levels and step length: 7 levels × 5 s, each long enough for two clean
# 1 s windows after a second of settling.
SWEEP_USERS = (1, 5, 10, 25, 50, 100, 200)
SWEEP_STEP_S = 5.0


# Rows the figures table always has room for.
TABLE_MIN_ROWS = 2


class FiguresTable(QTableWidget):
    """The figures per endpoint, as tall as its rows (up to `max_height`; then it scrolls):
    the height a lesson's two endpoints leave empty goes to the charts (at 1920 x 1080 in
    presentation mode the fixed 180 px left three empty rows under a two-row table)."""

    def __init__(self) -> None:
        super().__init__(0, len(TABLE_COLUMNS))
        self.setHorizontalHeaderLabels(list(TABLE_COLUMNS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.horizontalHeader().setStretchLastSection(True)
        self.max_height = 150
        self.fit_height()

    def fit_height(self) -> None:
        """Room for the rows there are (two at least: one more ticked moves nothing)."""
        self.ensurePolished()  # the style sheet's font decides the rows' height
        rows = max(self.rowCount(), TABLE_MIN_ROWS)
        wanted = (
            self.horizontalHeader().sizeHint().height()
            + rows * self.verticalHeader().defaultSectionSize()
            + 2 * self.frameWidth()
            + self.horizontalScrollBar().sizeHint().height()  # room if columns overflow
        )
        self.setFixedHeight(min(wanted, self.max_height))

    def show_snapshot(self, snap: LabSnapshot) -> None:
        if self.rowCount() != len(snap.scenarios):
            self.setRowCount(len(snap.scenarios))
            self.fit_height()
        colours = endpoint_colours(list(snap.scenarios))
        for row, name in enumerate(snap.scenarios):
            series = snap.recorder.scenarios.get(name)
            last = series.last if series is not None else None
            prediction = snap.predictions[name]
            load = (
                f"{snap.rate:g} req/s"
                if snap.mode == "open"
                else f"{snap.users.get(name, 0)} users"
            )
            if name in snap.settling:
                # Measured latency is above theory until then: say why (session: settling).
                load += " (settling: the queue is draining)"
            cells = [
                name,
                load,
                _fmt(last.rate_rps, 1) if last else "–",  # non-aliasing (RateEstimator)
                _fmt(prediction.throughput_rps, 1),
                _fmt(last.latency.p50) if last else "–",
                _fmt(prediction.latency_ms),
                _fmt(last.latency.p99) if last else "–",
                _fmt(last.error_rps, 1) if last else "–",
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0:
                    item.setForeground(QBrush(QColor(colours[name])))
                else:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.setItem(row, column, item)
        self.resizeColumnsToContents()


# Banners (background, text, border) per theme: set here, not in the .qss files, so that
# they stay readable even when a style sheet is missing.
_BANNER_COLOURS = {
    False: {
        "healthBanner": ("#FFF1E0", "#8A3B00", "#E0A060"),
        "noticeBanner": ("#FDECEC", "#8A1020", "#E09090"),
    },
    True: {
        "healthBanner": ("#3A2B1C", "#FFB37A", "#8A5A2A"),
        "noticeBanner": ("#3A1F24", "#FF9AA5", "#8A3A44"),
    },
}


def _themed_sheet(*, dark: bool, font_pt: int) -> str:
    """The banners in the theme's colours, and check boxes drawn by the style sheet: Qt's
    own indicator vanishes on a dark background when unchecked and does not grow with the
    fonts (presentation mode)."""
    rules = [
        f"QLabel#{name} {{ background: {bg}; color: {fg}; border: 1px solid {border};"
        " border-radius: 6px; padding: 6px; }"
        for name, (bg, fg, border) in _BANNER_COLOURS[dark].items()
    ]
    box, edge, on = ("#2A2F36", "#9AA3AD", "#1F8AD2") if dark else ("#FFFFFF", "#5A6470", "#0072B2")
    size = round(font_pt * 1.3)
    rules.append(
        f"QCheckBox::indicator {{ width: {size}px; height: {size}px; border: 2px solid {edge};"
        f" border-radius: 3px; background: {box}; }}"
        f" QCheckBox::indicator:checked {{ background: {on}; border-color: {on}; }}"
        f" QCheckBox::indicator:disabled {{ border-color: #888888; }}"
    )
    return "\n" + "\n".join(rules)


# The window's Export: `run --csv`'s columns, then what a CSV alone in a folder must say.
EXPORT_COLUMNS = (*export.WINDOW_COLUMNS, "lesson", "settings", "marker")


@dataclass(slots=True)
class Remembered:
    """What the settings file says, checked: each value of the right type and range, or
    the default with the key listed in `ignored`."""

    lesson: Preset
    dark: bool = False
    geometry: QByteArray | None = None
    ignored: list[str] = field(default_factory=list)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_settings(settings: QSettings, presets: Sequence[Preset]) -> Remembered:
    """Read the remembered lesson, theme and geometry. QSettings coerces whatever it finds
    (`dark=banana` reads as true with type=bool), so each raw value is checked here."""
    remembered = Remembered(lesson=presets[0])
    bad: list[str] = []
    lesson = settings.value("lesson")
    if lesson is not None:
        found = next((p for p in presets if isinstance(lesson, str) and p.name == lesson), None)
        if found is None:
            what = "is not a lesson" if isinstance(lesson, str) else "is not a name"
            bad.append(f"lesson={_shown(lesson)} ({what})")
        else:
            remembered.lesson = found
    dark = settings.value("view/dark")
    if dark is not None:
        # The ini format stores booleans as the words true/false; anything else is garbage.
        word = str(dark).lower() if isinstance(dark, str | bool) else None
        if word in ("true", "false"):
            remembered.dark = word == "true"
        else:
            bad.append(f"view/dark={_shown(dark)} (not true or false)")
    geometry = settings.value("window/geometry")
    if geometry is not None:
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            remembered.geometry = geometry
        else:
            bad.append("window/geometry (not a saved window geometry)")
    remembered.ignored = bad
    return remembered


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
        self._forced_placement = placement
        self._move_task: asyncio.Task[Any] | None = None
        # Where the last move asked the server to go (moves queue: `_move_server`).
        self._wanted_placement = session.placement
        self._settings = settings
        catalog = bundled_presets() if presets is None else presets
        self._presets = catalog.presets
        self._styles = resource_root() / "styles" if styles is None else styles
        self._notices: list[str] = []
        self._settings_problem_said = False
        self._dark = False
        self._presentation = False
        self._retired_charts: list[Charts] = []
        self.setWindowTitle("LoopScope: async def vs def under load")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shutdown_done = False
        self._shutting_down = False
        self._preset: Preset = self._presets[0]

        self.controls = ControlPanel([p.name for p in self._presets])
        self.controls.setFixedWidth(400)
        # "Your app" sits under the demo's endpoints: its route is one more endpoint.
        self.own_panel = OwnAppPanel()
        controls_layout = self.controls.layout()
        assert isinstance(controls_layout, QVBoxLayout)
        # Folded until wanted: a lesson needs the room for its card and sliders.
        self.own_toggle = QToolButton()
        self.own_toggle.setObjectName("ownToggle")
        self.own_toggle.setCheckable(True)
        self.own_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.own_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.own_toggle.setText("Your app: load your own FastAPI app or a URL")
        self.own_toggle.setAutoRaise(True)
        self.own_toggle.toggled.connect(self.show_own_panel)
        controls_layout.insertWidget(2, self.own_toggle)
        controls_layout.insertWidget(3, self.own_panel)
        self.own_panel.hide()
        self.remote_question: QMessageBox | None = None
        self.charts = Charts(session)
        self.table = FiguresTable()
        self.headline = QLabel()
        self.headline.setObjectName("headline")
        self.health_banner = QLabel()
        self.health_banner.setObjectName("healthBanner")
        self.health_banner.setWordWrap(True)
        # The banner comes and goes with the verdict; its row stays until the run stops.
        # Each time the row came or went, every chart was laid out and painted again at a
        # new size (~125 ms of the loop, twice at the start of a 1000-user run), and the
        # charts jumped on the screen.
        keep = self.health_banner.sizePolicy()
        keep.setRetainSizeWhenHidden(True)
        self.health_banner.setSizePolicy(keep)
        self.health_banner.hide()
        self.health_row = QWidget()
        health_layout = QVBoxLayout(self.health_row)
        health_layout.setContentsMargins(0, 0, 0, 0)
        health_layout.addWidget(self.health_banner)
        self.health_row.hide()
        # Start-up problems (a skipped preset, a missing style sheet, settings that were
        # ignored or cannot be saved): said once, and kept in view rather than in the status
        # line, which every action overwrites.
        self.notice_banner = QLabel()
        self.notice_banner.setObjectName("noticeBanner")
        self.notice_banner.setWordWrap(True)
        self.notice_banner.setTextFormat(Qt.TextFormat.PlainText)
        self.notice_banner.hide()
        right = QVBoxLayout()
        right.addWidget(self.headline)
        right.addWidget(self.notice_banner)
        right.addWidget(self.health_row)
        right.addWidget(self.charts, 1)
        right.addWidget(self.table)
        # Where the user's code held the loop: shown once there is something to show.
        self.blocked_heading = QLabel("What blocked the event loop (your app)")
        self.blocked_heading.setObjectName("blockedHeading")
        self.blocked = BlockedLoopTable()
        self.blocked.setFixedHeight(120)
        right.addWidget(self.blocked_heading)
        right.addWidget(self.blocked)
        self.blocked_heading.hide()
        self.blocked.hide()
        self._right = right
        central = QWidget()
        layout = QHBoxLayout(central)
        # The panel scrolls rather than forcing the window taller than a 1080p screen
        # (presentation mode's 16 pt controls need more height than that).
        self._controls_scroll = QScrollArea()
        self._controls_scroll.setWidget(self.controls)
        self._controls_scroll.setWidgetResizable(True)
        self._controls_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._controls_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self._controls_scroll)
        # A narrow strip that folds the panel away, so the charts get the screen (presentation
        # mode does it on entering; the strip and F9 bring the panel back).
        self.panel_toggle = QToolButton()
        self.panel_toggle.setObjectName("panelToggle")
        self.panel_toggle.setAutoRaise(True)
        self.panel_toggle.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self._controls_shown: bool = True
        self.panel_toggle.clicked.connect(lambda: self.show_controls(not self._controls_shown))
        layout.addWidget(self.panel_toggle)
        layout.addLayout(right, 1)
        self.setCentralWidget(central)
        self.resize(1600, 1000)

        self.controls.preset_chosen.connect(self._choose_preset)
        self.controls.scenarios_changed.connect(self._scenarios_changed)
        self.controls.users_changed.connect(self._users_changed)
        self.controls.delay_changed.connect(self._delay_changed)
        self.controls.threads_changed.connect(self.session.set_threads)
        self.controls.start_stop_clicked.connect(self.toggle_running)
        self.controls.mode_changed.connect(self._mode_changed)
        self.controls.rate_changed.connect(self.session.set_rate)
        self.controls.sweep_clicked.connect(self.toggle_sweep)
        self.controls.export_clicked.connect(self._export_dialog)
        self.controls.pin_clicked.connect(self.pin_run)
        self.controls.clear_pins_clicked.connect(self.clear_pins)
        self.controls.placement_changed.connect(self._placement_chosen)
        self._sweep_task: asyncio.Task[Any] | None = None
        self.controls.reset_clicked.connect(self.reset)
        self.controls.dark_toggled.connect(self.set_dark)
        self.controls.presentation_toggled.connect(self.set_presentation)
        self.controls.save_png_clicked.connect(self._save_png_dialog)
        self.own_panel.load_clicked.connect(
            lambda spec, folder: self.spawn(self.load_app(spec, folder))
        )
        self.own_panel.url_clicked.connect(self.use_url)
        self.own_panel.route_changed.connect(self._route_changed)
        self._space = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        self._space.activated.connect(self.toggle_running)
        self._f11 = QShortcut(QKeySequence(Qt.Key.Key_F11), self)
        self._f11.activated.connect(lambda: self.controls.presentation.toggle())
        self._f9 = QShortcut(QKeySequence(Qt.Key.Key_F9), self)
        self._f9.activated.connect(lambda: self.show_controls(not self._controls_shown))
        self.show_controls(True)
        self._escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self._escape.activated.connect(lambda: self.controls.presentation.setChecked(False))

        self._plot_timer = QTimer(self)
        self._plot_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._plot_timer.timeout.connect(self._plot_tick)
        self._plot_timer.start(PLOT_PERIOD_MS)
        self._plot_ticks = 0
        # The text refresh runs half a probe period after every fourth probe refresh, so
        # that the two stall the loop apart and are painted apart: on two timers of their
        # own they drifted into one frame (~30-40 ms of the loop instead of two of ~5-25).
        self._text_timer = QTimer(self)
        self._text_timer.setSingleShot(True)
        self._text_timer.timeout.connect(self._paint_text)
        for notice in (*notices, *catalog.problems):
            self.add_notice(notice)
        self._apply_style()
        if settings is None:
            self.apply_preset(self._presets[0])
        else:
            self._restore(settings)
        self._show_placement()

    def _restore(self, settings: QSettings) -> None:
        """Apply the remembered settings that are valid, say once which were not, and check
        the settings file can be written at all (a folder or a read-only file cannot)."""
        remembered = read_settings(settings, self._presets)
        self.apply_preset(remembered.lesson)
        if remembered.geometry is not None and not self.restoreGeometry(remembered.geometry):
            remembered.ignored.append("window/geometry (not a saved window geometry)")
        self.controls.dark.setChecked(remembered.dark)
        if remembered.ignored:
            # Garbage is replaced by the default (apply_preset wrote the lesson already), so it
            # is said once, not at every start.
            for key in ("view/dark", "window/geometry"):
                if any(item.startswith(key) for item in remembered.ignored):
                    settings.remove(key)
            self.add_notice(
                f"Ignored settings in {settings.fileName()}: {'; '.join(remembered.ignored)}; "
                "the defaults are used."
            )
        settings.sync()
        self._check_settings_saved()

    def _check_settings_saved(self) -> None:
        """Say once when the settings file cannot be read or written: otherwise the lesson,
        theme and window size would silently be forgotten."""
        if self._settings is None or self._settings_problem_said:
            return
        status = self._settings.status()
        if status != QSettings.Status.NoError:
            self._settings_problem_said = True
            reason = (
                "cannot be written"
                if status == QSettings.Status.AccessError
                else "is not a settings file"
            )
            self.add_notice(
                f"Settings file {self._settings.fileName()} {reason}: the lesson, theme and "
                "window size will not be remembered."
            )

    def add_notice(self, text: str) -> None:
        """Show a start-up problem in the window and say it on stderr, once each."""
        if text in self._notices:
            return
        self._notices.append(text)
        print(f"loopscope: {text}", file=sys.stderr, flush=True)
        self.notice_banner.setText("\n".join(self._notices))
        self.notice_banner.show()

    @property
    def notices(self) -> tuple[str, ...]:
        return tuple(self._notices)

    # -- tasks -----------------------------------------------------------------------------

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

    def show_message(self, text: str) -> None:
        self.controls.status.setText(text)

    # -- actions ------------------------------------------------------------------------------

    def apply_preset(self, preset: Preset) -> None:
        """Load a preset (stops the load first) and clear the charts."""
        if self.session.running:
            self.show_message("Stop the load before changing the lesson.")
            self._show_preset_index(self._presets.index(self._preset))
            return
        self._preset = preset
        placement = self._forced_placement or Placement(
            process=preset.server_process, workers=preset.workers
        )
        self.controls.show_placement(placement.process, placement.workers)
        if placement != self._wanted_placement:
            self.move_server(placement)
        self.session.apply(
            scenarios=preset.scenarios,
            users=preset.users,
            delay_ms=preset.delay_ms,
            threads=preset.threads,
            iterations=preset.iterations,
            fanout=preset.fanout,
        )
        self.controls.show_settings(
            scenarios=preset.scenarios,
            users=preset.users,
            delay_ms=preset.delay_ms,
            threads=preset.threads,
            explanation=preset.explanation,
        )
        self._show_preset_index(self._presets.index(preset))
        self.charts.show_timeline(preset.view == "timeline")
        self._show_headline()
        if self._settings is not None:
            self._settings.setValue("lesson", preset.name)
        self.reset()

    @property
    def presets(self) -> tuple[Preset, ...]:
        return self._presets

    # -- view ---------------------------------------------------------------------------------

    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        if self._settings is not None:
            self._settings.setValue("view/dark", dark)
        with self.session.ui_busy():  # the restyle stalls the loop: not the generator's fault
            self._apply_style()

    def show_controls(self, shown: bool) -> None:
        """Show the control panel, or fold it to the narrow strip beside the charts."""
        self._controls_shown = shown
        self._controls_scroll.setVisible(shown)
        self.panel_toggle.setText("\u25c0" if shown else "\u25b6")
        self.panel_toggle.setToolTip(
            "Hide the controls: the charts get the screen (F9)"
            if shown
            else "Show the controls (F9); Space still starts and stops the load"
        )

    def set_presentation(self, on: bool) -> None:
        """Projector mode: full screen, fonts of 16 pt and more, thick lines, and the
        controls folded away (the strip beside the charts, or F9, brings them back)."""
        self._presentation = on
        self.show_controls(not on)
        with self.session.ui_busy():  # the restyle stalls the loop: not the generator's fault
            self._apply_style()
            if on:
                self.showFullScreen()
            else:
                self.showNormal()

    def _apply_style(self) -> None:
        theme = "dark" if self._dark else "light"
        font_pt = 16 if self._presentation else 11
        path = self._styles / f"{theme}.qss"
        try:
            sheet = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.add_notice(f"Style sheet {path} cannot be read ({reason}): Qt's default look.")
            sheet = ""
        self.setStyleSheet(
            sheet
            + _themed_sheet(dark=self._dark, font_pt=font_pt)
            + f"\nQWidget {{ font-size: {font_pt}pt; }}"
            + f"\nQLabel#headline {{ font-size: {font_pt + 6}pt; font-weight: bold; }}"
        )
        width = 560 if self._presentation else 400
        self.controls.setFixedWidth(width)
        self.controls.fit_card()
        # Room for the vertical scroll bar when the panel is taller than the window.
        self._controls_scroll.setFixedWidth(width + 16)
        self.table.max_height = 180 if self._presentation else 150
        self.table.fit_height()  # its rows' height follows the new font
        # Fonts, widths and colours are set when plots are made: make new ones.
        style = ChartStyle.make(presentation=self._presentation, dark=self._dark)
        if style != self.charts.chart_style:
            old = self.charts
            self.charts = Charts(self.session, style)
            self.charts.show_timeline(old.timeline_shown)
            self._right.replaceWidget(old, self.charts)
            # Kept, hidden, rather than deleted: deleting pyqtgraph plots while Qt may still
            # deliver their queued paint events is a crash risk; a toggle costs a few plots.
            old.hide()
            self._retired_charts.append(old)
            snap = self.session.snapshot()
            self.charts.update_from(snap)

    def _mode_changed(self, mode: str) -> None:
        self.session.set_mode(mode)
        self.session.set_rate(self.controls.rate_value())
        self.charts.clear()
        self._paint_text()

    # -- sweep ----------------------------------------------------------------------------------

    def toggle_sweep(self) -> None:
        """Start a sweep over SWEEP_USERS, or cancel the one running."""
        if self._sweep_task is not None and not self._sweep_task.done():
            self._sweep_task.cancel()
            return
        if self.session.mode != "closed":
            self.show_message("A sweep varies users: switch to the closed loop first.")
            return
        if not self.session.scenarios:
            # The sweep engine loads the demo server; a route of yours has `loopscope sweep
            # --app` for that.
            self.show_message("The sweep runs the demo endpoints: tick at least one.")
            return
        self._sweep_task = self.spawn(self.sweep())

    async def sweep(
        self, levels: tuple[int, ...] = SWEEP_USERS, step_s: float = SWEEP_STEP_S
    ) -> None:
        """Sweep the users through `levels`, `step_s` each (the session runs loadgen's sweep
        engine and adds the curve points); the load that ran before resumes after, with the
        users it had (not the sweep's last level: 200 users left running would be a surprise)."""
        session, controls = self.session, self.controls
        was_running = session.running
        users_before = {name: session.users(name) for name in SCENARIOS}
        slider_before = controls.users_value()

        def show(progress: SweepProgress) -> None:
            controls.sweep_progress.setValue(round(100 * progress.done / progress.total))
            if progress.runs:
                users = levels[progress.done]
                controls.sweep_progress.setFormat(f"{users} users: %p%")
                controls.show_users(users)
            # The step's point is on the curve now, not at the next text tick.
            self.refresh()

        # A sweep fills the response curve: show it.
        self.charts.show_timeline(False)
        controls.sweep.setText("Cancel sweep")
        controls.sweep_progress.setValue(0)
        controls.sweep_progress.show()
        self._show_running(True)
        self.show_message("")
        try:
            await session.sweep(levels, step_s=step_s, progress=show)
            self.show_message("Sweep done: the response curve has a point per level.")
        except asyncio.CancelledError:
            self.show_message("Sweep cancelled.")
            raise
        finally:
            controls.sweep.setText("Sweep users")
            controls.sweep_progress.hide()
            session.restore_users(users_before)
            controls.show_users(slider_before)
            if was_running and not self._shutting_down:
                session.start()
            self._show_running(session.running)
            self.refresh()

    # -- export -----------------------------------------------------------------------------------

    def export_run(self, csv_path: Path) -> bool:
        """Write every closed 1 s window of this run as CSV (the columns of `run --csv`,
        then the lesson, the settings the window ran with and the marker of any change
        in it), and the charts beside it as PNG (`name.csv` and `name-charts.png`). False,
        with a message, when it cannot."""
        snap = self.session.snapshot()
        now_values = self.session.settings_values()
        rows = []
        for name, series in snap.recorder.scenarios.items():
            for window, row in zip(
                series.windows, export.window_rows(name, series.windows), strict=True
            ):
                end = window.start_s + window.duration_s
                row["lesson"] = self._preset.name
                row["settings"] = self.session.settings_label(
                    settings_at(now_values, snap.markers, end), name
                )
                row["marker"] = "; ".join(
                    m.label for m in snap.markers if window.start_s <= m.t_s < end
                )
                rows.append(row)
        png_path = csv_path.with_name(csv_path.stem + "-charts.png")
        try:
            # No folder is created: the path comes from a save dialog.
            csv_path.write_text(export.to_csv(EXPORT_COLUMNS, rows), encoding="utf-8")
        except OSError as exc:
            self.show_message(f"Could not export to {csv_path}: {exc.strerror or exc}")
            return False
        if not self.charts_picture().save(str(png_path)):
            self.show_message(f"Could not save {png_path}")
            return False
        self.show_message(
            f"Exported {len(rows)} windows to {csv_path} and the charts to {png_path.name}"
        )
        return True

    def _ask_save_path(self, title: str, default: str, file_filter: str) -> Path | None:
        """A save dialog; the answer gets the default's suffix when the user typed none."""
        name, _ = QFileDialog.getSaveFileName(self, title, default, file_filter)
        if not name:
            return None
        suffix = Path(default).suffix
        return Path(name if name.lower().endswith(suffix) else name + suffix)

    def _export_dialog(self) -> None:
        path = self._ask_save_path("Export this run", "loopscope-run.csv", "CSV files (*.csv)")
        if path is not None:
            self.export_run(path)

    def charts_picture(self) -> QImage:
        """The charts as they are now, under a caption naming the lesson and its settings
        (a picture alone in a folder must say what it shows; markers are on the charts)."""
        charts = self.charts.grab().toImage()
        style = self.charts.chart_style
        caption = f"LoopScope \u2014 {self._preset.name} \u2014 {self.session.settings_label()}"
        font = self.font()
        font.setPointSize(style.font_pt + 2)
        height = round(font.pointSize() * 2.6)
        image = QImage(charts.width(), charts.height() + height, QImage.Format.Format_RGB32)
        image.fill(QColor(style.background))
        painter = QPainter(image)
        try:
            painter.setFont(font)
            painter.setPen(QColor(style.foreground))
            painter.drawText(
                12, 0, charts.width() - 24, height, Qt.AlignmentFlag.AlignVCenter, caption
            )
            painter.drawImage(0, height, charts)
        finally:
            painter.end()
        return image

    def save_charts_png(self, path: Path) -> bool:
        """Save a picture of the charts; False (and a message) when it cannot be written."""
        ok = self.charts_picture().save(str(path))
        self.show_message(f"Charts saved to {path}" if ok else f"Could not save {path}")
        return bool(ok)

    def _save_png_dialog(self) -> None:
        path = self._ask_save_path(
            "Save charts as PNG", "loopscope-charts.png", "PNG images (*.png)"
        )
        if path is not None:
            self.save_charts_png(path)

    def _show_preset_index(self, index: int) -> None:
        if self.controls.preset.currentIndex() != index:
            self.controls.preset.blockSignals(True)
            self.controls.preset.setCurrentIndex(index)
            self.controls.preset.blockSignals(False)

    def _choose_preset(self, index: int) -> None:
        # A lesson chosen here brings its own placement (the command line's held until now).
        self._forced_placement = None
        self.apply_preset(self._presets[index])

    def _placement_chosen(self, process: bool, workers: int) -> None:
        self._forced_placement = None
        self.move_server(Placement(process=process, workers=workers))

    def move_server(self, placement: Placement) -> None:
        """Move the demo server (stopped, then started where asked) in a task; `settled()`
        awaits it. Refused while the load runs or while an app of yours is loaded (it is
        served on this window's loop)."""
        if self.session.running or self.session.own is not None:
            why = "Stop the load" if self.session.running else "Your app runs on this loop"
            self.show_message(f"{why}: the server stays in {self.session.placement.label}.")
            self.controls.show_placement(
                self.session.placement.process, self.session.placement.workers
            )
            return
        previous = self._move_task
        self._wanted_placement = placement
        self._move_task = self.spawn(self._move_server(placement, previous))

    async def _move_server(self, placement: Placement, previous: asyncio.Task[Any] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # one move at a time, in the order asked
        self.show_message(f"Moving the server to {placement.label}…")
        try:
            await self.session.set_placement(placement)
        finally:
            now = self.session.placement
            if self._move_task is asyncio.current_task():  # no later move queued
                self._wanted_placement = now
            self.controls.show_placement(now.process, now.workers)
            self._show_placement()
        pids = self.session.worker_pids()
        where = f" (pids {', '.join(map(str, pids))})" if pids else ""
        self.show_message(f"Server: {now.label}{where}.")

    async def settled(self) -> None:
        """Until the server has finished moving (a lesson or the Server choice moved it)."""
        while self._move_task is not None and not self._move_task.done():
            await asyncio.wait([self._move_task])

    def _show_placement(self) -> None:
        """What follows the server's place: the loop-lag chart's lines, the timeline, and
        "Your app" (served on this window's loop, so only beside a server there too)."""
        process = self.session.placement.process
        if process:
            self.show_own_panel(False)
        self.own_toggle.setEnabled(not process)
        self.own_toggle.setToolTip(
            "Your app is served on this window's loop: choose 'Server: this window's loop' "
            "to load it"
            if process
            else ""
        )
        self.charts.show_placement(self.session.placement)
        self._show_headline()

    def _scenarios_changed(self, scenarios: tuple[str, ...]) -> None:
        if not scenarios and self.session.route is None:
            self.show_message("Choose at least one endpoint to load.")
            return
        self.session.set_scenarios(scenarios)
        self.show_message("")

    def _users_changed(self, users: int, scenario: str) -> None:
        capped = self.session.set_users(users, scenario or None)
        if capped:
            self.show_message(
                "The blocking endpoint is capped at 20 users: each one freezes "
                "this window for a whole delay."
            )
        elif self.controls.status.text().startswith("The blocking"):
            self.show_message("")

    def _delay_changed(self, delay_ms: int) -> None:
        self.session.set_delay(delay_ms)

    def toggle_running(self) -> None:
        if self._shutting_down:
            return
        if self._sweep_task is not None and not self._sweep_task.done():
            self._sweep_task.cancel()  # Stop during a sweep ends the sweep (and its load)
            return
        if self.session.running:
            # Here, in the click's own handler, not in the task: the blocking lesson's next
            # queued request may get the loop before the task's first step.
            self.session.halt()
            self._show_running(False)
            self.spawn(self.stop())
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
        self._show_running(True)
        self.show_message("")

    async def stop(self) -> None:
        self._show_running(False)
        await self.session.stop(cut_in_flight=True)

    def reset(self) -> None:
        self.session.reset()
        self.charts.clear()
        self._paint_text()

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

    # -- your app ---------------------------------------------------------------------------------

    def _show_running(self, running: bool) -> None:
        self.controls.set_running(running)
        self.own_panel.set_running(running)

    def show_own_panel(self, shown: bool) -> None:
        """Unfold (or fold) the "Your app" panel."""
        self.own_panel.setVisible(shown)
        self.own_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        if self.own_toggle.isChecked() != shown:
            self.own_toggle.setChecked(shown)

    async def load_app(self, spec: str, app_dir: str = "") -> bool:
        """Import, start and serve the user's app, and list its routes; False, with one
        line in the panel, when it cannot (the demo goes on as it was)."""
        panel = self.own_panel
        self.show_own_panel(True)  # its answer is said there
        if not spec:
            panel.say("Type your app as module:attribute, e.g. main:app.", error=True)
            return False
        if self.session.running:
            panel.say("Stop the load before loading an app.", error=True)
            return False
        if panel.app_spec.text().strip() != spec:  # loaded from the command line
            panel.app_spec.setText(spec)
            panel.app_dir.setText("" if app_dir in ("", ".") else app_dir)
        panel.say(f"Loading {spec}…")
        panel.show_operations([], loaded=False)
        self.controls.set_extra_targets(())  # the route loaded before goes with its app
        # One load at a time: a second one while the first awaits the app's start-up would
        # replace it half-way, and leave its server running.
        panel.load.setEnabled(False)
        panel.use_url.setEnabled(False)
        try:
            target = await self.session.load_app(spec, app_dir or ".")
        except Exception as exc:  # the user's code may raise anything: one line, no traceback
            text = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            panel.say(f"Not loaded: {' '.join(text.split())}", error=True)
            self._show_headline()  # the app loaded before is gone too
            return False
        finally:
            panel.set_running(self.session.running)
        panel.show_operations(target.operations)
        self._show_headline()
        found = len(target.operations)
        panel.say(
            f"{spec} runs at {target.url}, {found} routes from its OpenAPI schema: pick one, "
            "tick the box, press Start."
            if found
            else f"{spec} runs at {target.url} (no OpenAPI schema): type a path, tick the box."
        )
        self._show_blocked()
        return True

    def use_url(self, url: str) -> None:
        """Load a server already running: this machine at once, another host only after
        the user confirms it is theirs (nothing is sent before)."""
        self.show_own_panel(True)
        try:
            split_url(url, allow_remote=False)
        except RemoteHostError as exc:
            self._ask_remote(url, str(exc))
            return
        except ValueError as exc:
            self.own_panel.say(str(exc), error=True)
            return
        self.spawn(self._use_url(url, allow_remote=False))

    def _ask_remote(self, url: str, why: str) -> None:
        """Ask, without a nested event loop (the server and load share this loop)."""
        try:
            split_url(url, allow_remote=True)
        except ValueError as exc:
            self.own_panel.say(str(exc), error=True)
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Load another machine?",
            f"{why}.\n\nA load test can slow down or break a server. Load {url} only if the "
            "server is yours, or its owner agreed.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        yes = box.button(QMessageBox.StandardButton.Yes)
        yes.setText("It is mine: load it")

        def answered() -> None:
            self.remote_question = None
            if box.clickedButton() is yes:
                self.spawn(self._use_url(url, allow_remote=True))
            else:
                self.own_panel.say(f"Not loaded: {url} (not confirmed).", error=True)
            box.deleteLater()

        box.finished.connect(answered)
        self.remote_question = box
        box.open()

    async def _use_url(self, url: str, *, allow_remote: bool) -> None:
        panel = self.own_panel
        try:
            target = await self.session.use_url(url, allow_remote=allow_remote)
        except ValueError as exc:
            panel.say(str(exc), error=True)
            return
        panel.show_operations([], loaded=True)
        self.controls.set_extra_targets(())
        panel.show_target("GET", target)
        self._show_headline()
        assert self.session.own is not None
        panel.say(
            f"{self.session.own.url}: a server already running (its probes are its own: "
            "in flight server side and what blocked its loop need your app loaded here). "
            "Tick the box to load it."
        )

    def choose_route(self, text: str) -> None:
        """Put a route under load as typed: "GET /stock", "/items?limit=5" (the picker's
        operation when one fits)."""
        panel = self.own_panel
        first, _, rest = text.strip().partition(" ")
        method, target = (first.upper(), rest.strip()) if rest else ("GET", first)
        path = target.partition("?")[0]
        for index in range(panel.routes.count()):
            panel.routes.setCurrentIndex(index)
            operation = panel.operation()
            if operation is not None and operation.method == method and fits(operation.path, path):
                if target == operation.path:  # named by its label: send its examples
                    target = operation_target(operation)
                break
        panel.show_target(method, target)
        panel.under_load.setChecked(True)  # emits route_changed: the session takes it

    def _route_changed(self) -> None:
        panel, session = self.own_panel, self.session
        if session.running:
            return  # the panel is disabled then; a change applies at the next Start
        if not panel.under_load.isChecked():
            if session.route is not None:
                session.set_route(None)
                self.controls.set_extra_targets(())
                panel.say(f"{session.own.name if session.own else 'Your app'}: no route loaded.")
            return
        try:
            request = route_request(
                panel.method.currentText(),
                panel.target.text(),
                panel.body.text(),
                parse_headers(panel.headers.text()),
                operation=panel.operation(),
            )
            session.set_route(request, users=self.controls.users_value())
        except ValueError as exc:
            session.set_route(None)
            self.controls.set_extra_targets(())
            panel.say(str(exc), error=True)
            return
        self.controls.set_extra_targets((request.scenario,))
        # The demo's boxes may all be unticked now: the route alone is a load.
        session.set_scenarios(self.controls.selected_scenarios())
        where = session.own.url if session.own is not None else ""
        panel.say(f"{request.scenario} joins the load at Start ({where}).")

    def _show_headline(self) -> None:
        own = self.session.own
        placement = self.session.placement
        where = f" (server: {placement.label})" if placement.process else ""
        self.headline.setText(self._preset.name + (f", with {own.name}" if own else "") + where)
        # Every change of the app or URL ends here: the Server choice follows it.
        self.controls.set_own_loaded(own is not None)

    def _show_blocked(self) -> None:
        # Only stalls inside a request of the app: outside one, what holds the loop is the
        # window's own painting, which a script that opens the window would be blamed for.
        sites = [site for site in self.session.block_sites() if site.route is not None]
        self.blocked.show_sites(sites)
        for widget in (self.blocked_heading, self.blocked):
            widget.setVisible(bool(sites))

    # -- painting -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Paint everything now (charts, figures, health), not at the next timer ticks."""
        self._paint_plots()
        self._paint_text()

    def _plot_tick(self) -> None:
        self._paint_plots()
        self._plot_ticks += 1
        if self._plot_ticks % (TEXT_PERIOD_MS // PLOT_PERIOD_MS) == 0:
            self._text_timer.start(PLOT_PERIOD_MS // 2)

    def _paint_plots(self) -> None:
        self.charts.update_probes(self.session.snapshot())

    def _paint_text(self) -> None:
        # This repaint stalls the shared loop 30-65 ms a second: the window's, not the generator's.
        with self.session.ui_busy(settle_s=UI_PAINT_SETTLE_S):
            snap = self.session.snapshot()
            self.charts.update_series(snap)
            self.table.show_snapshot(snap)
            self._show_blocked()
            self._show_health()

    def _show_health(self) -> None:
        health = self.session.health
        if health is not None and health.generator_limited and self.session.running:
            self.health_banner.setText(
                "Generator-limited: "
                + "; ".join(health.warnings)
                + ". Figures now partly measure LoopScope itself; response-curve points "
                "taken now are drawn as crosses."
            )
            self.health_banner.show()
            self.health_row.show()
        else:
            self.health_banner.hide()
            if not self.session.running:
                self.health_row.hide()

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
        if self._settings is not None:
            self._settings.setValue("window/geometry", self.saveGeometry())
            self._settings.sync()
            # The window is going: a problem first met now goes to stderr only.
            self._check_settings_saved()
        self._plot_timer.stop()
        self._text_timer.stop()
        if self._sweep_task is not None and not self._sweep_task.done():
            self._sweep_task.cancel()
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
