"""The live charts: pyqtgraph plots fed from session snapshots on a timer."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QGraphicsItem, QGridLayout, QWidget

from embedded_server import CPU_SCENARIOS
from loadgen import theory

from .palette import SCENARIO_COLOURS, SCENARIO_LABELS
from .session import LabSession, LabSnapshot

pg.setConfigOptions(background="w", foreground="#202020", antialias=True)

# Seconds of history the time charts show.
VISIBLE_S = 60.0
LINE_WIDTH = 3
CURVE_USERS = np.unique(np.round(np.logspace(0, 3, 60)).astype(int))


def _pen(
    colour: str, *, style: Qt.PenStyle = Qt.PenStyle.SolidLine, width: float = LINE_WIDTH
) -> object:
    return pg.mkPen(colour, width=width, style=style)


class _Plot(pg.PlotWidget):  # type: ignore[misc]
    def __init__(self, title: str, left: str, bottom: str, font_pt: int) -> None:
        super().__init__()
        self.setTitle(title, size=f"{font_pt + 2}pt")
        tick_font = QFont()
        tick_font.setPointSize(font_pt)
        label_style = {"font-size": f"{font_pt + 1}pt"}
        for name, text in (("left", left), ("bottom", bottom)):
            axis = self.getAxis(name)
            axis.setStyle(tickFont=tick_font)
            axis.setLabel(text, **label_style)
            # Axes (with their grid lines) are most of a plot's paint cost, ~3 ms each,
            # measured; cached as a pixmap they are redrawn only when their range changes.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=False, y=False)
        self.setMenuEnabled(False)
        self.legend = self.addLegend(labelTextSize=f"{font_pt}pt", offset=(8, 8))
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

    def __init__(self, session: LabSession, *, font_pt: int = 11) -> None:
        super().__init__()
        self._session = session
        self.throughput = _Plot("Throughput (dashed: theory)", "requests / s", "time (s)", font_pt)
        self.latency = _Plot("Latency p50 (solid) and p99 (dotted)", "ms", "time (s)", font_pt)
        self.inflight = _Plot(
            "Server: in flight and thread pool", "requests / threads", "time (s)", font_pt
        )
        self.loop_lag = _Plot("Event-loop lag: what this window feels", "ms", "time (s)", font_pt)
        self.curve_rps = _Plot(
            "Throughput vs users (dashed: theory)", "requests / s", "users", font_pt
        )
        self.curve_latency = _Plot("Latency p50 vs users (dashed: theory)", "ms", "users", font_pt)
        for plot in (self.curve_rps, self.curve_latency):
            plot.setLogMode(x=True, y=False)
        self.loop_lag.addLine(y=50, pen=_pen("#999999", style=Qt.PenStyle.DashLine, width=1))
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
            self.throughput.item(name, pen=_pen(colour), name=label).setData(
                xs, np.array([w.throughput_rps for w in windows])
            )
            self.latency.item(name, pen=_pen(colour), name=label).setData(
                xs, np.array([w.latency.p50 for w in windows]), connect="finite"
            )
            self.latency.item(
                name + ":p99", pen=_pen(colour, style=Qt.PenStyle.DotLine, width=2)
            ).setData(xs, np.array([w.latency.p99 for w in windows]), connect="finite")
        probes = [p for p in snap.probes if p.t_s >= x_range[0]]
        px = np.array([p.t_s for p in probes])
        for name in shown:
            colour = SCENARIO_COLOURS[name]
            self.throughput.item(
                name + ":theory", pen=_pen(colour, style=Qt.PenStyle.DashLine, width=2)
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
                name, pen=_pen(colour), name=f"in flight: {SCENARIO_LABELS[name]}"
            ).setData(px, np.array([p.in_flight.get(name, 0) for p in probes]))
        self.inflight.item("borrowed", pen=_pen("#222222", width=2), name="threads busy").setData(
            px, np.array([p.threads_borrowed for p in probes])
        )
        self.inflight.item(
            "waiting",
            pen=_pen("#888888", style=Qt.PenStyle.DashLine, width=2),
            name="waiting for a thread",
        ).setData(px, np.array([p.threads_waiting for p in probes]))
        self.inflight.item(
            "total",
            pen=_pen("#BBBBBB", style=Qt.PenStyle.DotLine, width=2),
            name="thread-pool size",
        ).setData(px, np.array([p.threads_total for p in probes]))
        self.loop_lag.item(
            "lag", pen=_pen("#D55E00", width=2), name="lag (50 ms: noticeable)"
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
            users = np.array([p.users for p in points], dtype=float)
            self.curve_rps.item(
                name, pen=None, name=SCENARIO_LABELS[name], symbol="o", colour=colour
            ).setData(users, np.array([p.throughput_rps for p in points]))
            self.curve_latency.item(
                name, pen=None, name=SCENARIO_LABELS[name], symbol="o", colour=colour
            ).setData(users, np.array([p.latency_p50_ms for p in points]))
            if name in snap.predictions:
                curve = [self._theory_at(name, int(n)) for n in CURVE_USERS]
                dashed = _pen(colour, style=Qt.PenStyle.DashLine, width=2)
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
