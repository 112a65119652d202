"""Checks of a Chrome trace-event file as Perfetto's JSON importer reads it, and counts of
what a trace shows at one instant (shared by the trace tests of the core, the CLI and the
window)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any

from loopscope.loadgen.trace import REQUEST


def checked_trace(text: str) -> dict[str, Any]:
    """The trace in `text` (JSON), after checking its structure: every event has ph, pid,
    tid and name; every complete event (X) integer ts and dur >= 0; on each (pid, tid) the
    X events nest properly (a later one starts after an earlier one ends, or ends inside
    it); the metadata names each process. Round-trips through json.dumps."""
    trace: dict[str, Any] = json.loads(text)
    assert json.loads(json.dumps(trace)) == trace
    assert set(trace) >= {"traceEvents", "displayTimeUnit", "otherData"}
    assert trace["displayTimeUnit"] == "ms"
    events = trace["traceEvents"]
    named = set()
    tracks: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for event in events:
        assert {"ph", "pid", "tid", "name"} <= set(event), event
        if event["ph"] == "M":
            if event["name"] == "process_name":
                named.add(event["pid"])
            continue
        assert event["ph"] == "X", event
        assert isinstance(event["ts"], int) and isinstance(event["dur"], int), event
        assert event["ts"] >= 0 and event["dur"] >= 0, event
        assert "cat" in event and "args" in event, event
        tracks[event["pid"], event["tid"]].append((event["ts"], event["ts"] + event["dur"]))
    assert {pid for pid, _ in tracks} <= named
    for track, slices in tracks.items():
        # Perfetto's rule for X events on one track: sorted by start (longer first), each
        # either begins at or after the end of the innermost open one, or ends within it.
        stack: list[int] = []
        for begin, end in sorted(slices, key=lambda s: (s[0], -s[1])):
            while stack and stack[-1] <= begin:
                stack.pop()
            assert not stack or end <= stack[-1], f"slices cross on {track}: {begin}..{end}"
            stack.append(end)
    return trace


def phases_at(trace: dict[str, Any], ts: int) -> Counter[str]:
    """How many requests are in each phase (by `cat`) at `ts`, and how many requests
    (`request`) span it."""
    counts: Counter[str] = Counter()
    for event in trace["traceEvents"]:
        if event["ph"] == "X" and event["ts"] <= ts < event["ts"] + event["dur"]:
            counts[event["cat"]] += 1
    counts.setdefault(REQUEST, 0)
    return counts
