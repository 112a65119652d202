"""The window's look: light or dark theme, presentation mode (F11) and the control panel
folded to a strip beside the charts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QMainWindow, QScrollArea, QToolButton, QVBoxLayout

from .charts import Charts, ChartStyle
from .controls import ControlPanel
from .figures_table import FiguresTable
from .projector_fit import FOLD_BELOW_PX, ChartsScroll, presentation_font_pt, wide_enough
from .session import LabSession

# How long the window waits, idle, before it makes the other mode's charts.
PREPARE_AFTER_MS = 2000

# Banners (background, text, border) per theme: set here, not in the .qss files, so that
# they stay readable even when a style sheet is missing.
_BANNER_COLOURS = {
    False: {
        "healthBanner": ("#FFF1E0", "#8A3B00", "#E0A060"),
        "noticeBanner": ("#FDECEC", "#8A1020", "#E09090"),
        "drainingBanner": ("#FFF1E0", "#8A3B00", "#E0A060"),
    },
    True: {
        "healthBanner": ("#3A2B1C", "#FFB37A", "#8A5A2A"),
        "noticeBanner": ("#3A1F24", "#FF9AA5", "#8A3A44"),
        "drainingBanner": ("#3A2B1C", "#FFB37A", "#8A5A2A"),
    },
}


def _themed_sheet(*, dark: bool, font_pt: int) -> str:
    """The banners in the theme's colours, and check boxes drawn by the style sheet: Qt's
    own indicator vanishes on a dark background when unchecked and does not grow with the
    fonts (presentation mode)."""
    rules = [
        f"QLabel#{name} {{ background: {bg}; color: {fg}; border: 1px solid {border};"
        " border-radius: 6px; padding: 6px; }"
        for name, (bg, fg, border) in _BANNER_COLOURS[dark].items()
    ]
    box, edge, on = ("#2A2F36", "#9AA3AD", "#1F8AD2") if dark else ("#FFFFFF", "#5A6470", "#0072B2")
    size = round(font_pt * 1.3)
    rules.append(
        f"QCheckBox::indicator {{ width: {size}px; height: {size}px; border: 2px solid {edge};"
        f" border-radius: 3px; background: {box}; }}"
        f" QCheckBox::indicator:checked {{ background: {on}; border-color: {on}; }}"
        f" QCheckBox::indicator:disabled {{ border-color: #888888; }}"
    )
    # Sliders drawn by the style sheet too: the dark theme hid the groove's empty part (a
    # slider near its low end read as no slider), and the handle grows with the fonts.
    track, handle = ("#4A525C", "#E6E6E6") if dark else ("#C8CDD2", "#FFFFFF")
    knob = round(font_pt * 1.4)
    rules.append(
        f"QSlider::groove:horizontal {{ height: 6px; background: {track}; border-radius: 3px; }}"
        f" QSlider::sub-page:horizontal {{ background: {on}; border-radius: 3px; }}"
        f" QSlider::sub-page:horizontal:disabled {{ background: #888888; }}"
        f" QSlider::handle:horizontal {{ width: {knob}px; margin: -{(knob - 6) // 2}px 0;"
        f" border-radius: {knob // 2}px; background: {handle}; border: 1px solid {edge}; }}"
    )
    return "\n" + "\n".join(rules)


@dataclass(frozen=True, slots=True)
class WindowWidgets:
    """The window and the widgets of its layout that the look restyles, folds and fills:
    laid out once by the window (`MainWindow._build_layout`)."""

    window: QMainWindow
    controls: ControlPanel
    controls_scroll: QScrollArea
    panel_toggle: QToolButton
    charts_column: QVBoxLayout
    charts_scroll: ChartsScroll
    table: FiguresTable


@dataclass(frozen=True, slots=True)
class StyleSheets:
    """The themes' style sheets (`light.qss`, `dark.qss`) in `folder`; `say` tells of one
    that cannot be read."""

    folder: Path
    say: Callable[[str], None]

    def read(self, theme: str) -> str:
        """The theme's sheet, or "" (Qt's default look) when it cannot be read."""
        path = self.folder / f"{theme}.qss"
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self.say(f"Style sheet {path} cannot be read ({reason}): Qt's default look.")
            return ""


class WindowLook:
    """Styles the window from `sheets`; owns the charts, at the top of the charts' column,
    which a new style replaces (their fonts, widths and colours are fixed when their plots
    are made)."""

    def __init__(self, widgets: WindowWidgets, session: LabSession, sheets: StyleSheets) -> None:
        self._widgets = widgets
        self._session = session
        self._sheets = sheets
        self.charts = Charts(session)
        widgets.charts_column.insertWidget(0, self.charts, 1)
        self._dark = False
        self._presentation = False
        # Presentation mode's font size, for the screen's height (projector_fit).
        self._presentation_pt = 16
        # The panel was folded because the window is short (not by the user): it comes
        # back when the window is tall enough again.
        self._folded_for_height = False
        # A resize that changes the presentation fonts restyles once, at the loop's next turn.
        self._refit = QTimer(widgets.window)
        self._refit.setSingleShot(True)
        self._refit.timeout.connect(self._refit_fonts)
        widgets.charts_scroll.resized.connect(self.fit_to_window)
        # The charts made for each style (theme and mode), kept to be shown again: a new
        # set of pyqtgraph plots costs the shared loop ~200 ms, at every F11 otherwise.
        self._charts_by_style: dict[ChartStyle, Charts] = {self.charts.chart_style: self.charts}
        self.controls_shown = True
        # The other mode's charts are made once the window has been idle a moment.
        self._prepare = QTimer(widgets.window)
        self._prepare.setSingleShot(True)
        self._prepare.setInterval(PREPARE_AFTER_MS)
        self._prepare.timeout.connect(self._prepare_when_idle)
        self._prepare.start()

    def set_dark(self, dark: bool) -> None:
        self._dark = dark
        with self._session.ui_busy():  # the restyle stalls the loop: not the generator's fault
            self.apply_style()
        self._prepare.start()  # the other mode's charts, in this theme

    def show_controls(self, shown: bool, *, for_height: bool = False) -> None:
        """Show the control panel, or fold it to the narrow strip beside the charts
        (for_height: because the window is short, see fit_to_window)."""
        self._folded_for_height = for_height and not shown
        self.controls_shown = shown
        self._widgets.controls_scroll.setVisible(shown)
        self._widgets.panel_toggle.setText("\u25c0" if shown else "\u25b6")
        self._widgets.panel_toggle.setToolTip(
            "Hide the controls: the charts get the screen (F9)"
            if shown
            else "Show the controls (F9); Space still starts and stops the load"
        )

    def set_presentation(self, on: bool) -> None:
        """Projector mode: full screen, fonts of 16 pt and more, thick lines, and the
        controls folded away (the strip beside the charts, or F9, brings them back)."""
        self._presentation = on
        self.show_controls(not on)
        if on:  # full screen: the fonts for the screen's lines, before the first restyle
            self._presentation_pt = presentation_font_pt(self._screen_height())
        with self._session.ui_busy():  # the restyle stalls the loop: not the generator's fault
            self.apply_style()
            if on:
                self._widgets.window.showFullScreen()
            else:
                self._widgets.window.showNormal()

    def apply_style(self) -> None:
        font_pt = self._presentation_pt if self._presentation else 11
        self._widgets.window.setStyleSheet(
            self._sheets.read("dark" if self._dark else "light")
            + _themed_sheet(dark=self._dark, font_pt=font_pt)
            + f"\nQWidget {{ font-size: {font_pt}pt; }}"
            + f"\nQLabel#headline {{ font-size: {font_pt + 6}pt; font-weight: bold; }}"
        )
        width = 35 * font_pt if self._presentation else 400
        self._widgets.controls.setFixedWidth(width)
        for label in self._widgets.controls.run_bar.findChildren(QLabel):
            label.ensurePolished()  # the bar is not in the panel: its font follows here
        self._widgets.controls.hold_label_widths()
        self._widgets.controls.fit_card()
        # Room for the vertical scroll bar when the panel is taller than the window.
        self._widgets.controls_scroll.setFixedWidth(width + 16)
        self._widgets.table.max_height = 180 if self._presentation else 150
        self._widgets.table.fit_height()  # its rows' height follows the new font
        self._restyle_charts(self._chart_style(self._presentation))

    def _chart_style(self, presentation: bool) -> ChartStyle:
        if presentation and not self._presentation:  # the one F11 will show
            font_pt = presentation_font_pt(self._screen_height())
        else:
            font_pt = self._presentation_pt
        return ChartStyle.make(presentation=presentation, dark=self._dark, font_pt=font_pt)

    def _screen_height(self) -> int:
        screen = self._widgets.window.screen()
        return screen.geometry().height() if screen is not None else 1080

    def _presentation_height(self) -> int:
        # Full screen, the screen's: the window's own lags behind while it grows to it (a
        # 16 pt set of charts was made for the old height on the way).
        return (
            self._screen_height()
            if self._widgets.window.isFullScreen()
            else self._widgets.window.height()
        )

    def fit_to_window(self) -> None:
        """Follow the window's size: fold the panel on a short one, presentation fonts for
        its lines, the timeline beside the time charts on a wide, short one."""
        height = self._widgets.window.height()
        if not self._presentation:
            short = height < FOLD_BELOW_PX
            if short and self.controls_shown:
                self.show_controls(False, for_height=True)
            elif not short and self._folded_for_height:
                self.show_controls(True)
        elif presentation_font_pt(self._presentation_height()) != self._presentation_pt:
            self._refit.start()
        viewport = self._widgets.charts_scroll.viewport()
        self.charts.set_wide(wide_enough(viewport.width(), viewport.height()))

    def _refit_fonts(self) -> None:
        if self._presentation:
            self._presentation_pt = presentation_font_pt(self._presentation_height())
            with self._session.ui_busy():
                self.apply_style()

    def _restyle_charts(self, style: ChartStyle) -> None:
        # Fonts, widths and colours are set when plots are made: other plots, kept per style.
        if style == self.charts.chart_style:
            return
        old = self.charts
        charts = self._charts_by_style.get(style)
        if charts is None:
            charts = self._charts_by_style[style] = Charts(self._session, style)
        else:
            charts.clear()  # what it showed when last in view: drawn anew below
        self.charts = charts
        charts.show_timeline(old.timeline_shown)
        charts.set_wide(old.wide)
        self._widgets.charts_column.replaceWidget(old, charts)
        # Hidden, not deleted: deleting pyqtgraph plots while Qt may still deliver their
        # queued paint events is a crash risk; and they come back at the next toggle.
        old.hide()
        charts.show()
        charts.show_placement(self._session.placement)
        # Drawn at the loop's next turn: the new layout's paint and the redraw are two
        # short stalls of the shared loop instead of one long one.
        QTimer.singleShot(0, lambda: self._redraw(charts))

    def _redraw(self, charts: Charts) -> None:
        if charts is self.charts:  # not toggled away again meanwhile
            charts.update_from(self._session.snapshot())

    def _prepare_when_idle(self) -> None:
        if not self.prepare_presentation():
            self._prepare.start()  # running: again later

    def prepare_presentation(self) -> bool:
        """Make the presentation mode's charts now, while nothing runs, so that F11 in
        the lesson swaps them in instead of making them then. False: not now (a load is
        running, the loop is the lesson's), ask again later."""
        style = self._chart_style(not self._presentation)
        if style in self._charts_by_style:
            return True
        if self._session.running:
            return False
        if self._session.own is not None:
            # Not beside an app of the user's: its BlockWatch thread samples this thread's
            # Python stack all through a long stall, and a build at idle there crashed the
            # process twice in test_own_app (in CPython, under pyqtgraph's construction).
            return True
        with self._session.ui_busy():
            charts = self._charts_by_style[style] = Charts(self._session, style)
        # A child of the charts' column, hidden: Qt's to delete with the window, never
        # Python's (whose collector may run on a server thread, where freeing a widget
        # crashes).
        charts.setParent(self._widgets.charts_column.parentWidget())
        charts.hide()
        return True
