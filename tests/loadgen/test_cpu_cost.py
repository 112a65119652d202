"""The CPU theory's cost of a request comes from the machine's speed sampled while load runs."""

from __future__ import annotations

import time

import pytest

from loopscope.loadgen import CpuCostMeter, measure_cpu_cost_s
from loopscope.loadgen._cpu_cost import HTTP_WORK_ITERATIONS


def test_the_meter_averages_its_recent_samples_and_scales_with_the_work() -> None:
    meter = CpuCostMeter()
    for _ in range(5):
        meter.sample()
    assert meter.samples == 5
    small, large = meter.cost_s(5_000), meter.cost_s(50_000)
    # The same speed: cost in proportion to the work plus the HTTP handling.
    expected = (50_000 + HTTP_WORK_ITERATIONS) / (5_000 + HTTP_WORK_ITERATIONS)
    assert large / small == pytest.approx(expected)
    assert 0 < small < large < 1.0


def test_the_meter_reads_only_the_samples_since_it_is_told() -> None:
    meter = CpuCostMeter()
    meter.sample()
    since = time.perf_counter()
    # Nothing sampled since: a burst measurement instead, of the same order.
    burst = meter.cost_s(50_000, since=since)
    assert meter.cost_s(50_000) == pytest.approx(burst, rel=3.0)
    assert 0 < measure_cpu_cost_s(50_000) < 1.0
