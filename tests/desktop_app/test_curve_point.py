"""A settled live level's response-curve point pools its records as a sweep step does."""

from __future__ import annotations

import time

import pytest

from loopscope.desktop_app.session import CURVE_SKIP_S, LabSession
from loopscope.loadgen import Recorder, RequestRecord


def _records(changed_at: float) -> list[RequestRecord]:
    """Three one-second windows of the settled period whose per-window figures mislead:
    per-window p50s 100, 100, 500 ms (median 100) and p99s 2000, 100, 500 ms (max 2000),
    where the pooled 500 requests have p50 500 ms and p99 500 ms."""
    first = changed_at + CURVE_SKIP_S
    records: list[RequestRecord] = []

    def add(end: float, latency_s: float, count: int) -> None:
        records.extend(
            RequestRecord(scenario="sync", start=end - latency_s, end=end, user=i)
            for i in range(count)
        )

    add(first + 0.5, 0.100, 99)
    add(first + 0.5, 2.000, 1)
    add(first + 1.5, 0.100, 100)
    add(first + 2.5, 0.500, 300)
    # Before the period: the previous level's requests finishing, left out of both.
    add(changed_at + 0.5, 5.0, 50)
    return records


def test_the_curve_point_equals_the_sweep_figure_for_the_same_records() -> None:
    session = LabSession()
    session.set_users(30, "sync")  # the level changes now: a new settled period
    changed_at = time.perf_counter()
    records = _records(changed_at)
    session.recorder.add_all(records)
    until = changed_at + CURVE_SKIP_S + 3.0

    point = session.measurement.add_curve_point("sync", now=until)

    # The sweep's figure: a run's recorder measuring the same span (loadgen's run_load).
    sweep = Recorder()
    sweep.begin_measurement(at=changed_at + CURVE_SKIP_S)
    sweep.add_all(records)
    sweep.end_measurement(at=until)
    step = sweep.summary("sync")

    assert point is not None
    assert (point.scenario, point.users) == ("sync", 30)
    assert step.ok == 500
    # Pooled, not the median of window p50s (100 ms) or the max of window p99s (2000 ms).
    assert point.latency_p50_ms == step.latency.p50 == pytest.approx(500, rel=0.02)
    assert point.latency_p99_ms == step.latency.p99 == pytest.approx(500, rel=0.02)
    assert point.throughput_rps == pytest.approx(step.throughput_rps, rel=1e-3)
    # The clocks of the two spans are the same up to the microseconds between two
    # perf_counter reads; the throughput is 500 over ~3 s.
    assert point.throughput_rps == pytest.approx(500 / 3.0, rel=1e-3)


def test_no_point_before_the_period_starts_or_without_a_completion() -> None:
    session = LabSession()
    session.set_users(12, "async")
    changed_at = time.perf_counter()
    assert session.measurement.add_curve_point("async", now=changed_at + CURVE_SKIP_S / 2) is None
    assert session.measurement.add_curve_point("async", now=changed_at + CURVE_SKIP_S + 2) is None
    assert session.snapshot().curve == ()
