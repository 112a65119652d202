"""Fitting the window to the screen it is shown on: a projector's 1280 x 720 as well as a
desktop's 1920 x 1080 (`WindowLook` applies these rules as the window is resized).

- Presentation mode's fonts follow the screen's lines: 16 pt on 1080 of them, 12 pt on
  720, where 12 pt is as tall on the wall as 16 pt on 1080 lines (taller, in fact).
- A window shorter than FOLD_BELOW_PX starts with the control panel folded: the run bar
  above the charts holds Start/Stop and the sliders, and the charts need every line.
- A wide, short charts column puts the timeline and the response curve in a third column
  beside the time charts (Charts.set_wide) rather than a third row under them."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QScrollArea, QWidget

# Below this window height the control panel folds away (F9 or the strip bring it back).
FOLD_BELOW_PX = 800
# The charts column laid out in three columns from this width:height ratio up.
WIDE_RATIO = 1.75


def presentation_font_pt(screen_height_px: int) -> int:
    """Presentation mode's font size on a screen (or window) this many pixels high."""
    if screen_height_px >= 1000:
        return 16
    return 14 if screen_height_px >= 860 else 12


def wide_enough(width_px: int, height_px: int) -> bool:
    return height_px > 0 and width_px >= WIDE_RATIO * height_px


class ChartsScroll(QScrollArea):
    """The charts column's scroll area, which says when its size changed, and holds a
    banner over its top edge (hold_on_top), taking no room from the charts."""

    resized = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._on_top: QWidget | None = None

    def hold_on_top(self, banner: QWidget) -> None:
        self._on_top = banner
        banner.setParent(self)
        banner.installEventFilter(self)  # shown: placed, at its height for the width
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Shown, or its contents changed (a second banner in it came or went): placed
        # again, at its height for the width.
        if watched is self._on_top and event.type() in (
            QEvent.Type.Show,
            QEvent.Type.LayoutRequest,
        ):
            self._place()
        return super().eventFilter(watched, event)

    def _place(self) -> None:
        banner = self._on_top
        if banner is None:
            return
        width = self.viewport().width()
        height = banner.heightForWidth(width) if banner.hasHeightForWidth() else -1
        banner.setGeometry(0, 0, width, height if height > 0 else banner.sizeHint().height())
        banner.raise_()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place()
        self.resized.emit()
