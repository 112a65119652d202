"""`RunTimeline`: the per-request timeline of the demo routes, live or of the stopped run,
as frames for the window's chart and as a Chrome trace to export.

A part of its own (Qt-free, like the session's other parts): the session keeps the stopped
run (`FinishedRun`); this part reads the server's phase table and the senders' wire log at
the instant the window asks about, now while running, or a moment of the stopped run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from loopscope.loadgen import WireLog

from .finished_run import FinishedRun
from .placement import DemoServer
from .timeline import MAX_LANES, TIMELINE_SPAN_S, TimelineFrame, build_frame, timeline_trace


class RunTimeline:
    """The timeline of `demo`'s routes; `finished()`: the stopped run on screen, if any;
    `settings()`: the lesson's settings, for a trace's metadata."""

    def __init__(
        self,
        demo: DemoServer,
        wire: WireLog,
        finished: Callable[[], FinishedRun | None],
        settings: Callable[[], dict[str, str]],
    ) -> None:
        self._demo = demo
        self._wire = wire
        self._finished = finished
        self._settings = settings

    @property
    def available(self) -> bool:
        """False with the server in its own process: its phase table is not here."""
        return self._demo.timeline_available

    def frame(
        self, scenario: str, max_lanes: int = MAX_LANES, at_s: float | None = None
    ) -> TimelineFrame:
        """The timeline of a demo route in at most `max_lanes` lanes: now, or after Stop
        the run's at `at_s` (run seconds; default its end)."""
        phases = self._demo.server.probes.phases
        finished = self._finished()
        if finished is None:
            return build_frame(
                phases, scenario, time.perf_counter(), wire=self._wire, max_lanes=max_lanes
            )
        at_s = finished.ended_s if at_s is None else min(at_s, finished.ended_s)
        return build_frame(
            phases,
            scenario,
            finished.origin + at_s,
            wire=self._wire,
            max_lanes=max_lanes,
            at_s=at_s,
        )

    def kept_from(self, scenario: str) -> float:
        """After Stop: the earliest run second the timeline of `scenario` can be scrolled
        back to (the run's start, or later where the server's bounded ring of finished
        requests has dropped the oldest)."""
        finished = self._finished()
        if finished is None:
            return 0.0
        kept = self._demo.server.probes.phases.kept_since(scenario)
        return max(0.0, min(kept - finished.origin, finished.ended_s))

    def trace(self, other: dict[str, object]) -> dict[str, object] | None:
        """The timeline's requests as a Chrome trace (`timeline_trace`), with the settings
        and `other` in its `otherData`: the last seconds now, or after Stop the stopped run
        from its Start to its Stop (what the scroll bar reaches), not the idle time since.
        None when the server runs in its own process."""
        if not self.available:
            return None
        finished = self._finished()
        if finished is None:
            now, span = time.perf_counter(), TIMELINE_SPAN_S
        else:
            now, span = finished.origin + finished.ended_s, max(finished.ended_s, 1e-3)
        return timeline_trace(
            self._demo.server.probes.phases,
            self._wire,
            now,
            {**other, **self._settings()},
            span_s=span,
        )
