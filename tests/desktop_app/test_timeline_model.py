"""The timeline's model (no Qt): lanes and phases from the server's phase table."""

from __future__ import annotations

import math

from numpy.testing import assert_allclose

from loopscope.desktop_app.timeline import (
    ANSWERING,
    WAITING,
    WIRE,
    WORKING,
    build_frame,
)
from loopscope.embedded_server import EmbeddedServer, PhaseRow, PhaseTable
from loopscope.loadgen import HttpxSender, ScenarioRequest, WireLog


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
    rows = table.finished_since("sync", -math.inf)
    assert [row.done for row in rows] == [float(i) for i in range(40, 50)]  # oldest first
    assert [row.done for row in table.finished_since("sync", 45.0)] == [
        45.0,
        46.0,
        47.0,
        48.0,
        49.0,
    ]
    table.clear()
    assert table.finished_since("sync", -math.inf) == []
    _request(table, 60.0, 60.5, 61.0, 61.5)
    assert table.finished_since("sync", -math.inf) == [PhaseRow(50, 60.0, 60.5, 61.0, 61.5)]


def test_the_client_s_time_on_the_wire_is_drawn_at_both_ends_of_a_lane() -> None:
    table, wire = PhaseTable(), WireLog()
    # Answered: sent at 100.0, the route had it at 100.2, done 101.0, read whole at 101.3.
    first = wire.sent(100.0)
    slot = table.arrive("sync", 100.2, first)
    slot.started, slot.worked = 100.5, 100.9
    table.finish("sync", slot, 101.0)
    wire.received(first, 101.3)
    # Done at the server at 102.0, not read yet at 102.5: on the wire until now.
    second = wire.sent(101.6)
    slot = table.arrive("sync", 101.7, second)
    slot.started, slot.worked = 101.7, 101.9
    table.finish("sync", slot, 102.0)
    # From a client that keeps no log (no id): its lane has no wire stretch, none guessed.
    table.arrive("sync", 102.1)
    frame = build_frame(table, "sync", now=102.5, span_s=5.0, wire=wire)
    assert frame.lanes == 3
    assert_allclose(
        frame.rects(WIRE), [[0, -2.5, -2.3], [0, -1.5, -1.2], [1, -0.9, -0.8], [1, -0.5, 0.0]]
    )
    assert frame.slice_at(0.0) == {WIRE: 1, WAITING: 1, WORKING: 0, ANSWERING: 0}
    # Without the client's log the same table draws no wire at all.
    assert build_frame(table, "sync", now=102.5, span_s=5.0).rects(WIRE).size == 0


def test_a_forgotten_request_has_no_wire_stretch() -> None:
    table, wire = PhaseTable(), WireLog(size=4)
    old = wire.sent(10.0)
    slot = table.arrive("sync", 10.1, old)
    table.finish("sync", slot, 10.2)
    for _ in range(4):  # the ring goes round: the old id's entry is another request's now
        wire.sent(10.3)
    assert wire.times(old) is None
    assert build_frame(table, "sync", now=11.0, span_s=5.0, wire=wire).rects(WIRE).size == 0


async def test_an_embedded_server_request_from_the_sender_has_its_wire_stretches(
    server: EmbeddedServer,
) -> None:
    wire = WireLog()
    logged = HttpxSender(server.url, wire=wire)
    plain = HttpxSender(server.url)
    try:
        record = await logged.send(ScenarioRequest(scenario="sync", delay_ms=20), user=0)
        await plain.send(ScenarioRequest(scenario="sync", delay_ms=20), user=0)
    finally:
        await logged.aclose()
        await plain.aclose()
    assert record.error is None
    first, second = server.probes.phases.finished_since("sync", -math.inf)
    assert (first.wire_id, second.wire_id) == (0, -1)  # the plain sender sent no id
    times = wire.times(first.wire_id)
    assert times is not None
    sent, received = times
    # One clock: sent before the route had it, read after the route was done; the same
    # times as the record's, so the lane spans exactly the latency the charts count.
    assert (sent, received) == (record.start, record.end)
    assert sent < first.arrived <= first.started <= first.worked <= first.done < received
    now = received + 0.1
    frame = build_frame(server.probes.phases, "sync", now=now, span_s=5.0, wire=wire)
    assert frame.lanes == 2
    assert_allclose(
        frame.rects(WIRE),
        [[0, sent - now, first.arrived - now], [0, first.done - now, received - now]],
    )


def test_a_stopped_run_s_frame_at_an_earlier_instant_shows_it_as_it_was_then() -> None:
    table = PhaseTable()
    _request(table, 100.0, 101.0, 102.0, 102.1)
    _request(table, 103.0, 104.0, 105.0, 105.1)  # arrived after the instant: not drawn
    frame = build_frame(table, "sync", now=101.5, span_s=5.0, at_s=1.5)
    assert frame.total == frame.lanes == 1
    # Working from 101.0, cut at the instant (its end came later).
    assert frame.rects(WORKING).tolist() == [[0, -0.5, 0.0]]
    assert frame.rects(ANSWERING).tolist() == []
    assert frame.at_s == 1.5 and frame.caption().startswith("stopped")
    # What now holds (a later request in flight) is not the instant's.
    table.arrive("sync", 106.0)
    assert build_frame(table, "sync", now=101.5, span_s=5.0, at_s=1.5).now_waiting == 0


def test_the_table_says_from_when_its_finished_requests_are_kept() -> None:
    table = PhaseTable(finished_per_route=10)
    for i in range(10):
        _request(table, float(i), float(i), float(i), float(i))
    assert table.kept_since("sync") == -math.inf  # none dropped yet
    for i in range(10, 15):
        _request(table, float(i), float(i), float(i), float(i))
    assert table.kept_since("sync") == 5.0
    assert table.kept_since("async") == -math.inf
