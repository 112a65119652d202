"""Corrected and uncorrected latency in the recorder, and what theory says for an open loop."""

from __future__ import annotations

import math

import pytest

from loopscope.loadgen import Recorder, RequestRecord, open_loop_theory


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_recorder_keeps_both_latencies_per_window_and_in_the_summary() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    # Sent 50 ms after their intended start, answered 100 ms after the send.
    for i in range(100):
        end = clock.now + 0.2 + i * 0.005
        recorder.add(
            RequestRecord(scenario="async", intended_start=end - 0.15, start=end - 0.1, end=end)
        )
    clock.now += 2.0
    summary = recorder.summary("async")
    assert summary.latency.p50 == pytest.approx(150, rel=0.01)
    assert summary.latency_uncorrected.p50 == pytest.approx(100, rel=0.01)
    assert summary.latency.max == pytest.approx(150, rel=1e-6)
    assert summary.latency_uncorrected.max == pytest.approx(100, rel=1e-6)
    window = recorder.snapshot().scenarios["async"].windows[0]
    assert window.latency.p99 == pytest.approx(150, rel=0.01)
    assert window.latency_uncorrected.p99 == pytest.approx(100, rel=0.01)


def test_a_closed_loop_record_has_one_latency() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    recorder.add(RequestRecord(scenario="sync", start=clock.now, end=clock.now + 0.3))
    clock.now += 1.0
    summary = recorder.summary("sync")
    assert summary.latency == summary.latency_uncorrected


def test_percentiles_never_exceed_the_exact_maximum() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    recorder.add(RequestRecord(scenario="async", start=clock.now, end=clock.now + 2.9496))
    clock.now += 4.0
    latency = recorder.summary("async").latency
    assert latency.p99 <= latency.max == pytest.approx(2949.6)


def test_open_loop_theory_below_and_above_capacity() -> None:
    under = open_loop_theory("sync", rate=100, delay_s=0.2, threads=40)  # capacity 200/s
    assert under.throughput_rps == 100
    assert under.latency_ms == pytest.approx(200)
    over = open_loop_theory("blocking", rate=30, delay_s=0.1)  # capacity 10/s
    assert over.throughput_rps == pytest.approx(10)
    assert math.isinf(over.latency_ms)
    assert "grow without bound" in over.explanation
    unbounded = open_loop_theory("async", rate=50_000, delay_s=0.1)
    assert unbounded.throughput_rps == 50_000
    assert unbounded.latency_ms == pytest.approx(100)
