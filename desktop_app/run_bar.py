"""The run bar above the charts: the lesson's title, Start/Stop, Pin and Reset, and the
sliders a lesson is taught with (users or rate, I/O delay, threads).

Always in view, whatever the window's size: at a projector's 1280 x 720, or with the
control panel folded away in presentation mode, the control panel would need scrolling
(or a key) before the teacher could start the load or move a slider."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

# A slider narrower than this is too fine to drag at a projector.
SLIDER_MIN_PX = 90


class RunBar(QWidget):
    """Two rows: the title (set by the window), the status line and the run buttons; the
    sliders, each after its value label."""

    def __init__(
        self,
        status: QLabel,
        buttons: tuple[QPushButton, ...],
        sliders: tuple[tuple[QLabel, QSlider], ...],
    ) -> None:
        super().__init__()
        self.setObjectName("runBar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self._top = QHBoxLayout()
        # Its text never widens the window; two lines at most, the row's height (fit_status).
        self._status = status
        status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._top.addWidget(status, 1)  # the title goes before it (set_title)
        for button in buttons:
            button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
            self._top.addWidget(button)
        layout.addLayout(self._top)
        row = QHBoxLayout()
        self.cells: list[QWidget] = []
        for label, slider in sliders:
            cell = QWidget()
            cell_layout = QHBoxLayout(cell)
            cell_layout.setContentsMargins(0, 0, 8, 0)
            cell_layout.addWidget(label)
            slider.setMinimumWidth(SLIDER_MIN_PX)
            cell_layout.addWidget(slider, 1)
            row.addWidget(cell, 1)
            self.cells.append(cell)
        layout.addLayout(row)

    def set_title(self, title: QWidget) -> None:
        """The lesson's title, left of the status line and the buttons."""
        self._top.insertWidget(0, title)

    def fit_status(self) -> None:
        """The status line's height: two lines of its font now (a longer text is cut,
        never a taller bar that moves every chart)."""
        self._status.setMaximumHeight(2 * self._status.fontMetrics().lineSpacing() + 2)
