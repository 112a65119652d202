"""The run bar above the charts: the lesson's title, Start/Stop, Pin and Reset, and the
sliders a lesson is taught with (users or rate, I/O delay, threads).

Always in view, whatever the window's size: at a projector's 1280 x 720, or with the
control panel folded away in presentation mode, the control panel would need scrolling
(or a key) before the teacher could start the load or move a slider."""

from __future__ import annotations

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
    """Two rows: the title (set by the window) and the run buttons; the sliders, each
    after its value label."""

    def __init__(
        self, buttons: tuple[QPushButton, ...], sliders: tuple[tuple[QLabel, QSlider], ...]
    ) -> None:
        super().__init__()
        self.setObjectName("runBar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self._top = QHBoxLayout()
        self._top.addStretch(1)  # where the title goes (set_title)
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
        """The lesson's title, left of the buttons (it takes the room they leave)."""
        self._top.insertWidget(0, title, 1)
