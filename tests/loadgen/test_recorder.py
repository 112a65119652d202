"""The recorder against distributions whose percentiles are known."""

from __future__ import annotations

import math

import pytest

from loopscope.loadgen import Recorder, RequestRecord


class FakeClock:
    """The recorder's time source, moved by hand (the recorder does no waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(end: float, latency_s: float, *, error: str | None = None) -> RequestRecord:
    return RequestRecord(scenario="async", start=end - latency_s, end=end, error=error)


def test_percentiles_of_a_uniform_distribution() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    # Latencies 1, 2, ..., 1000 ms, all completing in the first second.
    for ms in range(1, 1001):
        recorder.add(record(clock.now + 0.5, ms / 1000))
    clock.now += 1.0
    summary = recorder.summary("async")
    assert summary.ok == 1000
    assert summary.latency.p50 == pytest.approx(500, rel=0.01)
    assert summary.latency.p90 == pytest.approx(900, rel=0.01)
    assert summary.latency.p99 == pytest.approx(990, rel=0.01)
    assert summary.latency.max == pytest.approx(1000, rel=1e-9)
    assert summary.latency.mean == pytest.approx(500.5, rel=0.01)


def test_percentiles_of_a_bimodal_distribution() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    # 95 % fast (10 ms) and 5 % slow (2 s): p90 is fast, p99 is slow.
    for i in range(2000):
        recorder.add(record(clock.now + 0.1, 2.0 if i % 20 == 0 else 0.010))
    summary = recorder.summary("async")
    assert summary.latency.p50 == pytest.approx(10, rel=0.01)
    assert summary.latency.p90 == pytest.approx(10, rel=0.01)
    assert summary.latency.p99 == pytest.approx(2000, rel=0.01)


def test_windows_count_completions_per_second_and_gaps_are_zero() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock, window_s=1.0)
    start = clock.now
    for i in range(30):  # 30 completions in the first second
        recorder.add(record(start + i / 30, 0.1))
    for i in range(10):  # none in the second, 10 in the third
        recorder.add(record(start + 2 + i / 10, 0.2))
    recorder.add(record(start + 2.5, 0.2, error="http_5xx"))
    clock.now = start + 3.01
    windows = recorder.snapshot().scenarios["async"].windows
    assert [w.ok for w in windows] == [30, 0, 10]
    assert [w.errors for w in windows] == [0, 0, 1]
    assert windows[0].throughput_rps == pytest.approx(30)
    assert windows[0].latency.p50 == pytest.approx(100, rel=0.01)
    assert math.isnan(windows[1].latency.p50)
    assert windows[2].latency.p99 == pytest.approx(200, rel=0.01)


def test_history_is_bounded() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock, window_s=1.0, history=50)
    start = clock.now
    for second in range(500):
        recorder.add(record(start + second + 0.5, 0.01))
    clock.now = start + 10_000  # a long idle time after
    windows = recorder.snapshot().scenarios["async"].windows
    assert len(windows) == 50
    assert recorder.snapshot().scenarios["async"].total_ok == 500


def test_warm_up_is_excluded_from_the_summary() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    start = clock.now
    for i in range(100):  # warm-up: slow
        recorder.add(record(start + i / 100, 1.0))
    clock.now = start + 1.0
    recorder.begin_measurement()
    for i in range(400):  # measured: fast, over 2 s
        recorder.add(record(start + 1.0 + i / 200, 0.05))
    clock.now = start + 3.0
    recorder.end_measurement()
    recorder.add(record(start + 3.5, 5.0))  # after the end: not counted either
    summary = recorder.summary("async")
    assert summary.ok == 400
    assert summary.duration_s == pytest.approx(2.0)
    assert summary.throughput_rps == pytest.approx(200)
    assert summary.latency.max == pytest.approx(50)


def test_errors_are_counted_by_kind_and_kept_out_of_latency() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    recorder.add(record(clock.now, 0.1))
    recorder.add(record(clock.now, 30.0, error="timeout"))
    recorder.add(record(clock.now, 0.001, error="connect"))
    recorder.add(record(clock.now, 0.001, error="connect"))
    summary = recorder.summary("async")
    assert summary.errors == {"timeout": 1, "connect": 2}
    assert summary.requests == 4
    assert summary.latency.max == pytest.approx(100)


def test_open_loop_latency_counts_from_the_intended_start() -> None:
    late = RequestRecord(scenario="async", intended_start=10.0, start=10.5, end=10.6)
    assert late.latency_s == pytest.approx(0.6)


def test_a_period_pools_from_its_start_and_starts_over_when_begun_again() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    start = clock.now
    assert recorder.period("async") is None
    recorder.begin_period("async", at=start + 1.0)
    recorder.add(record(start + 0.5, 9.0))  # before the period: left out
    for i in range(100):
        recorder.add(record(start + 1.5 + i / 100, 0.010 if i < 90 else 0.400))
    assert recorder.period("async", until=start + 0.9) is None
    pooled = recorder.period("async", until=start + 3.0)
    assert pooled is not None
    assert pooled.ok == 100
    assert pooled.duration_s == pytest.approx(2.0)
    assert pooled.throughput_rps == pytest.approx(50.0)
    assert pooled.latency.p50 == pytest.approx(10, rel=0.01)
    assert pooled.latency.p99 == pytest.approx(400, rel=0.01)
    # A new level: the old records no longer count.
    recorder.begin_period("async", at=start + 3.0)
    clock.now = start + 4.0
    fresh = recorder.period("async")
    assert fresh is not None and fresh.ok == 0 and math.isnan(fresh.latency.p50)
    recorder.reset()
    assert recorder.period("async") is None
