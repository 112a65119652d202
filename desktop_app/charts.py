"""The live charts: pyqtgraph plots fed from session snapshots on a timer."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainterPath, QPen, QResizeEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QComboBox,
    QGraphicsItem,
    QGraphicsPathItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from loopscope.embedded_server import CPU_SCENARIOS, SCENARIOS
from loopscope.loadgen import theory

from .annotations import LabelPlace, Marker, place_labels
from .comparison import live_from, pin_label
from .palette import endpoint_colours, label_of
from .session import PROBE_PERIOD_S, LabSession, LabSnapshot, PinnedRun, Placement, ProbeSample
from .timeline import (
    ANSWERING,
    MAX_LANES,
    PHASES,
    TIMELINE_SPAN_S,
    WAITING,
    WIRE,
    WORKING,
    TimelineFrame,
    phase_labels,
)
from .timeline_scroll import RunScrollBar

pg.setConfigOptions(antialias=True)

# Seconds of history the time charts show.
VISIBLE_S = 60.0


@dataclass(frozen=True, slots=True)
class ChartStyle:
    """Fonts, line widths and colours: normal, presentation (projector) and dark."""

    font_pt: int = 11
    line_width: float = 3
    background: str = "#FFFFFF"
    foreground: str = "#202020"
    muted: str = "#888888"

    @classmethod
    def make(cls, *, presentation: bool, dark: bool, font_pt: int | None = None) -> ChartStyle:
        # Presentation: readable from the back of a room on a 1920×1080 projector
        # (font_pt: smaller on a screen of fewer lines, the same size on the wall).
        font_pt, line_width = (font_pt or 16, 5.0) if presentation else (11, 3.0)
        if dark:
            return cls(font_pt, line_width, "#1E2227", "#E6E6E6", "#9AA3AD")
        return cls(font_pt, line_width)


# Probe samples further apart than this mark a freeze of the loop (nothing was sampled):
# the probe lines break there instead of drawing a ramp across it.
FREEZE_GAP_S = 3 * PROBE_PERIOD_S
# The y axes that start at 0 begin this fraction of their height below it, room for the
# "0" label (set_y_from_zero).
ZERO_FOOT = 0.08
# Head-room above the highest measured value on the y axes set from the data.
Y_MARGIN = 1.2
# The response curve's x axis spans the measured users times/divided by this (log axis).
X_MARGIN = 1.6
# Marker labels sit this high on the line (of the plot's height); a label with no room
# beside a newer one steps down a row of MARKER_LABEL_STEP (annotations.place_labels).
MARKER_LABEL_TOP = 0.92
MARKER_LABEL_STEP = 0.16
# Pinned runs: faint (this alpha of 255) and told apart by their line style.
PIN_ALPHA = 110
PIN_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashDotLine, Qt.PenStyle.DashDotDotLine)
PIN_SAMPLES = ("\u2501\u2501", "\u2501\u00b7\u2501", "\u2501\u00b7\u00b7\u2501")


@dataclass(frozen=True, slots=True, eq=False)
class _PinKey:
    """What a pinned run was drawn for: the pin (numbers start again after Clear pins),
    the shift that aligns it with the current run, and the routes drawn of it."""

    pin: PinnedRun
    shift: float
    routes: tuple[str, ...]

    def same(self, other: _PinKey) -> bool:
        return other.pin is self.pin and other.shift == self.shift and other.routes == self.routes


def _line_sample(pen: QPen | None) -> str:
    """Characters that look like a pen's line in a text legend."""
    if pen is None:
        return "\u25cf"  # a dot: a point series
    style = pen.style()
    if style == Qt.PenStyle.DashLine:
        return "\u254c\u254c"
    if style == Qt.PenStyle.DotLine:
        return "\u00b7\u00b7\u00b7\u00b7"
    return "\u2501\u2501"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k at or above `value`: an axis top that only
    changes when the data crosses it, and reads well."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10.0 * power


def set_y_from_zero(plot: pg.PlotWidget, top: float) -> None:
    """y from 0 to `top`, with 0 a little above the foot of the axis so that its tick label
    fits whole: pyqtgraph leaves out a label that would stick out of the plot."""
    plot.setYRange(-ZERO_FOOT * top, top, padding=0)


def _highest_of(items: Iterable[pg.PlotDataItem]) -> float:
    """The highest finite y of `items`, with the head-room above it (Y_MARGIN); 0 if none."""
    highest = 0.0
    for item in items:
        _, ys = item.getData()
        if ys is not None and len(ys):
            finite = ys[np.isfinite(ys)]
            if len(finite):
                highest = max(highest, float(finite.max()))
    return highest * Y_MARGIN


def held_across_freezes(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Probe samples drawn as a step wherever two are further apart than FREEZE_GAP_S:
    the loop was frozen there, and nothing the probes count can change while it is, so
    the value holds until the freeze ends, then jumps (no ramp across the freeze)."""
    if len(xs) < 2:
        return xs, ys
    gaps = np.nonzero(np.diff(xs) > FREEZE_GAP_S)[0] + 1
    if not len(gaps):
        return xs, ys
    return np.insert(xs, gaps, xs[gaps]), np.insert(ys.astype(float), gaps, ys[gaps - 1])


def lag_steps(xs: np.ndarray, lag_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loop lag with each freeze drawn as what it was: a plateau as high as the freeze
    was long, over the time it lasted (a sample at t with lag L covers t - L to t),
    stepping up from the sample before, instead of a ramp from that sample."""
    long = np.nonzero(lag_ms > FREEZE_GAP_S * 1000)[0]
    if not len(long):
        return xs, lag_ms
    before = np.where(long > 0, long - 1, long)
    starts = np.maximum(xs[long] - lag_ms[long] / 1000, xs[before])
    lows = np.where(long > 0, lag_ms[before], 0.0)
    at = np.repeat(long, 2)
    new_x = np.column_stack((starts, starts)).ravel()
    new_y = np.column_stack((lows, lag_ms[long])).ravel()
    return np.insert(xs, at, new_x), np.insert(lag_ms.astype(float), at, new_y)


class LegendRow(QLabel):
    """A plot's legend as a line of text above the plot: never over the data, and it
    wraps (between entries) when the plot is narrow or the fonts are large."""

    def __init__(self, style: ChartStyle) -> None:
        super().__init__()
        self._style = style
        self._entries: list[tuple[str, str, str]] = []  # (label, colour, sample)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setStyleSheet(
            f"QLabel {{ font-size: {style.font_pt}pt; color: {style.foreground};"
            f" background: {style.background}; }}"
        )

    @property
    def names(self) -> list[str]:
        return [label for label, _, _ in self._entries]

    def add(self, label: str, colour: str, sample: str) -> None:
        self._entries.append((label, colour, sample))
        self._render()

    def remove_all(self) -> None:
        self._entries.clear()
        self._render()

    def remove_starting(self, prefix: str) -> None:
        self._entries = [entry for entry in self._entries if not entry[0].startswith(prefix)]
        self._render()

    def _render(self) -> None:
        entries = [
            # nowrap: a line sample is never parted from its label.
            f'<span style="white-space:nowrap"><span style="color:{colour}; font-weight:bold">'
            f"{sample}</span> {label}</span>"
            for label, colour, sample in self._entries
        ]
        # Empty, the row keeps its height: the plots below do not jump when it fills.
        self.setText(" &nbsp; &nbsp; ".join(entries) or "&nbsp;")


