"""Markers: the setting changes made during a run, for the time charts and the exports.

Qt-free, like the session that feeds it: a marker is a time (seconds since the recorder's
origin, the time charts' x) and what changed ("threads 10 → 58").
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

# A slider drag sends a value per pixel: changes of one setting closer together than this
# are one marker, from the first value to the last (at the time of the first change,
# where the charts begin to move).
COALESCE_S = 2.0
# The time charts show 60 s; more markers than this in a run are history nobody sees.
MAX_MARKERS = 100


@dataclass(frozen=True, slots=True)
class Marker:
    t_s: float  # seconds since the recorder's origin
    setting: str  # "threads", "users: sync", "delay", "rate"
    before: str
    after: str
    unit: str = ""  # "ms", "req/s"

    @property
    def is_event(self) -> bool:
        """An event ("settled: sync"), not a change of a setting."""
        return not self.before and not self.after

    @property
    def label(self) -> str:
        if self.is_event:
            return self.setting
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.setting} {self.before} \u2192 {self.after}{unit}"


class MarkerLog:
    """The markers of the current run, oldest first, bounded."""

    def __init__(self, limit: int = MAX_MARKERS) -> None:
        self._markers: deque[Marker] = deque(maxlen=limit)

    def note(self, t_s: float, setting: str, before: str, after: str, unit: str = "") -> None:
        """`setting` changed from `before` to `after` (in `unit`) at `t_s`."""
        if before == after:
            return
        last = self._last(setting)
        if last is not None and t_s - last.t_s <= COALESCE_S:
            self._markers.remove(last)
            if last.before == after:
                return  # dragged back where it was: nothing changed
            before = last.before
            t_s = last.t_s
        self._markers.append(Marker(t_s, setting, before, after, unit))

    def event(self, t_s: float, text: str) -> None:
        """Something that happened at `t_s` (the queue settled), not a setting's change."""
        self._markers.append(Marker(t_s, text, "", ""))

    def _last(self, setting: str) -> Marker | None:
        for marker in reversed(self._markers):
            if marker.setting == setting:
                return marker
        return None

    def clear(self) -> None:
        self._markers.clear()

    @property
    def markers(self) -> tuple[Marker, ...]:
        return tuple(sorted(self._markers, key=lambda m: m.t_s))


def settings_at(values: dict[str, str], markers: tuple[Marker, ...], t_s: float) -> dict[str, str]:
    """The settings as they were at `t_s`: those of now (`values`, keyed as markers name
    them) with every change after `t_s` undone."""
    then = dict(values)
    for marker in sorted(markers, key=lambda m: m.t_s, reverse=True):
        if marker.t_s <= t_s:
            break
        if marker.is_event:
            continue
        if marker.setting == "users":  # the linked slider: every scenario's users
            for key in then:
                if key.startswith("users ("):
                    then[key] = marker.before
        else:
            then[marker.setting] = marker.before
    return then


def format_value(value: float) -> str:
    """A setting's value as the sliders show it: 10, 2.5, 1000."""
    return f"{value:g}"


# Rows of marker labels down a time chart: more labels close together than this are
# history the newer ones cover, and are left out (their lines stay).
LABEL_ROWS = 4
# Pixels kept between two labels on one row.
LABEL_GAP_PX = 8.0


@dataclass(frozen=True, slots=True)
class LabelPlace:
    row: int  # 0 the top row
    left_of_line: bool  # the text ends at its line (near the right edge: never cut)


def place_labels(
    xs_px: list[float], widths_px: list[float], plot_width_px: float, rows: int = LABEL_ROWS
) -> list[LabelPlace | None]:
    """Where each marker's label goes (markers oldest first, at `xs_px` with labels
    `widths_px` wide), so that no two labels overlap and none runs past the plot's right
    edge: the newest first, each on the highest row with room; None for a label no row
    has room for (an older one, its line drawn without it)."""
    places: list[LabelPlace | None] = [None] * len(xs_px)
    # Per row, the left edge of the leftmost label placed so far (placing right to left).
    row_left = [math.inf] * rows
    for index in sorted(range(len(xs_px)), key=lambda i: xs_px[i], reverse=True):
        x, width = xs_px[index], widths_px[index]
        left_of_line = x + width > plot_width_px
        left, right = (x - width, x) if left_of_line else (x, x + width)
        for row in range(rows):
            if right + LABEL_GAP_PX <= row_left[row] and left >= 0:
                row_left[row] = left
                places[index] = LabelPlace(row, left_of_line)
                break
    return places
