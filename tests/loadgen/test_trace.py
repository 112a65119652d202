"""The per-request timeline as a Chrome trace (loadgen.trace): its structure, its lanes, its
bounds, and the thread-pool lesson seen in it (10 threads, 30 users: 10 working, the rest
waiting for a thread)."""

from __future__ import annotations

import json
from pathlib import Path

from loopscope.embedded_server import EmbeddedServer, PhaseTable, ServerSettings, create_app
from loopscope.loadgen import RequestRecord, RunSettings, WireLog, run_load
from loopscope.loadgen.trace import (
    ANSWERING,
    REQUEST,
    WAITING,
    WIRE,
    WORKING,
    RunTrace,
    build_trace,
    client_requests,
    joined_requests,
    write_trace,
)
from tests.trace_checks import checked_trace, phases_at


def _request(
    table: PhaseTable,
    wire: WireLog,
    times: tuple[float, float, float, float, float, float],
    route: str = "sync",
) -> int:
    """A finished request: sent, arrived, started, worked, done, received (seconds)."""
    sent, arrived, started, worked, done, received = times
    request_id = wire.sent(sent)
    slot = table.arrive(route, arrived, request_id)
    slot.started, slot.worked = started, worked
    table.finish(route, slot, done)
    wire.received(request_id, received, 200)
    return request_id


def _text(trace: dict[str, object]) -> str:
    return json.dumps(trace)


def test_a_request_is_one_slice_with_its_phases_inside_end_to_end() -> None:
    table, wire = PhaseTable(), WireLog()
    _request(table, wire, (10.0, 10.001, 10.2, 10.3, 10.3005, 10.302))
    requests = joined_requests(table, wire, since=0.0, now=11.0)
    trace = checked_trace(_text(build_trace(requests, origin=10.0, other={"lesson": "x"})))
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [(e["cat"], e["ts"], e["dur"]) for e in slices] == [
        (REQUEST, 0, 302_000),
        (WIRE, 0, 1_000),
        (WAITING, 1_000, 199_000),
        (WORKING, 200_000, 100_000),
        (ANSWERING, 300_000, 500),
        (WIRE, 300_500, 1_500),
    ]
    assert [e["name"] for e in slices[1:4]] == [
        "on the wire (client \u2194 server)",
        "waiting for a thread",
        "working on a thread",
    ]
    assert slices[0]["args"] == {"request id": 0, "route": "sync", "status": 200}
    names = [e["args"]["name"] for e in trace["traceEvents"] if e["name"] == "process_name"]
    assert names == ["sync"]
    assert trace["otherData"]["lesson"] == "x" and trace["otherData"]["cut"] == ""


def test_lanes_are_reused_and_routes_are_processes() -> None:
    table, wire = PhaseTable(), WireLog()
    # Two at once, then a third after the first ended: two lanes, the third on lane 1.
    _request(table, wire, (0.0, 0.0, 0.0, 1.0, 1.0, 1.0))
    _request(table, wire, (0.5, 0.5, 0.5, 2.0, 2.0, 2.0))
    _request(table, wire, (1.5, 1.5, 1.6, 1.8, 1.8, 1.9))
    _request(table, wire, (0.2, 0.2, 0.3, 0.4, 0.4, 0.4), route="async")
    in_flight = table.arrive("sync", 1.9, wire.sent(1.899))  # waiting when the trace is taken
    assert in_flight.started != in_flight.started
    trace = checked_trace(
        _text(build_trace(joined_requests(table, wire, since=0.0, now=3.0), origin=0.0, other={}))
    )
    requests = [e for e in trace["traceEvents"] if e.get("cat") == REQUEST]
    by_route = {(e["pid"], e["args"]["route"]) for e in requests}
    assert by_route == {(1, "async"), (2, "sync")}
    sync = sorted((e["ts"], e["tid"]) for e in requests if e["pid"] == 2)
    assert [tid for _, tid in sync] == [1, 2, 1, 3]
    assert [e["ts"] for e in requests if e["args"].get("in flight")] == [1_899_000]
    # The request still waiting ends at the instant the trace was taken.
    assert phases_at(trace, 2_999_999)[WAITING] == 1


def test_nothing_is_traced_past_the_instant_the_trace_is_taken() -> None:
    table, wire = PhaseTable(), WireLog()
    slot = table.arrive("sync", 1.0, wire.sent(0.999))
    slot.started = 2.5  # a thread stamped it after the trace's instant was read
    trace = checked_trace(
        _text(build_trace(joined_requests(table, wire, since=0.0, now=2.0), origin=0.0, other={}))
    )
    slices = [(e["cat"], e["ts"], e["dur"]) for e in trace["traceEvents"] if e["ph"] == "X"]
    assert slices == [
        (REQUEST, 999_000, 1_001_000),
        (WIRE, 999_000, 1_000),
        (WAITING, 1_000_000, 1_000_000),
    ]