if TYPE_CHECKING:  # the sizing rules below are for a QWidget, mixed in before it
    _Widget = QWidget
else:
    _Widget = object


class _SizedInGrid(_Widget):
    """Sizing for a widget in the charts' grid whose height wraps with its width (a
    chart cell, the pins' key).

    The grid then shares the charts' height by the rows' stretches (Charts._fit_rows)
    above each one's least height: asked for its height for its width (its legend wraps),
    or for its size hint, a cell asks ~400 px and the grid, short of that everywhere,
    ignores the stretches. A subclass says its least height at `_laid_width`."""

    #: The width it was last laid out at (0: not yet).
    _laid_width = 0

    def hasHeightForWidth(self) -> bool:
        return False

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != self._laid_width:  # it wraps anew: so does the hint
            self._laid_width = event.size().width()
            self.updateGeometry()


class _Cell(_SizedInGrid, QWidget):
    """A plot with its title and legend row above it."""

    def __init__(self, plot: _Plot, style: ChartStyle) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.setAutoFillBackground(True)
        self.setStyleSheet(f"background: {style.background};")
        layout.addWidget(plot.heading)
        layout.addWidget(plot.legend)
        layout.addWidget(plot, 1)
        self._plot = plot

    def minimumSizeHint(self) -> QSize:
        # Its legend as wrapped at its width now (Qt's own hint counts one line: a short
        # row then cut the plot's time axis off under a two-line legend), and the plot's
        # least height (Charts._fit_rows sets one beside the timeline).
        hint = super().minimumSizeHint()
        plot = self._plot
        width = self._laid_width
        legend = plot.legend.heightForWidth(width) if width > 0 else 0
        height = (
            plot.heading.sizeHint().height()
            + max(legend, plot.legend.minimumSizeHint().height())
            + max(plot.minimumHeight(), plot.minimumSizeHint().height())
        )
        return QSize(hint.width(), max(hint.height(), height))


class PinsKey(_SizedInGrid, LegendRow):
    """The pinned runs' line styles and settings, said once under the time charts rather
    than in each chart's legend: two pins there took two or three lines from every chart
    (at a projector's 1280 x 720 the charts column then scrolled). Hidden with no pins.
    Sized as a chart cell is (_SizedInGrid): the grid keeps its stretches."""

    def __init__(self, style: ChartStyle) -> None:
        super().__init__(style)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.hide()

    def add(self, label: str, colour: str, sample: str) -> None:
        super().add(label, colour, sample)
        self.setVisible(bool(self.names))

    def remove_all(self) -> None:
        super().remove_all()
        self.hide()

    def remove_starting(self, prefix: str) -> None:
        super().remove_starting(prefix)
        self.setVisible(bool(self.names))

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        width = self._laid_width
        wrapped = super().heightForWidth(width) if width > 0 else hint.height()
        return QSize(hint.width(), max(hint.height(), wrapped))


class _Tabs(QTabWidget):
    """The bottom row's tabs, sized as a chart cell is (see _Cell)."""

    def hasHeightForWidth(self) -> bool:
        return False

    def sizeHint(self) -> QSize:
        return self.minimumSizeHint()


# The response curve's log axis of users: labelled ticks (few enough to read at the
# default window size: all eighteen ran together into "70100150200"), and grid-only ticks.
CURVE_TICKS = (1, 3, 10, 30, 100, 300, 1000)
CURVE_MINOR_TICKS = (2, 5, 7, 15, 20, 50, 70, 150, 200, 500, 700)
# A round tick closer than this factor to a measured level gives way to it: "8" and "10"
# side by side on the log axis ran into "810".
CURVE_TICK_APART = 1.5


def curve_ticks(levels: Iterable[int]) -> list[list[tuple[float, str]]]:
    """The response curve's ticks (log10 of users): a labelled one at each measured level
    (2 and 8 users read off the axis), the round ones not too close to them, and the
    grid-only ones."""
    measured = sorted(set(levels))
    round_ones = [
        users
        for users in CURVE_TICKS
        if all(max(users, m) / min(users, m) >= CURVE_TICK_APART for m in measured)
    ]
    labelled = sorted({*measured, *round_ones})
    grid = [users for users in CURVE_MINOR_TICKS if users not in labelled]
    return [
        [(math.log10(users), str(users)) for users in labelled],
        [(math.log10(users), "") for users in grid],
    ]


# Users at which the response curve's theory line is drawn: 1 to 1000, even on a log axis.
CURVE_USERS = np.unique(np.round(np.logspace(0, 3, 60)).astype(int))


class _Plot(pg.PlotWidget):  # type: ignore[misc]
    def __init__(self, title: str, left: str, bottom: str, style: ChartStyle) -> None:
        super().__init__(background=style.background)
        font_pt = style.font_pt
        tick_font = QFont()
        tick_font.setPointSize(font_pt)
        label_style = {"font-size": f"{font_pt + 1}pt", "color": style.foreground}
        for name, text in (("left", left), ("bottom", bottom)):
            axis = self.getAxis(name)
            axis.setStyle(tickFont=tick_font)
            axis.setPen(style.foreground)
            axis.setTextPen(style.foreground)
            axis.setLabel(text, **label_style)
            # Axes (with their grid lines) are most of a plot's paint cost; cached as a
            # pixmap they are redrawn only when their range changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        # Title and legend live outside the plot (see _Cell), so no legend covers data.
        self.heading = QLabel(title)
        self.heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.heading.setStyleSheet(
            f"QLabel {{ font-size: {font_pt + 2}pt; color: {style.foreground};"
            f" background: {style.background}; }}"
        )
        self.legend = LegendRow(style)
        self.getPlotItem().setClipToView(True)
        self.getPlotItem().setDownsampling(mode="peak")
        self._items: dict[str, pg.PlotDataItem] = {}

    def item(
        self,
        key: str,
        *,
        pen: object,
        name: str | None = None,
        symbol: str | None = None,
        colour: str | None = None,
    ) -> pg.PlotDataItem:
        """The curve for `key`, created once and reused every frame."""
        item = self._items.get(key)
        if item is None:
            kwargs: dict[str, object] = {"pen": pen, "name": name}
            if symbol is not None:
                kwargs.update(symbol=symbol, symbolSize=13, symbolBrush=colour, symbolPen="w")
            item = self.plot([], [], **kwargs)
            self._items[key] = item
            if name is not None:
                qpen = pen if isinstance(pen, QPen) else None
                self.legend.add(
                    name, colour or (qpen.color().name() if qpen else "#000"), _line_sample(qpen)
                )
        return item

    def clear_data(self) -> None:
        """Remove every curve and its legend entry (a new lesson has other scenarios)."""
        for item in self._items.values():
            self.removeItem(item)
        self._items.clear()
        self.legend.remove_all()
        # Axes back to fitting the (new) data: Reset and a new lesson start afresh.
        self.enableAutoRange()


