"""What the window remembers between runs (the lesson, the theme, its geometry), read
back with every value checked. What the command line asks of one launch (`--theme`,
`--size`, `--presentation`) is that launch's only: the next opens as the user left it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from PySide6.QtCore import QByteArray, QSettings

from .presets import Preset


@dataclass(slots=True)
class Remembered:
    """What the settings file says, checked: each value of the right type and range, or
    the default with the key listed in `ignored`."""

    lesson: Preset
    dark: bool = False
    geometry: QByteArray | None = None
    ignored: list[str] = field(default_factory=list)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_settings(settings: QSettings, presets: Sequence[Preset]) -> Remembered:
    """Read the remembered lesson, theme and geometry. QSettings coerces whatever it finds
    (`dark=banana` reads as true with type=bool), so each raw value is checked here."""
    remembered = Remembered(lesson=presets[0])
    bad: list[str] = []
    lesson = settings.value("lesson")
    if lesson is not None:
        found = next((p for p in presets if isinstance(lesson, str) and p.name == lesson), None)
        if found is None:
            what = "is not a lesson" if isinstance(lesson, str) else "is not a name"
            bad.append(f"lesson={_shown(lesson)} ({what})")
        else:
            remembered.lesson = found
    dark = settings.value("view/dark")
    if dark is not None:
        # The ini format stores booleans as the words true/false; anything else is garbage.
        word = str(dark).lower() if isinstance(dark, str | bool) else None
        if word in ("true", "false"):
            remembered.dark = word == "true"
        else:
            bad.append(f"view/dark={_shown(dark)} (not true or false)")
    geometry = settings.value("window/geometry")
    if geometry is not None:
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            remembered.geometry = geometry
        else:
            bad.append("window/geometry (not a saved window geometry)")
    remembered.ignored = bad
    return remembered


class WindowSettings:
    """The window's side of its settings file: None (in --autorun and tests, so runs are
    reproducible) remembers nothing. Problems with the file are said through `say`."""

    def __init__(self, settings: QSettings | None, say: Callable[[str], None]) -> None:
        self._settings = settings
        self._say = say
        self._problem_said = False
        # Inside `for_this_launch()`: a change is the command line's, not remembered.
        self._launch_only = False
        # The command line sized this launch's window: its geometry is not written back.
        self._keep_geometry = False

    def restore(
        self,
        presets: Sequence[Preset],
        *,
        apply_preset: Callable[[Preset], None],
        restore_geometry: Callable[[QByteArray], bool],
        show_dark: Callable[[bool], None],
    ) -> None:
        """Apply the remembered settings that are valid (without a file: the first lesson),
        say once which were not, and check the settings file can be written at all (a
        folder or a read-only file cannot)."""
        settings = self._settings
        if settings is None:
            apply_preset(presets[0])
            return
        remembered = read_settings(settings, presets)
        apply_preset(remembered.lesson)
        if remembered.geometry is not None and not restore_geometry(remembered.geometry):
            remembered.ignored.append("window/geometry (not a saved window geometry)")
        show_dark(remembered.dark)
        if remembered.ignored:
            # Garbage is replaced by the default (apply_preset wrote the lesson already), so it
            # is said once, not at every start.
            for key in ("view/dark", "window/geometry"):
                if any(item.startswith(key) for item in remembered.ignored):
                    settings.remove(key)
            self._say(
                f"Ignored settings in {settings.fileName()}: {'; '.join(remembered.ignored)}; "
                "the defaults are used."
            )
        settings.sync()
        self.check_saved()

    def remember_lesson(self, name: str) -> None:
        if self._settings is not None:
            self._settings.setValue("lesson", name)

    def remember_dark(self, dark: bool) -> None:
        if self._settings is not None and not self._launch_only:
            self._settings.setValue("view/dark", dark)

    @contextlib.contextmanager
    def for_this_launch(self) -> Iterator[None]:
        """What is changed inside (the theme `--theme` asks for) holds for this launch only:
        the next opens in the theme the user last chose in the window."""
        self._launch_only = True
        try:
            yield
        finally:
            self._launch_only = False

    def keep_geometry(self) -> None:
        """The command line sized this launch's window (`--size`, `--presentation`): the
        size remembered before stays for the next launch, whatever this one closes at (a
        projector's size, or full screen, would otherwise come back without being asked)."""
        self._keep_geometry = True

    def save_geometry(self, geometry: QByteArray) -> None:
        """Write the window's geometry (not when the command line set it), as it closes,
        with whatever else the user changed (the theme) written out now too."""
        if self._settings is None:
            return
        if not self._keep_geometry:
            self._settings.setValue("window/geometry", geometry)
        self._settings.sync()
        # The window is going: a problem first met now goes to stderr only.
        self.check_saved()

    def check_saved(self) -> None:
        """Say once when the settings file cannot be read or written: otherwise the lesson,
        theme and window size would silently be forgotten."""
        if self._settings is None or self._problem_said:
            return
        status = self._settings.status()
        if status != QSettings.Status.NoError:
            self._problem_said = True
            reason = (
                "cannot be written"
                if status == QSettings.Status.AccessError
                else "is not a settings file"
            )
            self._say(
                f"Settings file {self._settings.fileName()} {reason}: the lesson, theme and "
                "window size will not be remembered."
            )
