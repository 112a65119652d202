"""The end of a run awaits what it owes: the slowest requests are measured, or censored."""

from __future__ import annotations

from dataclasses import replace

import pytest

from loopscope.loadgen import RunSettings, run_load

# An open loop over a one-thread pool: a D/D/1 queue. 30 req/s into 10 req/s of capacity.
RATE, SERVICE_S = 30.0, 0.1
OVERLOAD = RunSettings(
    scenario="sync", threads=1, rate=RATE, delay_ms=SERVICE_S * 1000, duration_s=4.0, warmup_s=1.0
)


def dd1_latency_s(t: float, service_s: float) -> float:
    """D/D/1 from an empty queue at 0: the request intended at t is the (RATE t + 1)-th
    in line, done at (RATE t + 1) service times: its latency is that minus t."""
    return (RATE * t + 1) * service_s - t


@pytest.mark.slow
async def test_the_drained_tail_follows_the_queue_arithmetic() -> None:
    result = await run_load(OVERLOAD)
    drained = result.drained
    assert drained is not None and drained.censored == 0
    # Every request intended in the 3 s measured: 90 of them, all answered in the drain.
    assert 85 <= drained.answered <= 95
    service_s = result.summary.server_work_ms_mean / 1000
    start, span = 1.0, 3.0  # the measured interval, from the schedule's start
    p50 = dd1_latency_s(start + 0.50 * span, service_s) * 1000
    p99 = dd1_latency_s(start + 0.99 * span, service_s) * 1000
    # Within a busy machine's noise; bench/core_fidelity.py's open-loop row holds it to 10 %.
    assert drained.latency.p50 == pytest.approx(p50, rel=0.25)
    assert drained.latency.p99 == pytest.approx(p99, rel=0.25)
    # The completed-only figures leave the worst out (what wrk2 reports): far below.
    assert result.summary.latency.p99 < 0.5 * drained.latency.p99
    record = result.to_json()["drained"]
    assert isinstance(record, dict) and record["latency_is_lower_bound"] is False


@pytest.mark.slow
async def test_a_short_drain_censors_the_rest_and_says_how_slow_they_were_at_least() -> None:
    result = await run_load(replace(OVERLOAD, drain_s=2.0))
    drained = result.drained
    assert drained is not None
    assert drained.censored > 30  # about 60 of the 90 cannot be answered within 2 s
    assert 85 <= drained.answered + drained.censored <= 95
    assert 1.9 <= drained.drain_s <= 3.0
    # Each censored request waited at least the drain, and the percentiles say "at least".
    assert drained.censored_min_ms >= 1900
    assert drained.latency.p99 >= drained.censored_min_ms
    record = result.to_json()["drained"]
    assert isinstance(record, dict) and record["latency_is_lower_bound"] is True


@pytest.mark.slow
async def test_a_closed_loop_run_counts_the_requests_the_end_caught_in_flight() -> None:
    result = await run_load(
        RunSettings(scenario="async", concurrency=10, delay_ms=500, duration_s=2.5, warmup_s=0.5)
    )
    drained = result.drained
    assert drained is not None and drained.censored == 0
    # Started in the measured 2 s, 10 users x 2 answers a second: about 40, each 500 ms,
    # including the ~10 still in flight at the end that completed-only figures leave out.
    assert drained.answered >= result.summary.ok
    assert 35 <= drained.answered <= 45
    assert drained.latency.p50 == pytest.approx(500, rel=0.2)
