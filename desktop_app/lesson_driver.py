"""The lesson shown: choosing one puts its settings on the session and the panel, and
its name (with the app loaded and where the server runs) in the headline."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel

from .placement_driver import PlacementDriver
from .presets import Preset
from .shell import PartContext, WindowPart
from .window_settings import WindowSettings


class LessonDriver(WindowPart):
    """Applies `presets` (the first is shown until another is applied); the shell resets
    the run and the charts after each. Makes `headline`, for the window to lay out."""

    def __init__(
        self,
        presets: tuple[Preset, ...],
        context: PartContext,
        *,
        placement: PlacementDriver,
        settings: WindowSettings,
    ) -> None:
        self.presets = presets
        self.current: Preset = presets[0]
        super().__init__(context)
        self._placement = placement
        self._settings = settings
        self.headline = QLabel()
        self.headline.setObjectName("headline")

    def choose(self, index: int) -> None:
        """A lesson chosen in the panel brings its own placement (the command line's held
        until now)."""
        self._placement.release()
        self.apply(self.presets[index])

    def apply(self, preset: Preset) -> None:
        """Load a preset (refused while the load runs) and clear the charts."""
        session, controls = self._session, self._controls
        if session.running:
            self._shell.show_message("Stop the load before changing the lesson.")
            self._show_index(self.presets.index(self.current))
            return
        self.current = preset
        # Pins are the lesson's own: another lesson's are not drawn on this one.
        session.comparison.follow_lesson(preset.name)
        self._placement.follow_lesson(preset)
        session.apply(**preset.load())
        controls.show_settings(
            scenarios=preset.scenarios,
            users=preset.users,
            delay_ms=preset.delay_ms,
            threads=preset.threads,
            explanation=preset.explanation,
        )
        self._show_index(self.presets.index(preset))
        self._shell.charts.show_timeline(preset.view == "timeline")
        self.show_headline()
        self._settings.remember_lesson(preset.name)
        self._shell.reset()

    def _show_index(self, index: int) -> None:
        combo = self._controls.preset
        if combo.currentIndex() != index:
            combo.blockSignals(True)
            combo.setCurrentIndex(index)
            combo.blockSignals(False)

    def show_headline(self) -> None:
        own = self._session.own
        placement = self._session.placement
        where = f" (server: {placement.label})" if placement.process else ""
        self.headline.setText(self.current.name + (f", with {own.name}" if own else "") + where)
        # Every change of the app or URL ends here: the Server choice follows it.
        self._controls.set_own_loaded(own is not None)
