"""The window's painting, pulled on timers from session snapshots: the probe charts often,
the text (table, series, curve, banners) once a window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer

from loopscope.loadgen.health import UI_PAINT_SETTLE_S

from .figures_table import FiguresTable
from .session import LabSession
from .shell import Shell

# Probe charts (in flight, threads, loop lag) redraw 4 times a second: enough to watch a
# freeze start and end; each redraw costs a few ms of the loop the server shares.
PLOT_PERIOD_MS = 250
# The recorder's series only change once a window (1 s), and text changing faster than
# that cannot be read: table, throughput/latency charts and the curve refresh each second.
TEXT_PERIOD_MS = 1000


class PaintTimers:
    """Starts painting at once; `stop()` when the window goes. `text_painted` are called
    after each text paint (the banners, what blocked the loop)."""

    def __init__(
        self,
        parent: QObject,
        session: LabSession,
        shell: Shell,
        table: FiguresTable,
        text_painted: tuple[Callable[[], None], ...],
    ) -> None:
        self._session = session
        self._shell = shell
        self._table = table
        self._text_painted = text_painted
        self._plot_timer = QTimer(parent)
        self._plot_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._plot_timer.timeout.connect(self._plot_tick)
        self._plot_timer.start(PLOT_PERIOD_MS)
        self._plot_ticks = 0
        # The text refresh runs half a probe period after every fourth probe refresh, so
        # that the two stall the loop apart and are painted apart: on two timers of their
        # own they drifted into one frame, one long stall instead of two short ones.
        self._text_timer = QTimer(parent)
        self._text_timer.setSingleShot(True)
        self._text_timer.timeout.connect(self.paint_text)

    def stop(self) -> None:
        self._plot_timer.stop()
        self._text_timer.stop()

    def _plot_tick(self) -> None:
        self.paint_plots()
        self._plot_ticks += 1
        if self._plot_ticks % (TEXT_PERIOD_MS // PLOT_PERIOD_MS) == 0:
            self._text_timer.start(PLOT_PERIOD_MS // 2)

    def paint_plots(self) -> None:
        self._shell.charts.update_probes(self._session.snapshot())

    def paint_text(self) -> None:
        # This repaint stalls the shared loop: the window's doing, not the generator's.
        with self._session.ui_busy(settle_s=UI_PAINT_SETTLE_S):
            snap = self._session.snapshot()
            self._shell.charts.update_series(snap)
            self._table.show_snapshot(snap)
            for painted in self._text_painted:
                painted()
