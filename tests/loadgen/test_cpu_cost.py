"""The CPU theory's cost of a request comes from the machine's speed sampled while load runs."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from loopscope.embedded_server.platform_support import thread_cpu_times
from loopscope.loadgen import CpuCostMeter, measure_cpu_cost_s
from loopscope.loadgen._cpu_cost import HTTP_WORK_ITERATIONS, SERVER_HTTP_ITERATIONS
from tests.fallbacks import ON_LINUX


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


def test_with_the_server_in_processes_of_its_own_the_share_is_theirs() -> None:
    """`--server-process`: the workers' threads' wait for a CPU is the server's share, not
    this process's (which only sends), and only the server's HTTP handling is on their
    core."""
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        meter = CpuCostMeter()
        meter.sample()
        assert meter.http_iterations == HTTP_WORK_ITERATIONS
        meter.watch([worker.pid])
        assert meter.samples == 0  # the old samples measured another server's share
        assert meter.http_iterations == SERVER_HTTP_ITERATIONS < HTTP_WORK_ITERATIONS
        times = thread_cpu_times([worker.pid])
        if ON_LINUX:
            assert times and all(key.startswith(f"{worker.pid}/") for key in times)
        else:
            assert times is None  # no schedstat: unknown, and the share is not scaled
        for _ in range(3):
            meter.sample()
        assert 0 < meter.cost_s(50_000) < 1.0
        meter.watch([])
        assert meter.http_iterations == HTTP_WORK_ITERATIONS
    finally:
        worker.kill()
        worker.wait()
