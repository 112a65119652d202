"""The live charts: pyqtgraph plots fed from session snapshots on a timer."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QWidget

from loopscope.embedded_server import CPU_SCENARIOS
from loopscope.loadgen import theory

from .palette import SCENARIO_COLOURS, SCENARIO_LABELS
from .session import LabSession, LabSnapshot

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
    def make(cls, *, presentation: bool, dark: bool) -> ChartStyle:
        # Presentation: readable from the back of a room on a 1920×1080 projector.
        font_pt, line_width = (16, 5.0) if presentation else (11, 3.0)
        if dark:
            return cls(font_pt, line_width, "#1E2227", "#E6E6E6", "#9AA3AD")
        return cls(font_pt, line_width)


# Users at which the response curve's theory line is drawn: 1 to 1000, even on a log axis.
CURVE_USERS = np.unique(np.round(np.logspace(0, 3, 60)).astype(int))


class _Plot(pg.PlotWidget):  # type: ignore[misc]
    def __init__(self, title: str, left: str, bottom: str, style: ChartStyle) -> None:
        super().__init__(background=style.background)
        font_pt = style.font_pt
        self.setTitle(title, size=f"{font_pt + 2}pt", color=style.foreground)
        tick_font = QFont()
        tick_font.setPointSize(font_pt)
        label_style = {"font-size": f"{font_pt + 1}pt", "color": style.foreground}
        for name, text in (("left", left), ("bottom", bottom)):
            axis = self.getAxis(name)
            axis.setStyle(tickFont=tick_font)
            axis.setPen(style.foreground)
            axis.setTextPen(style.foreground)
            axis.setLabel(text, **label_style)
            # Axes (with their grid lines) are most of a plot's paint cost, ~3 ms each,
            # measured; cached as a pixmap they are redrawn only when their range changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        self.legend = self.addLegend(
            labelTextSize=f"{font_pt}pt",
            labelTextColor=style.foreground,
            offset=(8, 8),
            brush=pg.mkBrush(style.background + "C0"),
        )
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
        return item

    def clear_data(self) -> None:
        """Remove every curve and its legend entry (a new lesson has other scenarios)."""
        for item in self._items.values():
            self.legend.removeItem(item)
            self.removeItem(item)
        self._items.clear()


class Charts(QWidget):
    """Throughput, latency, in-flight and thread pool, loop lag, and the response curve."""

    def __init__(self, session: LabSession, style: ChartStyle | None = None) -> None:
        super().__init__()
        self._session = session
        self.chart_style = style = style or ChartStyle()
        self.throughput = _Plot("Throughput (dashed: theory)", "requests / s", "time (s)", style)
        self.latency = _Plot("Latency p50 (solid) and p99 (dotted)", "ms", "time (s)", style)
        self.inflight = _Plot(
            "Server: in flight and thread pool", "requests / threads", "time (s)", style
        )
        self.loop_lag = _Plot("Event-loop lag: what this window feels", "ms", "time (s)", style)
        self.curve_rps = _Plot(
            "Throughput vs users (dashed: theory)", "requests / s", "users", style
        )
        self.curve_latency = _Plot("Latency p50 vs users (dashed: theory)", "ms", "users", style)
        for plot in (self.curve_rps, self.curve_latency):
            plot.setLogMode(x=True, y=False)
        self.loop_lag.addLine(
            y=50, pen=self._pen(self.chart_style.muted, style=Qt.PenStyle.DashLine, hairline=True)
        )
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for index, plot in enumerate(
            (
                self.throughput,
                self.latency,
                self.inflight,
                self.loop_lag,
                self.curve_rps,
                self.curve_latency,
            )
        ):
            layout.addWidget(plot, index // 2, index % 2)

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

    def clear(self) -> None:
        for plot in self.plots():
            plot.clear_data()

    @staticmethod
    def visible_range(now_s: float) -> tuple[float, float]:
        # Whole seconds: the time axes then repaint once a second, not every frame (an
        # axis repaint costs ~3 ms, measured, and there are four of them).
        end = max(VISIBLE_S, float(math.ceil(now_s)))
        return end - VISIBLE_S, end

    def update_series(self, snap: LabSnapshot) -> None:
        """Per-window series (throughput, latency) and the response curve: once a second."""
        x_range = self.visible_range(snap.recorder.now_s)
        shown = set(snap.scenarios) | set(snap.recorder.scenarios)
        for name in shown:
            series = snap.recorder.scenarios.get(name)
            if series is None:
                continue
            colour = SCENARIO_COLOURS[name]
            label = SCENARIO_LABELS[name]
            windows = [w for w in series.windows if w.start_s + w.duration_s >= x_range[0]]
            xs = np.array([w.start_s + w.duration_s for w in windows])
            self.throughput.item(name, pen=self._pen(colour), name=label).setData(
                xs, np.array([w.rate_rps for w in windows])  # non-aliasing (RateEstimator)
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
            colour = SCENARIO_COLOURS[name]
            self.throughput.item(
                name + ":theory", pen=self._pen(colour, style=Qt.PenStyle.DashLine, thin=True)
            ).setData(
                px, np.array([p.theory_rps.get(name, math.nan) for p in probes]), connect="finite"
            )
        for plot in (self.throughput, self.latency):
            plot.setXRange(*x_range, padding=0)
        self._update_curve(snap)

    def update_probes(self, snap: LabSnapshot) -> None:
        """Server probes (in flight, thread pool, loop lag): several times a second."""
        x_range = self.visible_range(snap.recorder.now_s)
        shown = set(snap.scenarios) | set(snap.recorder.scenarios)
        probes = [p for p in snap.probes if p.t_s >= x_range[0]]
        px = np.array([p.t_s for p in probes])
        for name in shown:
            colour = SCENARIO_COLOURS[name]
            self.inflight.item(
                name, pen=self._pen(colour), name=f"in flight: {SCENARIO_LABELS[name]}"
            ).setData(px, np.array([p.in_flight.get(name, 0) for p in probes]))
        self.inflight.item(
            "borrowed", pen=self._pen(self.chart_style.foreground, thin=True), name="threads busy"
        ).setData(px, np.array([p.threads_borrowed for p in probes]))
        self.inflight.item(
            "waiting",
            pen=self._pen(self.chart_style.muted, style=Qt.PenStyle.DashLine, thin=True),
            name="waiting for a thread",
        ).setData(px, np.array([p.threads_waiting for p in probes]))
        self.inflight.item(
            "total",
            pen=self._pen(self.chart_style.muted, style=Qt.PenStyle.DotLine, thin=True),
            name="thread-pool size",
        ).setData(px, np.array([p.threads_total for p in probes]))
        self.loop_lag.item(
            "lag", pen=self._pen("#D55E00", thin=True), name="lag (50 ms: noticeable)"
        ).setData(px, np.array([p.loop_lag_ms for p in probes]))
        for plot in (self.inflight, self.loop_lag):
            plot.setXRange(*x_range, padding=0)

    def update_from(self, snap: LabSnapshot) -> None:
        self.update_series(snap)
        self.update_probes(snap)

    def _update_curve(self, snap: LabSnapshot) -> None:
        names = set(snap.scenarios) | {p.scenario for p in snap.curve}
        for name in names:
            colour = SCENARIO_COLOURS[name]
            points = sorted((p for p in snap.curve if p.scenario == name), key=lambda p: p.users)
            # A point measured while the generator was the limit is a cross, not a dot.
            # (Separate items: a per-point symbol list crashed pyqtgraph here.)
            for kind, symbol, chosen in (
                ("", "o", [p for p in points if not p.generator_limited]),
                (":limited", "x", [p for p in points if p.generator_limited]),
            ):
                users = np.array([p.users for p in chosen], dtype=float)
                label = SCENARIO_LABELS[name] if not kind else None
                self.curve_rps.item(
                    name + kind, pen=None, name=label, symbol=symbol, colour=colour
                ).setData(users, np.array([p.throughput_rps for p in chosen]))
                self.curve_latency.item(
                    name + kind, pen=None, name=label, symbol=symbol, colour=colour
                ).setData(users, np.array([p.latency_p50_ms for p in chosen]))
            if name in snap.predictions:
                curve = [self._theory_at(name, int(n)) for n in CURVE_USERS]
                dashed = self._pen(colour, style=Qt.PenStyle.DashLine, thin=True)
                self.curve_rps.item(name + ":theory", pen=dashed).setData(
                    CURVE_USERS.astype(float), np.array([c.throughput_rps for c in curve])
                )
                self.curve_latency.item(name + ":theory", pen=dashed).setData(
                    CURVE_USERS.astype(float), np.array([c.latency_ms for c in curve])
                )

    def _theory_at(self, scenario: str, users: int) -> theory.Prediction:
        base = self._session.prediction(scenario)
        return theory.closed_loop(
            scenario,
            users=users,
            delay_s=base.service_time_s
            if scenario != "fanout-sequential"
            else base.service_time_s / self._session.fanout,
            threads=self._session.threads,
            fanout=self._session.fanout,
            cpu_s=base.service_time_s,
            cpu_share=base.capacity if scenario in CPU_SCENARIOS else 1.0,
        )
