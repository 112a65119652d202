"""The figures table: per endpoint, the measured figures beside theory's."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from .finished_run import FinishedRun
from .measurement import CURVE_SKIP_S
from .palette import endpoint_colours
from .session import LabSnapshot

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


# Rows the figures table always has room for.
TABLE_MIN_ROWS = 2


def _measured(snap: LabSnapshot, name: str) -> tuple[float, float, float, float]:
    """req/s, p50, p99 and errors/s of `name`: its last window's while the load runs (the
    non-aliasing rate, RateEstimator); after Stop, over the run's held part, or its
    last window's when the held part answered nothing."""
    held = snap.finished.held.get(name) if snap.finished is not None else None
    if held is not None:
        return held.throughput_rps, held.latency_p50_ms, held.latency_p99_ms, held.error_rps
    series = snap.recorder.scenarios.get(name)
    last = series.last if series is not None else None
    if last is None:
        return math.nan, math.nan, math.nan, math.nan
    return last.rate_rps, last.latency.p50, last.latency.p99, last.error_rps


def stopped_tip(finished: FinishedRun, name: str) -> str:
    """What the figures of a stopped run are over (the table's tool tip)."""
    held = finished.held.get(name)
    if held is None:
        return "Stopped: the figures of the run's last second (Reset or Start clears them)"
    return (
        f"Stopped: the figures over the run's last {held.held_s:.1f} s at this load (from "
        f"{CURVE_SKIP_S:g} s after it was set until Stop); Reset or Start clears them"
    )


class ReadOnlyTable(QTableWidget):
    """A table the window fills and the user only reads: named columns, no row numbers,
    nothing to edit or focus, the last column stretched."""

    def __init__(self, columns: Sequence[str]) -> None:
        super().__init__(0, len(columns))
        self.setHorizontalHeaderLabels(list(columns))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.horizontalHeader().setStretchLastSection(True)


class FiguresTable(ReadOnlyTable):
    """The figures per endpoint, as tall as its rows (up to `max_height`; then it scrolls):
    the height a lesson's two endpoints leave empty goes to the charts (a fixed height left
    empty rows under a two-row table in presentation mode)."""

    def __init__(self) -> None:
        super().__init__(TABLE_COLUMNS)
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
            prediction = snap.predictions[name]
            load = (
                f"{snap.rate:g} req/s"
                if snap.mode == "open"
                else f"{snap.users.get(name, 0)} users"
            )
            tip = ""
            if snap.finished is not None:
                load = f"{load} \u00b7 {snap.finished.summary(name)}"
                tip = stopped_tip(snap.finished, name)
            elif name in snap.settling:
                # Measured latency is above theory until then: say why (session: settling).
                load += " (settling: the queue is draining)"
            measured = _measured(snap, name)
            cells = [
                name,
                load,
                _fmt(measured[0], 1),
                _fmt(prediction.throughput_rps, 1),
                _fmt(measured[1]),
                _fmt(prediction.latency_ms),
                _fmt(measured[2]),
                _fmt(measured[3], 1),
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                if column == 0:
                    item.setForeground(QBrush(QColor(colours[name])))
                else:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.setItem(row, column, item)
        self.resizeColumnsToContents()
