"""Comparing runs: setting changes marked on the time charts, runs pinned under the live
one, and the few words that name a run's settings."""

from __future__ import annotations

import dataclasses
import math

from .annotations import Marker, MarkerLog
from .lab_snapshot import LabSnapshot, PinnedRun
from .load_settings import LoadSettings
from .placement import DemoServer, Placement

# Runs pinned for comparison: more faint overlays than this are a tangle nobody reads.
MAX_PINS = 3
# The event marker a pin taken while the load runs leaves where it was taken ("pinned 2"):
# the live lines restart there, and the pin shows the run up to it.
PIN_EVENT = "pinned"


def pin_label(number: int) -> str:
    """How the legend and the marker name pin `number`."""
    return f"{PIN_EVENT} {number}"


def live_from(snap: LabSnapshot) -> float | None:
    """Where the live lines of `snap` begin: the last pin still pinned that was taken
    during the current run (its marker), or None (all of the run is live). Without it a
    pin taken while running lies exactly under the live lines, and shows nothing."""
    pinned = {pin_label(pin.number) for pin in snap.pins}
    taken = [m.t_s for m in snap.markers if _is_pin_event(m, pinned) and m.t_s >= snap.run_start_s]
    return max(taken, default=None)


def _is_pin_event(marker: Marker, pinned: set[str]) -> bool:
    return marker.is_event and marker.setting in pinned


class Comparison:
    """The markers of the current run, when it began, and the runs pinned beside it."""

    def __init__(self, settings: LoadSettings, server: DemoServer, markers: MarkerLog) -> None:
        self._settings = settings
        self._server = server
        #: Setting changes while the load runs ("threads 10 → 58"), for the time charts.
        self.markers = markers
        #: When the current run began, in recorder seconds: 0, since Start and Reset both
        #: restart the recorder's clock; pinned runs are drawn from here, so a new run
        #: overlays the pinned one from its own start.
        self.run_start_s = 0.0
        # When the last run ended (recorder seconds); -inf: no run since Reset.
        self._ended_s = -math.inf
        self._pins: list[PinnedRun] = []
        self._pins_made = 0
        # Pins belong to the lesson they were taken in (see follow_lesson).
        self._lesson: str | None = None

    @property
    def pins(self) -> tuple[PinnedRun, ...]:
        return tuple(self._pins)

    def begin_run(self) -> None:
        """A run begins at the recorder's new origin (Start restarts the time axis at 0).
        The changes made since the last run ended (between runs: what a comparison is
        about) are marked at its start; the last run's own markers go with its data."""
        between = [m for m in self.markers.markers if m.t_s >= self._ended_s]
        self.markers.clear()
        for marker in between:
            if marker.is_event:
                self.markers.event(0.0, marker.setting)
            else:
                self.markers.note(0.0, marker.setting, marker.before, marker.after, marker.unit)
        self.run_start_s = 0.0
        self._ended_s = -math.inf

    def end_run(self, ended_s: float) -> None:
        """The run ended (Stop) at `ended_s`: changes after it are between runs."""
        self._ended_s = ended_s

    def reset(self) -> None:
        """Forget the markers and the run's start (the pins stay)."""
        self.markers.clear()
        self.run_start_s = 0.0
        self._ended_s = -math.inf

    def settings_values(self) -> dict[str, str]:
        """The settings now, keyed as markers name them."""
        settings = self._settings
        values = {
            "mode": settings.mode,
            "rate": f"{settings.rate:g}",
            "threads": str(settings.threads),
            "delay": f"{settings.delay_ms:g}",
            "server": self._server.placement.label,
        }
        values.update({f"users ({name})": str(settings.users[name]) for name in settings.scenarios})
        return values

    def settings_label(self, values: dict[str, str] | None = None, scenario: str = "") -> str:
        """Settings in a few words (pins, exports): those now, or `values` (of one
        scenario, or of all)."""
        values = values or self.settings_values()
        if values["mode"] == "open":
            load = f"{values['rate']} req/s"
        else:
            names = [scenario] if scenario else list(self._settings.scenarios)
            users = sorted({int(values[f"users ({name})"]) for name in names})
            load = f"{'/'.join(str(u) for u in users)} users"
        label = f"{load}, {values['threads']} threads, {values['delay']} ms"
        server = values.get("server", Placement().label)
        # Only a server out of the window's loop is worth the words (the lessons' default).
        return label if server == Placement().label else f"{label}, {server}"

    def pin(self, snapshot: LabSnapshot) -> PinnedRun | None:
        """Freeze `snapshot` (the current run) for comparison (at most MAX_PINS, the oldest
        goes); None when nothing has been measured yet. Taken while the load runs, it is
        the run so far: a marker says where, and the live lines go on from there."""
        snap = dataclasses.replace(snapshot, pins=())
        if not any(w.ok for s in snap.recorder.scenarios.values() for w in s.windows):
            return None
        self._pins_made += 1
        pinned = PinnedRun(self._pins_made, self.settings_label(), snap)
        self._pins = [*self._pins, pinned][-MAX_PINS:]
        if snap.running:
            self.markers.event(snap.recorder.now_s, pin_label(pinned.number))
        return pinned

    def clear_pins(self) -> None:
        """No pins; the next one is "pinned 1" again."""
        self._pins = []
        self._pins_made = 0

    def follow_lesson(self, lesson: str) -> None:
        """The lesson shown is `lesson`: another one's pins go. A pin compares settings of
        the routes it measured; on another lesson's routes (a cpu-sync run drawn on the
        thread-pool lesson) it compares nothing, and pins kept hidden to come back later
        would be state nobody sees, measured on a machine that may have changed since."""
        if lesson != self._lesson:
            self.clear_pins()
        self._lesson = lesson
