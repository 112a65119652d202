"""The left panel: presets, scenarios, sliders, Start/Stop/Reset. Only calls the session."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from loopscope.embedded_server import (
    DEFAULT_THREADS,
    MAX_BLOCKING_DELAY_MS,
    MAX_WORKERS,
    SCENARIOS,
)

from .load_settings import users_text
from .palette import SCENARIO_COLOURS, SCENARIO_LABELS
from .run_bar import RunBar

# The users slider is logarithmic: 1 to 1000 users over 300 steps, so 1-10 is as easy
# to set as 100-1000.
USERS_STEPS = 300
MAX_DELAY_SLIDER_MS = MAX_BLOCKING_DELAY_MS
MAX_THREADS_SLIDER = 200
# The lesson card grows with its text up to this height (then it scrolls).
CARD_MAX_PX = 600


def users_from_position(position: int) -> int:
    return max(1, min(1000, round(10 ** (3 * position / USERS_STEPS))))


def position_from_users(users: int) -> int:
    return round(math.log10(max(1, users)) * USERS_STEPS / 3)


# The rate slider is logarithmic too: 1 to 2000 requests per second.
RATE_STEPS = 330
MAX_RATE_SLIDER = 2000.0


def rate_from_position(position: int) -> float:
    return float(round(10 ** (math.log10(MAX_RATE_SLIDER) * position / RATE_STEPS)))


def position_from_rate(rate: float) -> int:
    return round(math.log10(max(1.0, rate)) * RATE_STEPS / math.log10(MAX_RATE_SLIDER))


class ControlPanel(QWidget):
    """Emits what the user asks for; the window turns it into session calls."""

    preset_chosen = Signal(int)
    scenarios_changed = Signal(tuple)
    users_changed = Signal(int, str)  # users, scenario ("" = all, linked)
    delay_changed = Signal(int)
    threads_changed = Signal(int)
    start_stop_clicked = Signal()
    reset_clicked = Signal()
    dark_toggled = Signal(bool)
    presentation_toggled = Signal(bool)
    save_png_clicked = Signal()
    mode_changed = Signal(str)  # "closed" or "open"
    rate_changed = Signal(float)
    sweep_clicked = Signal()
    export_clicked = Signal()
    export_trace_clicked = Signal()
    pin_clicked = Signal()
    clear_pins_clicked = Signal()
    placement_changed = Signal(bool, int)  # server in its own process, workers

    def __init__(self, preset_names: Sequence[str]) -> None:
        """preset_names: the lessons offered, in order (the window's preset catalogue)."""
        super().__init__()
        # Tooltips as written, to restore when a control is enabled again (_enable).
        self._usual_tooltips: dict[QWidget, str] = {}
        self._running = False
        self._own_loaded = False
        # True while the window sets values: they are not echoed back as user actions.
        self._quiet = False
        # Endpoints beside the demo's that the unlinked slider can drive (a route of yours).
        self._extra_targets: tuple[str, ...] = ()
        # The endpoints at Start, and those capped below the slider (show_capped).
        self._users_shown: tuple[tuple[str, ...], dict[str, int]] = ((), {})
        layout = QVBoxLayout(self)
        layout.addWidget(self._lesson_box(preset_names))
        layout.addWidget(self._scenario_box())
        layout.addWidget(self._load_box())
        self._add_run_buttons(layout)
        # Start/Stop, Pin, Reset and the sliders live in the bar above the charts (the
        # window places it): in view at any window size and in presentation mode.
        # The status line too: what Start or Pin answered is read where they were clicked.
        self.run_bar = RunBar(
            self.status,
            (self.start_stop, self.pin, self.reset),
            (
                (self.users_label, self.users),
                (self.rate_label, self.rate),
                (self.delay_label, self.delay),
                (self.threads_label, self.threads),
            ),
        )
        layout.addWidget(self._view_box())
        layout.addStretch(1)
        self._refresh_placement()

    def _lesson_box(self, preset_names: Sequence[str]) -> QGroupBox:
        """The lesson chooser and its card (what to watch, theory, why)."""
        preset_box = QGroupBox("Lesson")
        preset_layout = QVBoxLayout(preset_box)
        self.preset = QComboBox()
        self.preset.setToolTip("Load a classroom preset: scenarios, users, delay and threads")
        for name in preset_names:
            self.preset.addItem(name)
        self.preset.currentIndexChanged.connect(self.preset_chosen.emit)
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setObjectName("explanation")
        self.explanation.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # The card is as tall as its text (Watch / Theory / Why, whole, at the default
        # window size); past CARD_MAX_PX it scrolls rather than pushing the sliders away.
        self.card = card = QScrollArea()
        card.setWidget(self.explanation)
        card.setWidgetResizable(True)
        card.setMinimumHeight(150)
        card.setFrameShape(QFrame.Shape.NoFrame)
        preset_layout.addWidget(self.preset)
        preset_layout.addWidget(card)
        return preset_box

    def _scenario_box(self) -> QGroupBox:
        """A check box per demo endpoint, in its chart colour."""
        scenario_box = QGroupBox("Endpoints under load")
        scenario_layout = QVBoxLayout(scenario_box)
        self.scenario_checks: dict[str, QCheckBox] = {}
        for name in SCENARIOS:
            check = QCheckBox(f"{name}: {SCENARIO_LABELS[name]}")
            check.setStyleSheet(
                f"QCheckBox {{ color: {SCENARIO_COLOURS[name]}; font-weight: bold; }}"
            )
            check.setToolTip(f"Load the server's /scenario/{name} route (applies at Start)")
            check.toggled.connect(self._scenarios_toggled)
            scenario_layout.addWidget(check)
            self.scenario_checks[name] = check
        return scenario_box

    def _load_box(self) -> QGroupBox:
        """The load (loop mode, users or rate) and the server (delay, threads, placement)."""
        load_box = QGroupBox("Load and server")
        form = QFormLayout(load_box)
        self.users, self.users_label = _slider(
            (0, USERS_STEPS),
            "Client: concurrent users per endpoint, each sending its next "
            "request as soon as it gets an answer (closed loop). Live.",
            self._users_moved,
        )
        self.link = QCheckBox("same users for every endpoint")
        self.link.setChecked(True)
        self.link.setToolTip("Unlink to give one endpoint its own number of users")
        self.users_target = QComboBox()
        self.users_target.setToolTip("Which endpoint the users slider drives when unlinked")
        self.users_target.setEnabled(False)
        self.link.toggled.connect(lambda linked: self.users_target.setEnabled(not linked))
        self.delay, self.delay_label = _slider(
            (0, MAX_DELAY_SLIDER_MS // 10),
            "Server: how long each route waits for its simulated I/O "
            "(asyncio.sleep or time.sleep). Live.",
            self._delay_moved,
        )
        self.threads, self.threads_label = _slider(
            (1, MAX_THREADS_SLIDER),
            "Server: tokens of anyio's thread limiter, i.e. how many def "
            "routes run at once. FastAPI's default is 40. Live.",
            self._threads_moved,
        )
        self.mode = QComboBox()
        self.mode.addItem("Closed loop: users wait for answers", "closed")
        self.mode.addItem("Open loop: fixed arrival rate", "open")
        self.mode.setToolTip(
            "Client: closed loop = each user sends again when answered (load follows the "
            "server); open loop = requests arrive on a schedule whatever the server does "
            "(latency counts from the intended start). Applies at Start."
        )
        self.mode.currentIndexChanged.connect(self._mode_chosen)
        self.rate, self.rate_label = _slider(
            (0, RATE_STEPS),
            "Client (open loop): requests per second sent to each endpoint. Live.",
            self._rate_moved,
            value=position_from_rate(50),
        )
        form.addRow(self.mode)
        form.addRow(self.link)
        # Across the whole row: in the sliders' column (beside labels as wide as
        # "Threads: 200 (default 40)") it had 127 px and cut "fanout-seque…".
        target_row = QHBoxLayout()
        target_row.addWidget(QLabel("users slider drives"))
        target_row.addWidget(self.users_target, 1)
        form.addRow(target_row)
        form.addRow(self._placement_row())
        return load_box

    def _placement_row(self) -> QHBoxLayout:
        # Where the demo server runs: the card's shape (one loop for all), or processes.
        self.placement = QComboBox()
        # Short: the panel is narrow ("this window's loop" was cut off at the default size).
        self.placement.addItem("Server: in this window", False)
        self.placement.addItem("Server: own process", True)
        self.placement.setToolTip(
            "This window's loop: window, load generator and server share one event loop (the "
            "lessons' default). Its own process: the server runs in worker processes started "
            "and stopped here, each with its own loop, thread pool and GIL; its probes are "
            "read over HTTP. Moving it restarts the server."
        )
        self.workers = QSpinBox()
        self.workers.setRange(1, MAX_WORKERS)
        self.workers.setPrefix("workers: ")
        self.workers.setToolTip(
            "Worker processes of the server: threads and CPU-bound capacity multiply by them "
            "(CPU: up to the cores this machine has)"
        )
        self.placement.currentIndexChanged.connect(self._placement_chosen)
        # Only when the value is final (typed and confirmed, or an arrow click): each change
        # restarts the server.
        self.workers.setKeyboardTracking(False)
        self.workers.valueChanged.connect(self._placement_chosen)
        placement_row = QHBoxLayout()
        placement_row.addWidget(self.placement, 2)
        placement_row.addWidget(self.workers, 1)
        return placement_row

    def _add_run_buttons(self, layout: QVBoxLayout) -> None:
        """Start/Stop and Reset, Sweep and Export, the pins, the sweep's progress, the status."""
        self.start_stop = _button(
            "Start",
            "Start or stop the load (Space; Ctrl+Enter in a text field)",
            self.start_stop_clicked.emit,
        )
        self.start_stop.setObjectName("startStop")
        self.reset = _button(
            "Reset",
            "Clear the charts, the response curve and the figures",
            self.reset_clicked.emit,
        )
        self.sweep = _button(
            "Sweep users",
            "Run each endpoint at 1, 5, 10, 25, 50, 100 and 200 users for 5 s each and draw "
            "the response curve (click again to cancel)",
            self.sweep_clicked.emit,
        )
        self.export = _button(
            "Export…",
            "Save this run: a CSV of every 1 s window and a PNG of the charts",
            self.export_clicked.emit,
        )
        layout.addLayout(_pair(self.sweep, self.export))
        self.pin = _button(
            "Pin this run",
            "Keep this run as a faint overlay on every chart, to compare with the next one "
            "(Reset keeps it; at most 3)",
            self.pin_clicked.emit,
        )
        self.clear_pins = _button(
            "Clear pins", "Remove the pinned runs from the charts", self.clear_pins_clicked.emit
        )
        layout.addWidget(self.clear_pins)
        self.sweep_progress = QProgressBar()
        self.sweep_progress.setRange(0, 100)
        self.sweep_progress.setTextVisible(True)
        self.sweep_progress.hide()
        layout.addWidget(self.sweep_progress)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("status")

    def _view_box(self) -> QGroupBox:
        """Theme, presentation mode and the charts' picture."""
        view_box = QGroupBox("View")
        view_layout = QVBoxLayout(view_box)
        self.dark = QCheckBox("Dark theme")
        self.dark.setToolTip("Light or dark colours for the whole window (remembered)")
        self.dark.toggled.connect(self.dark_toggled.emit)
        self.presentation = QCheckBox("Presentation mode (F11)")
        self.presentation.setToolTip("Full screen, large fonts and thick lines for a projector")
        self.presentation.toggled.connect(self.presentation_toggled.emit)
        self.save_png = QPushButton("Save charts as PNG…")
        self.save_png.setToolTip("Save a picture of the charts as they are now")
        self.save_png.clicked.connect(self.save_png_clicked.emit)
        view_layout.addWidget(self.dark)
        view_layout.addWidget(self.presentation)
        view_layout.addWidget(self.save_png)
        self.export_trace = QPushButton("Export trace…")
        self.export_trace.setToolTip(
            "Save the request timeline's last seconds as a trace to explore in ui.perfetto.dev"
        )
        self.export_trace.clicked.connect(self.export_trace_clicked.emit)
        view_layout.addWidget(self.export_trace)
        return view_box

    # The window sets values from a preset without echoing them back as user actions.
    def show_settings(
        self,
        *,
        scenarios: tuple[str, ...],
        users: int,
        delay_ms: float,
        threads: int,
        explanation: str,
    ) -> None:
        self._quiet = True
        try:
            for name, check in self.scenario_checks.items():
                check.setChecked(name in scenarios)
            self.users.setValue(position_from_users(users))
            self.delay.setValue(round(delay_ms / 10))
            self.threads.setValue(threads)
            self.explanation.setText(explanation)
            self.fit_card()
            self._refresh_labels()
            self._refresh_targets()
        finally:
            self._quiet = False

    def show_users(self, users: int) -> None:
        """Move the users slider to `users` without echoing it back as a user action."""
        self._quiet = True
        try:
            self.users.setValue(position_from_users(users))
            self._refresh_labels()
        finally:
            self._quiet = False

    def set_running(self, running: bool) -> None:
        self.start_stop.setText("Stop" if running else "Start")
        for check in self.scenario_checks.values():
            self._enable(check, not running, "Stop the load to choose the endpoints")
        self._enable(self.preset, not running, "Stop the load to change the lesson")
        self._enable(
            self.mode, not running, "Stop the load to switch between users and a fixed rate"
        )
        self._running = running
        self._refresh_placement()

    def show_placement(self, process: bool, workers: int) -> None:
        """Show where the server runs without echoing it back as a user action."""
        self._quiet = True
        try:
            self.placement.setCurrentIndex(1 if process else 0)
            if process:  # in the shared loop the box keeps the last count, for next time
                self.workers.setValue(workers)
            self._refresh_placement()
        finally:
            self._quiet = False

    def placement_value(self) -> tuple[bool, int]:
        process = bool(self.placement.currentData())
        return process, self.workers.value() if process else 1

    def set_own_loaded(self, loaded: bool) -> None:
        """An app of the user's is loaded (served on the window's loop): the server stays."""
        self._own_loaded = loaded
        self._refresh_placement()

    def _refresh_placement(self) -> None:
        if self._own_loaded and not self._running:
            self._enable(
                self.placement,
                False,
                "Your app is served on this window's loop: the demo server stays there "
                "while it is loaded",
            )
        else:
            self._enable(self.placement, not self._running, "Stop the load to move the server")
        process = bool(self.placement.currentData())
        if self._running:
            self._enable(self.workers, False, "Stop the load to change the workers")
        else:
            self._enable(self.workers, process, "Workers need the server in its own process")

    def _placement_chosen(self) -> None:
        self._refresh_placement()
        if not self._quiet:
            self.placement_changed.emit(*self.placement_value())

    # The widest text each value label can show: the label keeps that width, so the slider
    # beside it never moves while it is dragged.
    _WIDEST_LABELS = (
        ("Users: 1000",),
        (f"Rate: {MAX_RATE_SLIDER:g} req/s",),
        (f"I/O delay: {MAX_DELAY_SLIDER_MS} ms",),
        (
            f"Threads: {MAX_THREADS_SLIDER} (default {DEFAULT_THREADS})",
            f"Threads: {DEFAULT_THREADS} (FastAPI default)",
        ),
    )

    def fit_card(self) -> None:
        """The lesson card's height: its text's at the panel's width, within bounds."""
        # The panel's fixed width less the group box's and the label's margins, and room
        # for the card's own scroll bar.
        width = max(100, self.maximumWidth() - 70)
        needed = self.explanation.heightForWidth(width) + 6
        self.card.setMinimumHeight(min(max(needed, 150), CARD_MAX_PX))

    def hold_label_widths(self) -> None:
        """The sliders' value labels as wide as their widest text in their font now."""
        labels = (self.users_label, self.rate_label, self.delay_label, self.threads_label)
        for label, texts in zip(labels, self._WIDEST_LABELS, strict=True):
            # The font can change (presentation mode): measured with the label's font now.
            label.setMinimumWidth(max(label.fontMetrics().horizontalAdvance(t) for t in texts))
        self.run_bar.fit_status()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange) and hasattr(
            self, "threads_label"
        ):
            self.hold_label_widths()
            self.fit_card()

    def _enable(self, widget: QWidget, enabled: bool, why_not: str) -> None:
        """Enable or disable `widget`; disabled, its tooltip says why first."""
        usual = self._usual_tooltips.setdefault(widget, widget.toolTip())
        widget.setEnabled(enabled)
        widget.setToolTip(usual if enabled else f"{why_not}. {usual}".strip())

    def selected_scenarios(self) -> tuple[str, ...]:
        return tuple(name for name, check in self.scenario_checks.items() if check.isChecked())

    def users_value(self) -> int:
        return users_from_position(self.users.value())

    def show_capped(self, endpoints: Sequence[str], capped: Mapping[str, int]) -> None:
        """The users label says the figure of the endpoints capped below the slider."""
        shown = (tuple(endpoints), dict(capped))
        if shown != self._users_shown:  # called on every text paint: mostly unchanged
            self._users_shown = shown
            self._refresh_labels()

    def rate_value(self) -> float:
        return rate_from_position(self.rate.value())

    def _mode_chosen(self) -> None:
        self._refresh_labels()
        if not self._quiet:
            self.mode_changed.emit(self.mode.currentData())

    def _rate_moved(self) -> None:
        self._refresh_labels()
        if not self._quiet:
            self.rate_changed.emit(self.rate_value())

    def _refresh_labels(self) -> None:
        open_loop = self.mode.currentData() == "open"
        self._enable(
            self.users,
            not open_loop,
            "Open loop: the rate sets the load; choose closed loop for users",
        )
        self._enable(
            self.rate,
            open_loop,
            "Closed loop: users set the load; choose open loop for a fixed rate",
        )
        if hasattr(self, "run_bar"):  # the bar shows the one slider that sets the load
            users_cell, rate_cell = self.run_bar.cells[:2]
            users_cell.setVisible(not open_loop)
            rate_cell.setVisible(open_loop)
        self.hold_label_widths()
        self.rate_label.setText(f"Rate: {self.rate_value():g} req/s")
        self.users_label.setText(users_text(self.users_value(), *self._users_shown))
        self.delay_label.setText(f"I/O delay: {self.delay.value() * 10} ms")
        self.threads_label.setText(
            f"Threads: {self.threads.value()}"
            + (
                " (FastAPI default)"
                if self.threads.value() == DEFAULT_THREADS
                else f" (default {DEFAULT_THREADS})"
            )
        )

    def set_extra_targets(self, names: Sequence[str]) -> None:
        """Endpoints other than the demo's that the unlinked users slider may drive."""
        self._extra_targets = tuple(names)
        self._refresh_targets()

    def _refresh_targets(self) -> None:
        current = self.users_target.currentText()
        self.users_target.clear()
        self.users_target.addItems([*self.selected_scenarios(), *self._extra_targets])
        index = self.users_target.findText(current)
        if index >= 0:
            self.users_target.setCurrentIndex(index)

    def _scenarios_toggled(self) -> None:
        self._refresh_targets()
        if not self._quiet:
            self.scenarios_changed.emit(self.selected_scenarios())

    def _users_moved(self) -> None:
        self._refresh_labels()
        if not self._quiet:
            target = "" if self.link.isChecked() else self.users_target.currentText()
            self.users_changed.emit(self.users_value(), target)

    def _delay_moved(self) -> None:
        self._refresh_labels()
        if not self._quiet:
            self.delay_changed.emit(self.delay.value() * 10)

    def _threads_moved(self) -> None:
        self._refresh_labels()
        if not self._quiet:
            self.threads_changed.emit(self.threads.value())


def _slider(
    span: tuple[int, int], tip: str, moved: Callable[[], None], *, value: int | None = None
) -> tuple[QSlider, QLabel]:
    """A horizontal slider over `span` (starting at `value`, else its low end) that calls
    `moved`, and the label that shows its value (set by the panel)."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(*span)
    if value is not None:
        slider.setValue(value)  # before `moved` is connected: not a user's move
    slider.setToolTip(tip)
    slider.valueChanged.connect(moved)
    return slider, QLabel()


def _button(text: str, tip: str, clicked: Callable[[], None]) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(clicked)
    return button


def _pair(main: QWidget, side: QWidget) -> QHBoxLayout:
    """Two buttons side by side, the main one twice as wide."""
    row = QHBoxLayout()
    row.addWidget(main, 2)
    row.addWidget(side, 1)
    return row
