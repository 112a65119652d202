"""The per-request timeline's data, with no Qt in it: one lane per request over the last
seconds, each lane split into the phases the server saw (waiting for a thread or the
loop, working, sending the answer) and, at both ends, the time on the wire that only the
client saw (from sending the request until the server's route had it; from the answer
leaving the route until the client had read it whole).

Where the times come from: the embedded server's `PhaseTable` (live slots of requests in
flight plus a ring of finished ones, same process, same clock), not a timeline drawn
behind "now" from the client's records. A record exists only once the answer is read, so
a delayed timeline would show the past and never the 50 requests waiting *now*; the
table shows them as they are. The table's times of a finished request are what its
Server-Timing header says (wait = started - arrived, work = worked - started), measured
at their source instead of reconstructed from the client's latency. The wire stretches
join the senders' `WireLog` to the table by the id each request carried
(`x-loopscope-req`), on the same clock; "on the wire" is everything between the client's
send call and the route: httpx and aiohttp, the socket, uvicorn reading the request (so,
at the blocking lesson, requests sitting unread while the loop is held). A request the
log does not know (another client, or forgotten) is drawn without them, never guessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from loopscope.embedded_server import PhaseRow, PhaseTable
from loopscope.loadgen import WireLog
from loopscope.loadgen.trace import (
    ANSWERING,
    PHASES,
    WAITING,
    WIRE,
    WIRE_LABEL,
    WORKING,
    build_trace,
    joined_requests,
    phase_labels,
    phase_spans,
)

#: Seconds of history the timeline shows: several requests of a 300 ms - 1 s lesson.
TIMELINE_SPAN_S = 5.0
#: Lanes drawn at most. Beyond ~80 a lane is thinner than 3 px in the window's chart and
#: nobody can follow one; the chart says "showing 80 of 1000" when it samples.
MAX_LANES = 80


def _empty() -> np.ndarray:
    return np.empty((0, 3))


@dataclass(frozen=True, slots=True)
class TimelineFrame:
    """One frame of the timeline of one route.

    Each phase is an array of rows (lane, x0, x1): x in seconds relative to the frame's
    instant (-span_s .. 0), lane 0 the oldest request drawn. `now_*` count every request
    in flight at the frame's instant, sampled or not.
    """

    scenario: str
    span_s: float
    lanes: int = 0
    total: int = 0
    phases: dict[str, np.ndarray] = field(default_factory=dict)
    now_waiting: int = 0
    now_working: int = 0
    now_answering: int = 0
    #: A stopped run's frame: its instant in run seconds (from Start), which the chart
    #: draws it at; None: a live frame, drawn at 0 ("now").
    at_s: float | None = None

    @property
    def sampled(self) -> bool:
        return self.lanes < self.total

    def rects(self, phase: str) -> np.ndarray:
        return self.phases.get(phase, _empty())

    def slice_at(self, x: float) -> dict[str, int]:
        """How many drawn lanes are in each phase at x (seconds relative to the frame)."""
        counts: dict[str, int] = {}
        for phase in PHASES:
            rects = self.rects(phase)
            counts[phase] = int(np.count_nonzero((rects[:, 1] <= x) & (x <= rects[:, 2])))
        return counts

    def caption(self) -> str:
        """The line above the chart: what is happening now, and how much is drawn."""
        labels = phase_labels(self.scenario)
        if self.at_s is not None:
            return self._stopped_caption()
        if self.scenario == "blocking":
            # A frame is built on the loop, so no request can be holding it at that instant.
            now = f"now: {self.now_waiting} {labels[WAITING]} (none holds it while this draws)"
        else:
            now = (
                f"now: {self.now_working} {labels[WORKING].split(' (')[0]}, "
                f"{self.now_waiting} {labels[WAITING]}"
            )
        if self.now_answering:  # done working; the loop has not sent their answer yet
            now += f", {self.now_answering} {labels[ANSWERING]}"
        if self.sampled:
            return f"{now} \u00b7 showing {self.lanes} of {self.total} requests"
        return f"{now} \u00b7 {self.total} requests in the last {self.span_s:g} s"

    def _stopped_caption(self) -> str:
        at = self.at_s or 0.0
        shown = f"showing {self.lanes} of {self.total}" if self.sampled else f"{self.total}"
        return (
            f"stopped \u00b7 {shown} requests from {max(0.0, at - self.span_s):.1f} to "
            f"{at:.1f} s after Start \u00b7 scroll back with the bar below"
        )


def build_frame(
    table: PhaseTable,
    scenario: str,
    now: float,
    *,
    wire: WireLog | None = None,
    span_s: float = TIMELINE_SPAN_S,
    max_lanes: int = MAX_LANES,
    at_s: float | None = None,
) -> TimelineFrame:
    """The timeline of `scenario` at `now` (perf_counter s) from the server's phase table,
    with the time on the wire of the requests `wire` (the senders' log) knows. `at_s`: a
    stopped run's instant `now` is (run seconds); only the requests that had arrived by
    then are drawn, as they were then."""
    until = math.inf if at_s is None else now
    rows, total = table.sample(scenario, now - span_s, max_lanes, until=until)
    rows.sort(key=lambda row: row.seq)  # lanes in arrival order: newest at the bottom
    rects: dict[str, list[tuple[float, float, float]]] = {phase: [] for phase in PHASES}
    low = -span_s
    for lane, row in enumerate(rows):
        # The join of the server's phases and the client's wire times is the trace's too.
        times = wire.times(row.wire_id) if wire is not None else None
        for phase, begin, end in phase_spans(row, times, now):
            _add(rects[phase], lane, begin, end, now, low)
    waiting_now, working_now, answering_now = table.counts(scenario) if at_s is None else (0, 0, 0)
    return TimelineFrame(
        scenario=scenario,
        span_s=span_s,
        lanes=len(rows),
        total=total,
        phases={phase: _array(found) for phase, found in rects.items()},
        now_waiting=waiting_now,
        now_working=working_now,
        now_answering=answering_now,
        at_s=at_s,
    )


def timeline_trace(
    table: PhaseTable,
    wire: WireLog | None,
    now: float,
    other: dict[str, object],
    *,
    span_s: float = TIMELINE_SPAN_S,
) -> dict[str, object]:
    """What the timeline holds at `now` as a Chrome trace (`loadgen.trace`): every request
    of every demo route of its last `span_s` seconds, not a sample, those in flight ending
    at `now`. `other`: the lesson and its settings, for the trace's `otherData`."""
    requests = joined_requests(table, wire, since=now - span_s, now=now)
    return build_trace(
        requests,
        origin=math.inf,
        other={"side": "client and server", **other},
        zero="the first request exported",
    )


def _add(
    out: list[tuple[float, float, float]],
    lane: int,
    begin: float,
    end: float,
    now: float,
    low: float,
) -> None:
    x0, x1 = max(begin - now, low), min(end - now, 0.0)
    if x1 > x0 or (x1 == x0 == 0.0):
        out.append((float(lane), x0, x1))


def _array(rows: list[tuple[float, float, float]]) -> np.ndarray:
    return np.array(rows, dtype=float).reshape(-1, 3)


__all__ = [
    "ANSWERING",
    "MAX_LANES",
    "PHASES",
    "TIMELINE_SPAN_S",
    "WAITING",
    "WIRE",
    "WIRE_LABEL",
    "WORKING",
    "PhaseRow",
    "TimelineFrame",
    "build_frame",
    "phase_labels",
    "timeline_trace",
]
