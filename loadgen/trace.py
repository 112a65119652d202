"""The per-request timeline as Chrome trace-event JSON: the format Perfetto's UI
(ui.perfetto.dev) and chrome://tracing open, so a lesson's requests can be explored after it.

Where the times come from, and the one join of the two sides (`phase_spans`, also what the
window's timeline draws): the embedded server's `PhaseTable` knows when each request reached
its route, got its thread or the loop, finished its work and was answered; the senders'
`WireLog` knows when the client sent it and when it had read the answer, by the id the
request carried (`x-loopscope-req`). Both read the same `perf_counter` clock (one process).
A server elsewhere (another process, someone else's) has no table here: only the client's
side is known, one slice per request from its send to its answer, and the trace says so.

The trace: one process (`pid`) per route, named after it; one thread (`tid`) per *lane*: a
lane holds one request at a time, and each request takes the lowest lane free when it began,
so there are as many lanes as requests were ever in flight at once (30 users: 30 lanes)
instead of one track per request. Each request is a "request" slice with its phases as
children, end to end inside it: Perfetto's importer needs the slices of one track nested.
Times are whole microseconds from the run's start, so a parent and its children share their
boundaries exactly. Bounded: at most `MAX_TRACE_REQUESTS` requests of the last
`TRACE_SPAN_S` seconds; `otherData` says when more were cut.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from loopscope.embedded_server import PhaseRow, PhaseTable

from ._records import RequestRecord
from ._wire import WireLog
from .export import finite

#: Requests a trace holds at most (about 6 events each, ~1 KB of JSON: a few MB).
MAX_TRACE_REQUESTS = 5000
#: Seconds of the end of a run a trace covers at most.
TRACE_SPAN_S = 60.0

WIRE = "wire"
WAITING = "waiting"
WORKING = "working"
ANSWERING = "answering"
#: In the order a request goes through them (on the wire again after ANSWERING).
PHASES = (WIRE, WAITING, WORKING, ANSWERING)
#: What the wire is called in every lesson.
WIRE_LABEL = "on the wire (client \u2194 server)"
#: The slice holding a request's phases (alone when only the client's side is known).
REQUEST = "request"

#: Why only the client's side is exported, by where the server ran.
CLIENT_ONLY_ELSEWHERE = (
    "the server runs in another process (--target, --url, --server-process): its phases "
    "are not here"
)
CLIENT_ONLY_APP = "a user's app reports no phases (only LoopScope's demo routes do)"

Span = tuple[str, float, float]


def phase_labels(scenario: str) -> dict[str, str]:
    """What each phase is called for this route (the lesson's own words)."""
    if scenario == "blocking":
        return {
            WIRE: WIRE_LABEL,
            WAITING: "waiting for the loop",
            WORKING: "holding the loop (time.sleep)",
            ANSWERING: "sending the answer",
        }
    if scenario in ("sync", "cpu-sync"):
        return {
            WIRE: WIRE_LABEL,
            WAITING: "waiting for a thread",
            WORKING: "working on a thread",
            ANSWERING: "sending the answer",
        }
    return {
        WIRE: WIRE_LABEL,
        WAITING: "waiting for the loop",
        WORKING: "working",
        ANSWERING: "sending the answer",
    }


def _end(*times: float) -> float:
    """The first of `times` that is known (not NaN)."""
    for value in times:
        if not math.isnan(value):
            return value
    return math.nan


def phase_spans(row: PhaseRow, times: tuple[float, float] | None, now: float) -> list[Span]:
    """One request's phases as (phase, begin, end) in perf_counter seconds, in the order it
    went through them: the server's `row`, joined with the client's (sent, received) times
    of it (None: not known, drawn without the wire). A phase not ended by `now` ends then."""
    spans: list[Span] = []
    if times is not None:
        spans.append((WIRE, times[0], row.arrived))
    spans.append((WAITING, row.arrived, _end(row.started, row.done, now)))
    if not math.isnan(row.started):
        spans.append((WORKING, row.started, _end(row.worked, row.done, now)))
    if not math.isnan(row.worked):
        spans.append((ANSWERING, row.worked, _end(row.done, now)))
    if times is not None and not math.isnan(row.done):  # the answer left; until it is read
        spans.append((WIRE, row.done, _end(times[1], now)))
    return spans


@dataclass(frozen=True, slots=True)
class TracedRequest:
    """One request of a trace: its route, the client's id of it (-1: none), the HTTP
    status of its answer (0: none), its phases (empty: only its begin and end are known),
    and whether it was still in flight when the trace was taken."""

    route: str
    request_id: int
    begin: float
    end: float
    status: int = 0
    spans: tuple[Span, ...] = ()
    in_flight: bool = False


def joined_requests(
    table: PhaseTable,
    wire: WireLog | None,
    *,
    since: float,
    now: float,
    in_flight: bool = True,
) -> list[TracedRequest]:
    """The requests of every route in `table` done at or after `since` (and, with
    `in_flight`, those not done yet, ending at `now`), each joined with the wire log."""
    out: list[TracedRequest] = []
    for route in table.routes():
        rows = table.finished_since(route, since)
        if in_flight:
            rows += table.in_flight(route)
        for row in rows:
            times = wire.times(row.wire_id) if wire is not None else None
            # A thread may stamp a request's start while this reads the table: what
            # happened after `now` has not happened yet at the trace's instant.
            spans = [(p, min(b, now), min(e, now)) for p, b, e in phase_spans(row, times, now)]
            unfinished = math.isnan(row.done) or (times is not None and math.isnan(times[1]))
            out.append(
                TracedRequest(
                    route=route,
                    request_id=row.wire_id,
                    begin=spans[0][1],
                    end=max(end for _, _, end in spans),
                    status=wire.status(row.wire_id) if wire is not None else 0,
                    spans=tuple(spans),
                    in_flight=unfinished,
                )
            )
    return out


def client_requests(records: Iterable[RequestRecord]) -> list[TracedRequest]:
    """Requests as only the client saw them: sent at `start`, answered at `end`."""
    return [
        TracedRequest(
            route=record.scenario,
            request_id=number,
            begin=record.start,
            end=record.end,
            status=record.status or 0,
        )
        for number, record in enumerate(records)
    ]


def _us(seconds: float, origin: float) -> int:
    return round((seconds - origin) * 1e6)


def _lanes(requests: Sequence[TracedRequest], origin: float) -> list[int]:
    """Each request's lane (0, 1, ...; `requests` sorted by begin): the lowest lane whose
    last request ended by the time this one began."""
    free: list[int] = []
    busy: list[tuple[int, int]] = []  # (end in us, lane)
    lanes: list[int] = []
    opened = 0
    for request in requests:
        begin = _us(request.begin, origin)
        while busy and busy[0][0] <= begin:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, opened = opened, opened + 1
        lanes.append(lane)
        heapq.heappush(busy, (max(begin, _us(request.end, origin)), lane))
    return lanes


def _request_events(
    request: TracedRequest, pid: int, tid: int, origin: float, labels: Mapping[str, str]
) -> list[dict[str, object]]:
    """The request's slice and its phases inside it, end to end (clamped: a child that
    would cross its parent or a sibling would break the track's nesting)."""
    begin, end = _us(request.begin, origin), _us(request.end, origin)
    end = max(begin, end)
    args: dict[str, object] = {
        "request id": request.request_id,
        "route": request.route,
        "status": request.status or None,
    }
    if request.in_flight:
        args["in flight"] = True
    events: list[dict[str, object]] = [
        {
            "ph": "X",
            "name": REQUEST,
            "cat": REQUEST,
            "ts": begin,
            "dur": end - begin,
            "pid": pid,
            "tid": tid,
            "args": args,
        }
    ]
    at = begin
    for phase, start_s, stop_s in request.spans:
        start = min(max(_us(start_s, origin), at), end)
        stop = min(max(_us(stop_s, origin), start), end)
        if stop == start:
            continue
        events.append(
            {
                "ph": "X",
                "name": labels[phase],
                "cat": phase,
                "ts": start,
                "dur": stop - start,
                "pid": pid,
                "tid": tid,
                "args": {"request id": request.request_id, "route": request.route},
            }
        )
        at = stop
    return events


def build_trace(
    requests: Sequence[TracedRequest],
    *,
    origin: float,
    other: Mapping[str, object],
    seen: int | None = None,
    max_requests: int = MAX_TRACE_REQUESTS,
    zero: str = "the run's start",
) -> dict[str, object]:
    """The trace-event JSON object of `requests` (`origin`: the perf_counter instant of
    ts 0, `zero` in words; moved back to the first request if it began earlier, or set
    there when `origin` is infinite). `other`: what goes into
    `otherData` (the run's settings, which side is known). `seen`: how many requests there
    were in all (None: `requests` are all); the newest `max_requests` are kept."""
    ordered = sorted(requests, key=lambda r: (r.begin, r.end))
    kept = ordered[-max_requests:] if max_requests > 0 else []
    total = max(seen if seen is not None else 0, len(ordered))
    if kept:
        origin = min(origin, kept[0].begin)
    routes = sorted({r.route for r in kept})
    pids = {route: number for number, route in enumerate(routes, start=1)}
    events: list[dict[str, object]] = []
    for route, pid in pids.items():
        events.append(
            {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": route}}
        )
        events.append(
            {
                "ph": "M",
                "name": "process_sort_index",
                "pid": pid,
                "tid": 0,
                "args": {"sort_index": pid},
            }
        )
        mine = [r for r in kept if r.route == route]
        lanes = _lanes(mine, origin)
        labels = phase_labels(route)
        for lane in sorted(set(lanes)):
            events.append(
                {
                    "ph": "M",
                    "name": "thread_name",
                    "pid": pid,
                    "tid": lane + 1,
                    "args": {"name": f"lane {lane + 1}"},
                }
            )
        for request, lane in zip(mine, lanes, strict=True):
            events += _request_events(request, pid, lane + 1, origin, labels)
    cut = total - len(kept)
    data: dict[str, object] = {
        **other,
        "requests exported": len(kept),
        "requests seen": total,
        "cut": (
            f"only the newest {len(kept)} of {total} requests: a trace holds at most "
            f"{max_requests} requests of the last {TRACE_SPAN_S:g} s"
            if cut > 0
            else ""
        ),
        "lanes": "one per request in flight at once: a request takes the lowest lane free "
        "when it began",
        "ts": f"microseconds from {zero}",
    }
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": data}


def write_trace(path: Path, trace: Mapping[str, object]) -> None:
    """Write `trace` as compact JSON (a trace of thousands of requests is megabytes)."""
    text = json.dumps(finite(trace), separators=(",", ":"), allow_nan=False)
    path.write_text(text, encoding="utf-8")


class RunTrace:
    """What a run keeps for its trace, filled in by `run_load`: the server's phase table
    when the server runs here (with the senders' wire log), else the client's records.

    `add` is a record sink: it counts every request and keeps the last
    MAX_TRACE_REQUESTS records (only read when the server's side is not known).
    """

    def __init__(self, max_requests: int = MAX_TRACE_REQUESTS) -> None:
        self.wire = WireLog()
        self.origin = time.perf_counter()
        self.phases: PhaseTable | None = None
        #: Why only the client's side is known ("" while it is not decided or is not so).
        self.client_only = ""
        self._records: deque[RequestRecord] = deque(maxlen=max_requests)
        self._max = max_requests
        self.seen = 0

    def begin(self, phases: PhaseTable | None, client_only: str = "") -> None:
        """The load starts now; `phases`: the server's table (None: `client_only` says why)."""
        self.origin = time.perf_counter()
        self.phases = phases
        self.client_only = client_only if phases is None else ""

    def add(self, record: RequestRecord) -> None:
        self.seen += 1
        self._records.append(record)

    def trace(self, other: Mapping[str, object], now: float | None = None) -> dict[str, object]:
        """The trace of what is complete: finished requests of the last TRACE_SPAN_S s."""
        now = time.perf_counter() if now is None else now
        since = max(self.origin, now - TRACE_SPAN_S)
        if self.phases is not None:
            requests = joined_requests(
                self.phases, self.wire, since=since, now=now, in_flight=False
            )
            side = "client and server"
        else:
            requests = client_requests(r for r in self._records if r.end >= since)
            side = f"client only: {self.client_only or 'no server phases'}"
        return build_trace(
            requests,
            origin=self.origin,
            other={"side": side, **other},
            seen=self.seen,
            max_requests=self._max,
        )


__all__ = [
    "ANSWERING",
    "CLIENT_ONLY_APP",
    "CLIENT_ONLY_ELSEWHERE",
    "MAX_TRACE_REQUESTS",
    "PHASES",
    "REQUEST",
    "TRACE_SPAN_S",
    "WAITING",
    "WIRE",
    "WIRE_LABEL",
    "WORKING",
    "RunTrace",
    "Span",
    "TracedRequest",
    "build_trace",
    "client_requests",
    "joined_requests",
    "phase_labels",
    "phase_spans",
    "write_trace",
]