def plot_height_for(plot: pg.PlotWidget, area_px: int) -> int:
    """The plot widget's height that leaves its ViewBox `area_px` tall: the time axis
    below (a line of tick labels and one of its title) and the margins are added. From
    the fonts, not the axis item's height, which follows them only once it is painted."""
    bottom = plot.getAxis("bottom")
    ticks = QFontMetrics(bottom.style["tickFont"] or QFont()).height()
    title = QFontMetrics(bottom.label.font()).height() if bottom.label.isVisible() else 0
    return area_px + ticks + title + 14


# Routes the timeline can show: the demo's (the server keeps their phases), the ones about
# waiting for a thread or for the loop first.
TIMELINE_FIRST = ("blocking", "sync", "cpu-sync")
# Lane height taken by a bar (the rest is the gap that tells neighbouring lanes apart).
LANE_FILL = 0.8
# Phases drawn as thin bars (this fraction of a full one): short stretches at a lane's
# ends that must not hide where the work ends or the wait begins.
THIN_PHASES = {ANSWERING: 0.4, WIRE: 0.4}
# The colour of the time on the wire: Okabe-Ito bluish green, unless the route's own
# colour is that green (fan-out), then reddish purple. Neither is grey (waiting) nor the
# orange, vermillion or blue of the lessons' routes, and both read on white and on the
# dark theme's background.
WIRE_COLOURS = ("#009E73", "#CC79A7")
# Pixels a lane takes at least (bar and gap): thinner, nobody can follow one. Fewer
# lanes fit than the frame could have: the timeline samples (and says so).
MIN_LANE_PX = 5.0
# Lines the timeline's caption may take in a narrow column ("now: ... · showing N of M").
NARROW_CAPTION_LINES = 3
# The bottom row's stretch beside the time plots' 10 each while it shows the timeline.
TIMELINE_ROW_STRETCH = 40
# The third column's stretch beside the time plots' 10 each, laid out wide (set_wide).
WIDE_COLUMN_STRETCH = 9
# The grid's rows: the time charts on two, the pins' key under them, the bottom row's tabs
# under that (or, laid out wide, beside the time charts, the key under all three: three
# pins' settings then fit on one line at 1280 x 720, where two columns wrapped them).
PINS_ROW = 2
BOTTOM_ROW = 3
# A chart's least plot area (its ViewBox), in pixels: below it, tick labels crowd and
# the lines cannot be read at a projector. The timeline samples what no longer fits.
MIN_PLOT_AREA_PX = 120
# Lanes the timeline keeps room for however short the window (at MIN_LANE_PX each).
MIN_TIMELINE_LANES = 20
# Fewest lanes the y axis spans: a handful of requests do not become fat slabs.
MIN_LANES_SHOWN = 10


# The timeline's time axis: while the load runs, and over a stopped run.
TIMELINE_LIVE_AXIS = "seconds before now"
TIMELINE_STOPPED_AXIS = "seconds after Start (stopped)"

TIMELINE_NEEDS_SHARED_LOOP = (
    "The request timeline needs the server in this window's loop: each request's phases "
    "are kept in the server's memory, and a server in its own process keeps them there. "
    "Choose 'Server: this window's loop' to see it."
)


