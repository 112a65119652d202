"""The request timeline's scroll bar over a stopped run: after Stop the timeline stops
sliding, and this bar moves its window back over the run (the class discusses a run
after it, and the requests of its first seconds had slid out of view)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QScrollBar

#: Scroll steps per second of the run: a tenth of a second moves a 5 s window enough.
STEPS_PER_S = 10


class RunScrollBar(QScrollBar):
    """Hidden while the load runs (the timeline follows now); after Stop, its value is
    where the shown window ends, in run seconds, from the earliest request kept to Stop."""

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setToolTip("Scroll back over the stopped run's requests")
        self.setSingleStep(1)
        self.setPageStep(5 * STEPS_PER_S)
        self.hide()
        # The run followed (its end): a new run scrolls to its own end.
        self._run_end: float | None = None

    def follow(self, kept_from_s: float, ended_s: float, span_s: float) -> None:
        """Scroll over a stopped run that ended at `ended_s`, whose requests are kept from
        `kept_from_s` (run seconds), in windows of `span_s`."""
        low = round(min(ended_s, kept_from_s + span_s) * STEPS_PER_S)
        high = round(ended_s * STEPS_PER_S)
        self.blockSignals(True)
        self.setRange(low, high)
        if self._run_end != ended_s:
            self._run_end = ended_s
            self.setValue(high)  # first the run's last seconds, where it stopped
        self.blockSignals(False)
        self.show()

    def leave(self) -> None:
        """The load runs again (or was reset): nothing to scroll."""
        self._run_end = None
        self.hide()

    def at_s(self) -> float:
        """Where the shown window ends, in run seconds."""
        return self.value() / STEPS_PER_S
