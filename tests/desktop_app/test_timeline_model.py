"""The timeline's model (no Qt): lanes and phases from the server's phase table."""

from __future__ import annotations

import math

from loopscope.desktop_app.timeline import (
    ANSWERING,
    WAITING,
    WIRE,
    WORKING,
    build_frame,
)
from loopscope.embedded_server import PhaseTable


def _request(table: PhaseTable, arrived: float, started: float, worked: float, done: float) -> None:
    slot = table.arrive("sync", arrived)
    slot.started, slot.worked = started, worked
    table.finish("sync", slot, done)


def test_phases_of_finished_and_in_flight_requests() -> None:
    table = PhaseTable()
    _request(table, 100.0, 101.0, 102.0, 102.1)
    working = table.arrive("sync", 101.5)
    working.started = 102.0
    table.arrive("sync", 102.5)  # still waiting for a thread
    frame = build_frame(table, "sync", now=103.0, span_s=5.0)
    assert frame.lanes == frame.total == 3
    assert frame.rects(WAITING).tolist() == [[0, -3.0, -2.0], [1, -1.5, -1.0], [2, -0.5, 0.0]]
    assert frame.rects(WORKING).tolist() == [[0, -2.0, -1.0], [1, -1.0, 0.0]]
    assert [row[0] for row in frame.rects(ANSWERING)] == [0]
    assert frame.slice_at(0.0) == {WIRE: 0, WAITING: 1, WORKING: 1, ANSWERING: 0}
    assert (frame.now_waiting, frame.now_working, frame.now_answering) == (1, 1, 0)
    assert "now: 1 working on a thread, 1 waiting for a thread" in frame.caption()


def test_old_requests_leave_and_phases_are_clipped_to_the_span() -> None:
    table = PhaseTable()
    _request(table, 10.0, 11.0, 12.0, 12.0)  # done 8 s before now: out of a 5 s span
    _request(table, 14.0, 16.0, 18.0, 18.0)  # its wait starts before the span
    frame = build_frame(table, "sync", now=20.0, span_s=5.0)
    assert frame.total == 1
    assert frame.rects(WAITING).tolist() == [[0, -5.0, -4.0]]
    assert frame.rects(WORKING).tolist() == [[0, -4.0, -2.0]]


def test_many_requests_are_sampled_stably_and_counted_whole() -> None:
    table = PhaseTable()
    for i in range(3000):
        _request(table, 50.0 + i * 0.001, 51.0 + i * 0.001, 52.0 + i * 0.001, 52.0 + i * 0.001)
    for _ in range(1000):
        table.arrive("sync", 54.0)
    first = build_frame(table, "sync", now=55.0, span_s=5.0, max_lanes=80)
    assert first.total == 4000
    assert 40 <= first.lanes <= 80 and first.sampled
    assert first.now_waiting == 1000  # every request in flight, not the sample
    assert "showing" in first.caption() and "of 4000" in first.caption()
    again = build_frame(table, "sync", now=55.0, span_s=5.0, max_lanes=80)
    assert again.rects(WAITING).tolist() == first.rects(WAITING).tolist()


def test_finished_requests_are_kept_bounded() -> None:
    table = PhaseTable(finished_per_route=10)
    for i in range(50):
        _request(table, float(i), float(i), float(i), float(i))
    assert len(table.finished_since("sync", -math.inf)) == 10