class TimelineChart(QWidget):
    """One lane per request over the last seconds, coloured by phase: on the wire,
    waiting (for a thread, or for the loop), working (holding the loop, for `blocking`),
    sending the answer, on the wire again. The whole chart is one path item per phase,
    rebuilt each frame from the session's `TimelineFrame`: a few hundred rectangles in
    four items, never an item per request (items are what cost in a QGraphicsScene)."""

    def __init__(self, session: LabSession, style: ChartStyle) -> None:
        super().__init__()
        self._session = session
        self._style = style
        self.plot = _Plot(
            "Requests, newest at the bottom:",
            "",
            TIMELINE_LIVE_AXIS,
            style,
        )
        self.plot.invertY(True)  # lane 0, the oldest request drawn, at the top
        self.plot.getAxis("left").setTicks([[]])  # lane numbers mean nothing to a student
        self.plot.getPlotItem().setClipToView(False)
        self.endpoint = QComboBox()
        self.endpoint.setToolTip("Whose requests the timeline shows")
        self.endpoint.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.caption = QLabel("&nbsp;")
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        # Its text changes every frame: it must never widen the window (nor shift the row).
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption.setWordWrap(True)  # large fonts: a second line, never a cut
        self.caption.setStyleSheet(
            f"QLabel {{ font-size: {style.font_pt}pt; color: {style.foreground};"
            f" background: {style.background}; }}"
        )
        # Title, chooser and what happens now on one line, the phases' key on the next:
        # every pixel of height left goes to the lanes (60 of them at the thread-pool lesson).
        self.plot.heading.setAlignment(Qt.AlignmentFlag.AlignVCenter)
        self._header = row = QHBoxLayout()
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.plot.heading)
        row.addWidget(self.endpoint)
        row.addWidget(self.caption, 1)
        # A narrow column (set_narrow): the chooser and the caption on lines of their own.
        self._detail = QVBoxLayout()
        self._detail.setContentsMargins(6, 0, 6, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.setAutoFillBackground(True)
        self.setStyleSheet(f"background: {style.background};")
        layout.addLayout(row)
        layout.addLayout(self._detail)
        layout.addWidget(self.plot.legend)
        layout.addWidget(self.plot, 1)
        # After Stop: back over the run's requests (the timeline no longer slides).
        self.run_scroll = RunScrollBar()
        self.run_scroll.valueChanged.connect(lambda _value: self.refresh())
        layout.addWidget(self.run_scroll)
        # Said instead of an empty chart when the server runs in its own process.
        self.absent = QLabel(TIMELINE_NEEDS_SHARED_LOOP)
        self.absent.setObjectName("timelineAbsent")
        self.absent.setWordWrap(True)
        self.absent.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.absent.setStyleSheet(
            f"QLabel {{ font-size: {style.font_pt + 2}pt; color: {style.foreground};"
            f" background: {style.background}; }}"
        )
        self.absent.hide()
        layout.addWidget(self.absent, 1)
        self._paths: dict[str, QGraphicsPathItem] = {}
        for z, phase in enumerate(PHASES):
            item = QGraphicsPathItem()
            item.setPen(QPen(Qt.PenStyle.NoPen))
            item.setZValue(z)
            self.plot.addItem(item)
            self._paths[phase] = item
        self._legend_for = ""
        #: The frame drawn last (tests and the benchmark read it).
        self.frame: TimelineFrame | None = None
        # What the stopped run's frame drawn last was drawn for (see refresh).
        self._stopped_key: tuple[int, str, int, int] | None = None
        self.plot.setXRange(-5.0, 0.0, padding=0.01)

    def set_narrow(self, narrow: bool) -> None:
        """The chooser and the caption on a line of their own under the title (a narrow
        column), or beside it: squeezed beside it, the caption wrapped a word a line down
        the chart's whole height, and the title's line set the column's least width."""
        for widget in (self.endpoint, self.caption):
            self._header.removeWidget(widget)
            self._detail.removeWidget(widget)
        if narrow:  # each on a line of its own
            self._detail.addWidget(self.endpoint, 0, Qt.AlignmentFlag.AlignLeft)
            self._detail.addWidget(self.caption)
            # Room for three lines: the caption's text changes every frame, and a layout
            # that followed its height would cut a third line or make the lanes jump.
            lines = NARROW_CAPTION_LINES * self.caption.fontMetrics().lineSpacing()
            self.caption.setMinimumHeight(lines)
        else:
            self.caption.setMinimumHeight(0)
            self._header.addWidget(self.endpoint)
            self._header.addWidget(self.caption, 1)

    def _colours(self, scenario: str) -> dict[str, str]:
        working = endpoint_colours([scenario])[scenario]
        wire = next(colour for colour in WIRE_COLOURS if colour != working)
        return {
            WIRE: wire,
            WAITING: "#B8B8B8",
            WORKING: working,
            ANSWERING: self._style.foreground,
        }

    def lanes_that_fit(self) -> int:
        """Lanes the plot's height holds at MIN_LANE_PX each (MAX_LANES at most)."""
        height = self.plot.getViewBox().height()
        if height <= 0:  # not laid out yet (never shown)
            return MAX_LANES
        return max(MIN_LANES_SHOWN, min(MAX_LANES, int(height / MIN_LANE_PX)))

    def set_endpoints(self, names: list[str]) -> None:
        """The routes to choose from; keeps the choice when it is still there."""
        names = [name for name in names if name in SCENARIOS]
        current = [self.endpoint.itemData(i) for i in range(self.endpoint.count())]
        if names == current:
            return
        chosen = self.endpoint.currentData()
        self.endpoint.blockSignals(True)
        self.endpoint.clear()
        for name in names:
            self.endpoint.addItem(label_of(name), name)
        if chosen not in names:
            chosen = next((n for n in TIMELINE_FIRST if n in names), names[0] if names else None)
        if chosen is not None:
            self.endpoint.setCurrentIndex(names.index(chosen))
        self.endpoint.blockSignals(False)

    def scenario(self) -> str | None:
        data = self.endpoint.currentData()
        return data if isinstance(data, str) else None

    def _show_available(self, available: bool) -> None:
        for widget in (self.plot, self.plot.legend, self.endpoint):
            widget.setVisible(available)
        self.absent.setVisible(not available)
        if not available:
            self.run_scroll.leave()

    def refresh(self) -> TimelineFrame | None:
        """Draw the chosen route's timeline as it is now."""
        available = self._session.timeline_available
        if self.absent.isVisible() == available:
            self._show_available(available)
        if not available:
            self.frame = None
            self.caption.setText("&nbsp;")
            return None
        scenario = self.scenario()
        if scenario is None:
            for item in self._paths.values():
                item.setPath(QPainterPath())
            self.frame = None
            # The phases come from the demo server; a route of your own app has none here.
            self.caption.setText("Tick a demo endpoint to see its requests here.")
            return None
        finished = self._session.finished
        if finished is None:
            self.run_scroll.leave()
            self._stopped_key = None
            frame = self._session.timelines.frame(scenario, self.lanes_that_fit())
        else:
            kept_from = self._session.timelines.kept_from(scenario)
            self.run_scroll.follow(kept_from, finished.ended_s, TIMELINE_SPAN_S)
            # A stopped run's frame changes only when scrolled (or resized, or another
            # route chosen): not redrawn on every tick of the plot timer.
            key = (id(finished), scenario, self.run_scroll.value(), self.lanes_that_fit())
            if key == self._stopped_key and self.frame is not None:
                return self.frame
            self._stopped_key = key
            frame = self._session.timelines.frame(
                scenario, self.lanes_that_fit(), self.run_scroll.at_s()
            )
        self.draw(frame)
        return frame

    def draw(self, frame: TimelineFrame) -> None:
        colours = self._colours(frame.scenario)
        if self._legend_for != frame.scenario:
            self._legend_for = frame.scenario
            self.plot.legend.remove_all()
            labels = phase_labels(frame.scenario)
            for phase in PHASES:
                sample = "\u25ac\u25ac" if phase in THIN_PHASES else "\u2588\u2588"
                self.plot.legend.add(labels[phase], colours[phase], sample)
        # A stopped run's frame is drawn at its instant after Start, a live one at now (0).
        at = 0.0 if frame.at_s is None else frame.at_s
        self._label_time(frame.at_s is not None)
        for phase in PHASES:
            path = QPainterPath()
            fill = LANE_FILL * THIN_PHASES.get(phase, 1.0)
            for lane, x0, x1 in frame.rects(phase).tolist():
                # At least a hair wide, so that a phase of a few µs still shows.
                path.addRect(at + x0, lane + (1 - fill) / 2, max(x1 - x0, 0.004), fill)
            item = self._paths[phase]
            item.setBrush(QBrush(QColor(colours[phase])))
            item.setPath(path)
        lanes = max(frame.lanes, MIN_LANES_SHOWN)
        self.plot.setYRange(0, lanes, padding=0.01)
        # A stopped run shorter than the span is drawn from its Start, not from before it.
        left = at - frame.span_s if frame.at_s is None else max(0.0, at - frame.span_s)
        self.plot.setXRange(left, left + frame.span_s, padding=0.01)
        self.caption.setText(frame.caption())
        self.frame = frame

    def _label_time(self, stopped: bool) -> None:
        text = TIMELINE_STOPPED_AXIS if stopped else TIMELINE_LIVE_AXIS
        axis = self.plot.getAxis("bottom")
        if axis.labelText != text:
            axis.setLabel(text)


LAG_TITLE = "Event-loop lag: what this window feels"
LAG_NAME = "lag (50 ms: noticeable)"


class Charts(QWidget):
    """Throughput, latency, in-flight and thread pool, loop lag, and the response curve."""

    def __init__(self, session: LabSession, style: ChartStyle | None = None) -> None:
        super().__init__()
        self._session = session
        self.chart_style = style = style or ChartStyle()
        self.throughput = _Plot("Throughput (dashed: theory)", "req/s", "time (s)", style)
        self.latency = _Plot(
            "Latency p50 (solid), p99 (dotted), theory (dashed)", "ms", "time (s)", style
        )
        self.inflight = _Plot("Server: in flight and thread pool", "count", "time (s)", style)
        self.loop_lag = _Plot(LAG_TITLE, "ms", "time (s)", style)
        self.curve_rps = _Plot("Throughput vs users (dashed: theory)", "req/s", "users", style)
        self.curve_latency = _Plot("Latency p50 vs users (dashed: theory)", "ms", "users", style)
        for plot in (self.curve_rps, self.curve_latency):
            plot.setLogMode(x=True, y=False)
            # Plain numbers of users, not "4·10¹": the log axis gets its own ticks.
            plot.getAxis("bottom").setTicks(curve_ticks(()))
        self.loop_lag.addLine(
            y=50, pen=self._pen(self.chart_style.muted, style=Qt.PenStyle.DashLine, hairline=True)
        )
        self.curve = ResponseCurve(
            session,
            self.curve_rps,
            self.curve_latency,
            pen=self._pen,
            highest_pinned=self._highest_pinned,
        )
        self.timeline = TimelineChart(session, style)
        #: The pinned runs' key, once for every chart (their legends do not repeat it).
        self.pins_key = PinsKey(style)
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for index, plot in enumerate(self.time_plots()):
            layout.addWidget(_Cell(plot, style), index // 2, index % 2)
        # The bottom row: the per-request timeline or the response curve, one at a time (a
        # fourth row would leave each chart too short to read at the default window size).
        curve = QWidget()
        self._curve_row = curve_row = QBoxLayout(QBoxLayout.Direction.LeftToRight, curve)
        curve_row.setContentsMargins(0, 0, 0, 0)
        curve_row.addWidget(_Cell(self.curve_rps, style))
        curve_row.addWidget(_Cell(self.curve_latency, style))
        self.bottom = _Tabs()
        self.bottom.setDocumentMode(True)
        self.bottom.addTab(curve, "Response curve")
        self.bottom.addTab(self.timeline, "Request timeline")
        layout.addWidget(self.pins_key, PINS_ROW, 0, 1, 2)
        layout.addWidget(self.bottom, BOTTOM_ROW, 0, 1, 2)
        self._grid = layout
        #: The bottom row's tabs to the right of the time charts instead (set_wide).
        self.wide = False
        self._fit_rows()
        self.bottom.currentChanged.connect(self._fit_rows)
        # A new choice is drawn at once, not at the next tick of the window's timer.
        self.timeline.endpoint.currentIndexChanged.connect(self._timeline_changed)
        self.bottom.currentChanged.connect(self._timeline_changed)
        # Vertical markers of setting changes, reused from frame to frame (per time plot).
        self._marker_lines: dict[int, list[pg.InfiniteLine]] = {}
        # Drawn pinned runs: number -> (what they were drawn for, their items).
        self._pin_items: dict[int, tuple[_PinKey, list[tuple[_Plot, pg.PlotDataItem]]]] = {}
        self.clear()

    def show_placement(self, placement: Placement) -> None:
        """The loop-lag chart says whose loop it draws: one loop for all, or the window's
        and the server's apart; the timeline says when it cannot be drawn."""
        self.loop_lag.heading.setText(
            "Event-loop lag: this window's loop and the server's (50 ms: noticeable)"
            if placement.process
            else LAG_TITLE
        )
        # The lines of the other placement go (their legend too); the next frame redraws.
        self.loop_lag.clear_data()
        self.timeline.refresh()

    def _fit_rows(self, _: int = 0) -> None:
        # The response curve: three rows of one height. The timeline: its row much taller,
        # so that the thread-pool lesson's 60 requests in flight each get a lane of
        # MIN_LANE_PX at the default window size, even under the generator's banner.
        # Where the height is short (presentation mode's fonts, a banner, a small window)
        # every plot keeps a least plot area, the timeline room for MIN_TIMELINE_LANES,
        # and the timeline samples what no longer fits.
        shown = self.timeline_shown
        wide = self.wide
        stretches = (10, 10, 0, 0 if wide else TIMELINE_ROW_STRETCH if shown else 10)
        for row, stretch in enumerate(stretches):
            self._grid.setRowStretch(row, stretch)
        for column, stretch in enumerate((10, 10, WIDE_COLUMN_STRETCH if wide else 0)):
            self._grid.setColumnStretch(column, stretch)
        for plot in self.plots():
            plot.setMinimumHeight(plot_height_for(plot, MIN_PLOT_AREA_PX))
        lanes = round(MIN_TIMELINE_LANES * MIN_LANE_PX)
        self.timeline.plot.setMinimumHeight(plot_height_for(self.timeline.plot, lanes))

    def set_wide(self, wide: bool) -> None:
        """The timeline and response curve in a third column, beside the time charts
        (the curve's two plots one above the other), instead of a row under them: on a
        wide, short screen (a projector's 1280 x 720) three rows leave none readable."""
        if wide == self.wide:
            return
        self.wide = wide
        self._grid.removeWidget(self.bottom)
        self._grid.removeWidget(self.pins_key)
        if wide:  # beside the time charts; the pins' key under all three, on one line
            self._grid.addWidget(self.bottom, 0, 2, PINS_ROW, 1)
            self._grid.addWidget(self.pins_key, PINS_ROW, 0, 1, 3)
        else:
            self._grid.addWidget(self.bottom, BOTTOM_ROW, 0, 1, 2)
            self._grid.addWidget(self.pins_key, PINS_ROW, 0, 1, 2)
        self.timeline.set_narrow(wide)
        self._curve_row.setDirection(
            QBoxLayout.Direction.TopToBottom if wide else QBoxLayout.Direction.LeftToRight
        )
        self._fit_rows()

    def show_timeline(self, on: bool) -> None:
        """The bottom row shows the request timeline (True) or the response curve."""
        self.bottom.setCurrentIndex(self.bottom.indexOf(self.timeline) if on else 0)

    def _timeline_changed(self, _: int) -> None:
        if self.timeline_shown:
            self.timeline.refresh()

    @property
    def timeline_shown(self) -> bool:
        return self.bottom.currentWidget() is self.timeline

    def _pen(
        self,
        colour: str,
        *,
        style: Qt.PenStyle = Qt.PenStyle.SolidLine,
        thin: bool = False,
        hairline: bool = False,
    ) -> object:
        width = 1.0 if hairline else self.chart_style.line_width * (0.6 if thin else 1.0)
        return pg.mkPen(colour, width=width, style=style)

    def plots(self) -> list[_Plot]:
        return [
            self.throughput,
            self.latency,
            self.inflight,
            self.loop_lag,
            self.curve_rps,
            self.curve_latency,
        ]

    def time_plots(self) -> list[_Plot]:
        return [self.throughput, self.latency, self.inflight, self.loop_lag]

    def clear(self) -> None:
        """No data, no legend entries, and the axes back to their empty state (pinned
        runs are drawn again at the next update: they survive a Reset)."""
        for number in list(self._pin_items):
            self._remove_pin(number)
        for plot in self.plots():
            plot.clear_data()
        self.pins_key.remove_all()
        # The lesson's routes to choose from at once, before its first frame.
        self.timeline.set_endpoints(
            [name for name in SCENARIOS if name in self._session.endpoints()]
        )
        for lines in self._marker_lines.values():
            for line in lines:
                line.hide()
        # Throughput starts at 0 (set_y_from_zero does it again as data comes).
        for plot in (self.throughput, self.curve_rps):
            set_y_from_zero(plot, 1.0)

    @staticmethod
    def visible_range(now_s: float) -> tuple[float, float]:
        # Whole seconds: the time axes then repaint once a second, not every frame (axis
        # repaints are most of a chart's paint cost, and there are four time axes).
        end = max(VISIBLE_S, float(math.ceil(now_s)))
        return end - VISIBLE_S, end

    def update_series(self, snap: LabSnapshot) -> None:
        """Per-window series (throughput, latency) and the response curve: once a second."""
        x_range = self.visible_range(snap.recorder.now_s)
        # A pin taken in this run drew the run so far: the live lines go on from it.
        first = max(x_range[0], live_from(snap) or -math.inf)
        shown = self._shown(snap)
        colours = endpoint_colours(shown)
        for name in shown:
            series = snap.recorder.scenarios.get(name)
            if series is None:
                continue
            colour = colours[name]
            label = label_of(name)
            windows = [w for w in series.windows if w.start_s + w.duration_s > first]
            xs = np.array([w.start_s + w.duration_s for w in windows])
            self.throughput.item(name, pen=self._pen(colour), name=label).setData(
                xs,
                np.array([w.rate_rps for w in windows]),  # non-aliasing (RateEstimator)
            )
            self.latency.item(name, pen=self._pen(colour), name=label).setData(
                xs, np.array([w.latency.p50 for w in windows]), connect="finite"
            )
            self.latency.item(
                name + ":p99", pen=self._pen(colour, style=Qt.PenStyle.DotLine, thin=True)
            ).setData(xs, np.array([w.latency.p99 for w in windows]), connect="finite")
        probes = [p for p in snap.probes if p.t_s >= x_range[0]]
        px = np.array([p.t_s for p in probes])
        for name in shown:
            dashed = self._pen(colours[name], style=Qt.PenStyle.DashLine, thin=True)
            self.throughput.item(name + ":theory", pen=dashed).setData(
                *held_across_freezes(
                    px, np.array([p.theory_rps.get(name, math.nan) for p in probes])
                ),
                connect="finite",
            )
            self.latency.item(name + ":theory", pen=dashed).setData(
                *held_across_freezes(
                    px, np.array([p.theory_latency_ms.get(name, math.nan) for p in probes])
                ),
                connect="finite",
            )
        for plot in (self.throughput, self.latency):
            plot.setXRange(*x_range, padding=0)
        self._draw_pins(snap)
        self._draw_markers(snap, x_range)
        # Throughput from 0: a fall from 200 to 150 req/s must not look like one to nothing.
        set_y_from_zero(
            self.throughput,
            nice_ceiling(max(_highest_in(self.throughput), self._highest_pinned(self.throughput))),
        )
        self.curve.update(snap)

    @staticmethod
    def _shown(snap: LabSnapshot) -> list[str]:
        """The scenarios to draw, in the app's order (so legends keep their order), then
        the routes of the user's own app in the order they came."""
        chosen = [*snap.scenarios, *snap.recorder.scenarios]
        routes = [name for name in dict.fromkeys(chosen) if name not in SCENARIOS]
        return [name for name in SCENARIOS if name in chosen] + routes

    def update_probes(self, snap: LabSnapshot) -> None:
        """Server probes (in flight, thread pool, loop lag): several times a second."""
        x_range = self.visible_range(snap.recorder.now_s)
        shown = self._shown(snap)
        colours = endpoint_colours(shown)
        probes = [p for p in snap.probes if p.t_s >= x_range[0]]
        px = np.array([p.t_s for p in probes])
        # The lines a pin also draws go on from a pin taken in this run (update_series);
        # the thread pool's, which no pin draws, stay whole.
        first = live_from(snap)
        live = [p for p in probes if first is None or p.t_s >= first]
        lx = np.array([p.t_s for p in live])
        for name in shown:
            if name not in SCENARIOS and not any(name in p.in_flight for p in probes):
                # A route of a server only reached by URL: its in-flight count is not known
                # here, and a line at 0 would say it was.
                continue
            colour = colours[name]
            self.inflight.item(
                name, pen=self._pen(colour), name=f"in flight: {label_of(name)}"
            ).setData(
                *held_across_freezes(lx, np.array([p.in_flight.get(name, 0) for p in live])),
                connect="finite",
            )
        self.inflight.item(
            "borrowed", pen=self._pen(self.chart_style.foreground, thin=True), name="threads busy"
        ).setData(*self._probe_line(px, probes, "threads_borrowed"), connect="finite")
        self.inflight.item(
            "waiting",
            pen=self._pen(self.chart_style.muted, style=Qt.PenStyle.DashLine, thin=True),
            name="waiting for a thread",
        ).setData(*self._probe_line(px, probes, "threads_waiting"), connect="finite")
        self.inflight.item(
            "total",
            pen=self._pen(self.chart_style.muted, style=Qt.PenStyle.DotLine, thin=True),
            name="thread-pool size",
        ).setData(*self._probe_line(px, probes, "threads_total"), connect="finite")
        apart = self._session.placement.process
        key, name = ("window", "this window's loop") if apart else ("lag", LAG_NAME)
        self.loop_lag.item(key, pen=self._pen("#D55E00", thin=True), name=name).setData(
            *lag_steps(lx, np.array([p.loop_lag_ms for p in live], dtype=float)),
            connect="finite",
        )
        if apart:
            server_lag = [
                math.nan if p.server_loop_lag_ms is None else p.server_loop_lag_ms for p in probes
            ]
            self.loop_lag.item(
                "server",
                pen=self._pen("#0072B2", thin=True),
                name="the server's (its worst worker)",
            ).setData(*lag_steps(px, np.array(server_lag, dtype=float)), connect="finite")
        for plot in (self.inflight, self.loop_lag):
            plot.setXRange(*x_range, padding=0)
        self.timeline.set_endpoints(shown)
        if self.timeline_shown:  # hidden, it costs nothing
            self.timeline.refresh()

    @staticmethod
    def _probe_line(
        px: np.ndarray, probes: list[ProbeSample], field: str
    ) -> tuple[np.ndarray, np.ndarray]:
        return held_across_freezes(px, np.array([getattr(p, field) for p in probes], dtype=float))

    def update_from(self, snap: LabSnapshot) -> None:
        self.update_series(snap)
        self.update_probes(snap)

    # -- markers and pinned runs ---------------------------------------------------------------

    def _draw_markers(self, snap: LabSnapshot, x_range: tuple[float, float]) -> None:
        """A labelled vertical line where a setting changed, on every time chart (the label
        on the top row only: four copies of it would be clutter)."""
        visible = [m for m in snap.markers if x_range[0] <= m.t_s <= x_range[1]]
        places = self._marker_places(visible, x_range)
        for plot in self.time_plots():
            lines = self._marker_lines.setdefault(id(plot), [])
            labelled = plot in (self.throughput, self.latency)
            while len(lines) < len(visible):
                line = pg.InfiniteLine(
                    angle=90,
                    movable=False,
                    pen=self._pen(
                        self.chart_style.muted, style=Qt.PenStyle.DashLine, hairline=True
                    ),
                    label="" if labelled else None,
                    labelOpts={
                        "position": MARKER_LABEL_TOP,
                        "color": self.chart_style.foreground,
                        "anchors": [(0, 0.5), (0, 0.5)],
                    },
                )
                if labelled:  # as large as the axes' tick labels: read from the back row
                    line.label.setFont(self._marker_font())
                line.setZValue(5)
                plot.addItem(line, ignoreBounds=True)
                lines.append(line)
            for index, line in enumerate(lines):
                if index >= len(visible):
                    line.hide()
                    continue
                marker = visible[index]
                line.setPos(marker.t_s)
                label = getattr(line, "label", None)  # only lines made with a label have one
                if label is not None:
                    label.setFormat(" " + marker.label + " ")
                    place = places[index]
                    label.setVisible(place is not None)
                    if place is not None:
                        side = (1, 0.5) if place.left_of_line else (0, 0.5)
                        label.anchors = [side, side]
                        label.setPosition(MARKER_LABEL_TOP - place.row * MARKER_LABEL_STEP)
                line.show()

    def _marker_font(self) -> QFont:
        font = QFont()
        font.setPointSize(self.chart_style.font_pt)
        return font

    def _marker_places(
        self, visible: list[Marker], x_range: tuple[float, float]
    ) -> list[LabelPlace | None]:
        """Rows for the labels on the top charts: none overlapping, none cut at the edge."""
        box = self.throughput.getViewBox()
        width_px = box.width() or 1.0
        span = (x_range[1] - x_range[0]) or 1.0
        metrics = QFontMetrics(self._marker_font())
        return place_labels(
            [(m.t_s - x_range[0]) / span * width_px for m in visible],
            [float(metrics.horizontalAdvance(f" {m.label} ")) for m in visible],
            width_px,
        )

    def _remove_pin(self, number: int) -> None:
        _, items = self._pin_items.pop(number)
        for plot, item in items:
            plot.removeItem(item)
        self.pins_key.remove_starting(self._pin_legend(number) + ":")

    @staticmethod
    def _pin_legend(number: int) -> str:
        return pin_label(number)

    def _draw_pins(self, snap: LabSnapshot) -> None:
        """Each pinned run, faint, under the live data, on the routes the live run shows
        (a pin of none of them is not drawn): drawn once, and again only when the pin, the
        current run's start (the shift that aligns it) or the routes shown change."""
        shown = set(self._shown(snap))
        wanted: dict[int, tuple[PinnedRun, _PinKey]] = {}
        for pin in snap.pins:
            routes = tuple(name for name in self._shown(pin.snapshot) if name in shown)
            if routes:
                shift = snap.run_start_s - pin.snapshot.run_start_s
                wanted[pin.number] = (pin, _PinKey(pin, shift, routes))
        for number, (drawn, _) in list(self._pin_items.items()):
            if number not in wanted or not drawn.same(wanted[number][1]):
                self._remove_pin(number)
        for number, (pin, key) in wanted.items():
            if number not in self._pin_items:
                self._pin_items[number] = (key, self._pin_curves(pin, key))

    def _pin_curves(self, pin: PinnedRun, key: _PinKey) -> list[tuple[_Plot, pg.PlotDataItem]]:
        past, shift = pin.snapshot, key.shift
        style = PIN_STYLES[(pin.number - 1) % len(PIN_STYLES)]
        items: list[tuple[_Plot, pg.PlotDataItem]] = []

        def faint(colour: str) -> QPen:
            qcolour = QColor(colour)
            qcolour.setAlpha(PIN_ALPHA)
            pen: QPen = pg.mkPen(qcolour, width=self.chart_style.line_width * 0.8, style=style)
            return pen

        def add(plot: _Plot, xs: np.ndarray, ys: np.ndarray, pen: QPen, **kw: object) -> None:
            item = pg.PlotDataItem(xs, ys, pen=pen, connect="finite", **kw)
            item.setZValue(-10)  # under the live run
            plot.addItem(item)
            items.append((plot, item))

        start = past.run_start_s
        probes = [p for p in past.probes if p.t_s >= start]
        px = np.array([p.t_s for p in probes], dtype=float)
        # Its colours as the pinned run showed them, on the routes shown now.
        colours = endpoint_colours(self._shown(past))
        for name in key.routes:
            colour = colours[name]
            series = past.recorder.scenarios.get(name)
            if series is not None:
                windows = [w for w in series.windows if w.start_s + w.duration_s >= start]
                xs = np.array([w.start_s + w.duration_s for w in windows], dtype=float) + shift
                add(self.throughput, xs, np.array([w.rate_rps for w in windows]), faint(colour))
                add(self.latency, xs, np.array([w.latency.p50 for w in windows]), faint(colour))
            add(
                self.inflight,
                *held_across_freezes(
                    px + shift, np.array([p.in_flight.get(name, 0) for p in probes])
                ),
                faint(colour),
            )
            points = sorted((p for p in past.curve if p.scenario == name), key=lambda p: p.users)
            users = np.array([p.users for p in points], dtype=float)
            for plot, ys in (
                (self.curve_rps, np.array([p.throughput_rps for p in points])),
                (self.curve_latency, np.array([p.latency_p50_ms for p in points])),
            ):
                qcolour = QColor(colour)
                qcolour.setAlpha(PIN_ALPHA)
                add(
                    plot,
                    users,
                    ys,
                    faint(colour),
                    symbol="o",
                    symbolSize=9,
                    symbolBrush=qcolour,
                    symbolPen=None,
                )
        add(
            self.loop_lag,
            *lag_steps(px + shift, np.array([p.loop_lag_ms for p in probes], dtype=float)),
            faint("#D55E00"),
        )
        sample = PIN_SAMPLES[(pin.number - 1) % len(PIN_SAMPLES)]
        self.pins_key.add(
            f"{self._pin_legend(pin.number)}: {pin.label}", self.chart_style.muted, sample
        )
        return items

    def _highest_pinned(self, plot: _Plot) -> float:
        """The highest finite y among the pinned runs' curves on `plot`."""
        return _highest_of(
            item for _, items in self._pin_items.values() for owner, item in items if owner is plot
        )


@dataclass(eq=False, slots=True)
class ResponseCurve:
    """The response curve's two plots (throughput and p50 against users, log x): the
    measured points (a cross where the generator was the limit), theory dashed, the axes
    fitted to the points and a labelled tick at each measured level. `pen` makes a line
    in the charts' style; `highest_pinned` reads the pinned runs' curves on a plot."""

    session: LabSession
    curve_rps: _Plot
    curve_latency: _Plot
    _: KW_ONLY
    pen: Callable[..., object]
    highest_pinned: Callable[[_Plot], float]
    # The levels labelled on the x axes now (_tick_levels).
    _curve_levels: tuple[int, ...] = field(default=(), init=False)

    def update(self, snap: LabSnapshot) -> None:
        """Draw the measured points and theory, then fit the axes to the points."""
        self._draw(snap)
        self._scale(snap)

    def _scale(self, snap: LabSnapshot) -> None:
        """The measured points decide the axes (plus a margin); theory beyond them is
        clipped. Theory at 1000 users (10 000 req/s) would otherwise squash them flat."""
        points = [*snap.curve, *(p for pin in snap.pins for p in pin.snapshot.curve)]
        if not points:
            # Nothing measured yet: theory's whole range, throughput from 0.
            self._tick_levels(())
            set_y_from_zero(self.curve_rps, nice_ceiling(_highest_in(self.curve_rps)))
            self.curve_latency.enableAutoRange()
            self.curve_rps.enableAutoRange(axis="x")
            return
        users = [p.users for p in points]
        self._tick_levels(tuple(sorted(set(users))))
        x_range = (math.log10(min(users) / X_MARGIN), math.log10(max(users) * X_MARGIN))
        measured = {key for key in self.curve_rps._items if not key.endswith(":theory")}
        for plot in (self.curve_rps, self.curve_latency):
            plot.setXRange(*x_range, padding=0)
            top = max(_highest_in(plot, measured), self.highest_pinned(plot))
            set_y_from_zero(plot, nice_ceiling(top))

    def _tick_levels(self, levels: tuple[int, ...]) -> None:
        """A labelled tick at each measured level (set again only when they change: an
        axis repaint is most of a chart's cost)."""
        if levels == self._curve_levels:
            return
        self._curve_levels = levels
        for plot in (self.curve_rps, self.curve_latency):
            plot.getAxis("bottom").setTicks(curve_ticks(levels))

    def _draw(self, snap: LabSnapshot) -> None:
        wanted = [*snap.scenarios, *(p.scenario for p in snap.curve)]
        shown = [n for n in SCENARIOS if n in wanted] + [
            n for n in dict.fromkeys(wanted) if n not in SCENARIOS
        ]
        colours = endpoint_colours(shown)
        for name in shown:
            colour = colours[name]
            points = sorted((p for p in snap.curve if p.scenario == name), key=lambda p: p.users)
            # A point measured while the generator was the limit is a cross, not a dot.
            # (Separate items: a per-point symbol list crashed pyqtgraph here.)
            for kind, symbol, chosen in (
                ("", "o", [p for p in points if not p.generator_limited]),
                (":limited", "x", [p for p in points if p.generator_limited]),
            ):
                users = np.array([p.users for p in chosen], dtype=float)
                label = label_of(name) if not kind else None
                self.curve_rps.item(
                    name + kind, pen=None, name=label, symbol=symbol, colour=colour
                ).setData(users, np.array([p.throughput_rps for p in chosen]))
                self.curve_latency.item(
                    name + kind, pen=None, name=label, symbol=symbol, colour=colour
                ).setData(users, np.array([p.latency_p50_ms for p in chosen]))
            if name in snap.predictions and name in SCENARIOS:  # a route of yours: no theory
                curve = [self._theory_at(name, int(n)) for n in CURVE_USERS]
                dashed = self.pen(colour, style=Qt.PenStyle.DashLine, thin=True)
                self.curve_rps.item(name + ":theory", pen=dashed).setData(
                    CURVE_USERS.astype(float), np.array([c.throughput_rps for c in curve])
                )
                self.curve_latency.item(name + ":theory", pen=dashed).setData(
                    CURVE_USERS.astype(float), np.array([c.latency_ms for c in curve])
                )

    def _theory_at(self, scenario: str, users: int) -> theory.Prediction:
        base = self.session.prediction(scenario)
        return theory.closed_loop(
            scenario,
            users=users,
            delay_s=base.service_time_s
            if scenario != "fanout-sequential"
            else base.service_time_s / self.session.fanout,
            threads=self.session.threads,
            fanout=self.session.fanout,
            cpu_s=base.service_time_s,
            cpu_share=base.capacity if scenario in CPU_SCENARIOS else 1.0,
            # A sweep loads the blocking route beside at the same level (capped).
            loop_hold=self.session.loop_hold(users),
        )


def _highest_in(plot: _Plot, keys: set[str] | None = None) -> float:
    """The highest finite y among the plot's curves (those of `keys`, or all)."""
    return _highest_of(item for key, item in plot._items.items() if keys is None or key in keys)