def test_a_trace_is_bounded_and_says_so() -> None:
    table, wire = PhaseTable(), WireLog()
    for i in range(50):
        at = i * 0.1
        _request(table, wire, (at, at, at, at + 0.05, at + 0.05, at + 0.06))
    requests = joined_requests(table, wire, since=0.0, now=10.0)
    trace = checked_trace(
        _text(build_trace(requests, origin=0.0, other={}, seen=60, max_requests=20))
    )
    kept = [e for e in trace["traceEvents"] if e.get("cat") == REQUEST]
    assert len(kept) == 20 and min(e["args"]["request id"] for e in kept) == 30  # the newest
    data = trace["otherData"]
    assert (data["requests exported"], data["requests seen"]) == (20, 60)
    assert data["cut"].startswith("only the newest 20 of 60 requests")


def test_the_client_side_alone_is_one_slice_per_request(tmp_path: Path) -> None:
    records = [
        RequestRecord(scenario="GET /items", start=1.0, end=1.25, status=200),
        RequestRecord(scenario="GET /items", start=1.1, end=1.3, status=500),
    ]
    path = tmp_path / "t.json"
    write_trace(path, build_trace(client_requests(records), origin=1.0, other={"x": float("nan")}))
    trace = checked_trace(path.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert [(e["cat"], e["ts"], e["dur"], e["tid"]) for e in slices] == [
        (REQUEST, 0, 250_000, 1),
        (REQUEST, 100_000, 200_000, 2),
    ]
    assert [e["args"]["status"] for e in slices] == [200, 500]
    assert trace["otherData"]["x"] is None  # NaN is not JSON


async def test_the_thread_pool_lesson_shows_10_working_and_the_rest_waiting() -> None:
    # The lesson "thread pool exhaustion": a def route, 10 threads, 30 users.
    trace_of_run = RunTrace()
    settings = RunSettings(
        scenario="sync", concurrency=30, threads=10, delay_ms=100, duration_s=3.0
    )
    result = await run_load(settings, trace=trace_of_run)
    assert result.summary.ok > 0
    trace = checked_trace(_text(trace_of_run.trace({"lesson": "thread pool"})))
    assert trace["otherData"]["side"] == "client and server"
    requests = [e for e in trace["traceEvents"] if e.get("cat") == REQUEST]
    assert {e["args"]["status"] for e in requests} == {200}  # the client's, joined by id
    assert len({e["tid"] for e in requests}) == 30  # a lane per user's request in flight
    ends = [e["ts"] + e["dur"] for e in trace["traceEvents"] if e["ph"] == "X"]
    middle = max(ends) // 2
    # Every 5 ms over 300 ms in the middle of the run (the ramp and the drain are over).
    moments = [phases_at(trace, middle + k * 5_000) for k in range(60)]
    assert max(m[WORKING] for m in moments) == 10  # never more than the 10 tokens
    full = [m for m in moments if m[WORKING] == 10]
    # A thread takes its next request within microseconds: 10 work at nearly every instant.
    assert len(full) >= 0.8 * len(moments), [m[WORKING] for m in moments]
    for moment in full:
        # Each of the 30 users' requests is somewhere: those not working wait for a
        # thread, but for the few between the client and the route at that instant.
        assert moment[REQUEST] <= 30
        assert moment[WAITING] >= 15, moment
        assert (
            moment[WAITING] + moment[WORKING] + moment[WIRE] + moment[ANSWERING]
            == (moment[REQUEST])
        )


async def test_a_server_elsewhere_gives_the_client_side_only() -> None:
    server = EmbeddedServer(create_app(ServerSettings(threads=4)))
    await server.start()
    try:
        trace_of_run = RunTrace()
        settings = RunSettings(
            scenario="async", concurrency=3, delay_ms=20, duration_s=0.6, target=server.url
        )
        await run_load(settings, trace=trace_of_run)
    finally:
        await server.stop()
    trace = checked_trace(_text(trace_of_run.trace({})))
    assert trace["otherData"]["side"].startswith("client only: the server runs in another")
    cats = {e["cat"] for e in trace["traceEvents"] if e["ph"] == "X"}
    assert cats == {REQUEST}
    assert trace["otherData"]["requests exported"] == trace_of_run.seen > 0
