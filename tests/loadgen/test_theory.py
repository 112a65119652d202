from __future__ import annotations

import math

import pytest

from loopscope.loadgen import RouteRequest, RunSettings, open_loop_theory, predict, theory


def test_async_is_limited_only_by_users() -> None:
    p = theory.closed_loop("async", users=50, delay_s=0.2)
    assert p.throughput_rps == pytest.approx(250)
    assert p.latency_ms == pytest.approx(200)
    assert math.isinf(p.capacity)


def test_sync_is_limited_by_threads() -> None:
    p = theory.closed_loop("sync", users=100, delay_s=0.2, threads=40)
    assert p.throughput_rps == pytest.approx(200)
    assert p.latency_ms == pytest.approx(500)
    below = theory.closed_loop("sync", users=10, delay_s=0.2, threads=40)
    assert below.throughput_rps == pytest.approx(50)
    assert below.latency_ms == pytest.approx(200)


def test_blocking_serves_one_at_a_time() -> None:
    p = theory.closed_loop("blocking", users=5, delay_s=0.1)
    assert p.throughput_rps == pytest.approx(10)
    assert p.latency_ms == pytest.approx(500)


def test_fanout_sequential_vs_gather() -> None:
    seq = theory.closed_loop("fanout-sequential", users=10, delay_s=0.1, fanout=3)
    gat = theory.closed_loop("fanout-gather", users=10, delay_s=0.1, fanout=3)
    assert seq.latency_ms == pytest.approx(300)
    assert gat.latency_ms == pytest.approx(100)
    assert gat.throughput_rps == pytest.approx(3 * seq.throughput_rps)


def test_cpu_needs_a_measured_cost() -> None:
    with pytest.raises(ValueError, match="cpu_s"):
        theory.closed_loop("cpu-sync", users=4, delay_s=0)
    p = theory.closed_loop("cpu-sync", users=4, delay_s=0, cpu_s=0.02)
    assert p.throughput_rps == pytest.approx(50)
    assert p.latency_ms == pytest.approx(80)


def test_open_loop_cpu_routes_side_by_side_share_the_core() -> None:
    # Two CPU-bound scenarios at the same rate share the one core the GIL allows: each can
    # complete half of 1/cpu_s, not all of it (as the window's open-loop table used to say).
    alone = open_loop_theory("cpu-async", rate=200, delay_s=0.0, cpu_s=0.01)
    shared = open_loop_theory("cpu-async", rate=200, delay_s=0.0, cpu_s=0.01, cpu_share=0.5)
    assert alone.throughput_rps == pytest.approx(100)
    assert shared.throughput_rps == pytest.approx(50)


def test_cpu_routes_side_by_side_share_the_core_by_weighted_users() -> None:
    # Measured side by side: per user, a def CPU route gets half an async def one's part.
    shares = theory.cpu_shares({"cpu-async": 2, "cpu-sync": 2, "sync": 10})
    assert shares == pytest.approx({"cpu-async": 2 / 3, "cpu-sync": 1 / 3})
    assert theory.cpu_shares({"cpu-sync": 4, "cpu-async": 2}) == pytest.approx(
        {"cpu-async": 0.5, "cpu-sync": 0.5}
    )
    assert theory.cpu_shares({"cpu-sync": 3}) == {"cpu-sync": 1.0}
    assert theory.cpu_shares({"async": 3}) == {}
    # The lesson (2 + 2 users, 4 ms of core a request): 167 and 83 req/s, 12 and 24 ms.
    fast = theory.closed_loop("cpu-async", users=2, delay_s=0, cpu_s=0.004, cpu_share=2 / 3)
    slow = theory.closed_loop("cpu-sync", users=2, delay_s=0, cpu_s=0.004, cpu_share=1 / 3)
    assert fast.throughput_rps == pytest.approx(2 * slow.throughput_rps)
    assert fast.throughput_rps + slow.throughput_rps == pytest.approx(250)
    assert slow.latency_ms == pytest.approx(2 * fast.latency_ms)


def test_a_route_beside_the_blocking_one_moves_on_only_between_its_freezes() -> None:
    hold = theory.LoopHold(users=5, delay_s=0.1)
    # async: received in one gap, answered in the next: 2 holds, not its own 100 ms.
    p = theory.closed_loop("async", users=5, delay_s=0.1, loop_hold=hold)
    assert p.latency_ms == pytest.approx(200)
    assert p.throughput_rps == pytest.approx(25)
    assert "holds the loop" in p.explanation
    # A wait longer than a hold ends at the first gap after it: 300 ms -> 3 holds + 1.
    assert theory.closed_loop(
        "async", users=5, delay_s=0.3, loop_hold=hold
    ).latency_ms == pytest.approx(400)
    # sync needs one pass more (its worker's answer); the window's loop one more again.
    assert theory.closed_loop(
        "sync", users=5, delay_s=0.1, loop_hold=hold
    ).latency_ms == pytest.approx(300)
    qt = theory.LoopHold(users=5, delay_s=0.1, qt_loop=True)
    assert theory.closed_loop("async", users=5, delay_s=0.1, loop_hold=qt).latency_ms == (
        pytest.approx(300)
    )
    # One blocking user leaves a gap long enough for a whole async request.
    one = theory.LoopHold(users=1, delay_s=0.1)
    assert theory.closed_loop("async", users=5, delay_s=0.1, loop_hold=one).latency_ms == (
        pytest.approx(100)
    )
    # The blocking route itself is as before.
    blocking = theory.closed_loop("blocking", users=5, delay_s=0.1, loop_hold=hold)
    assert blocking.throughput_rps == pytest.approx(10)


def test_a_runs_prediction_is_its_workload_in_theorys_keywords() -> None:
    closed = RunSettings(scenario="sync", concurrency=30, delay_ms=100, workers=2)
    assert predict(closed, 10, None) == theory.closed_loop(
        "sync", users=30, delay_s=0.1, threads=10, workers=2
    )
    opened = RunSettings(scenario="fanout-sequential", rate=20, delay_ms=50, fanout=4)
    assert predict(opened, None, None) == open_loop_theory(
        "fanout-sequential", rate=20, delay_s=0.05, fanout=4
    )
    own = RunSettings(scenario="GET /x", route=RouteRequest(scenario="GET /x", path="/x"))
    assert predict(own, 1, None) == theory.unknown("GET /x")
