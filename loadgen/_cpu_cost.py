"""What one CPU-scenario request costs this machine's core: the service time of the CPU
theory (`theory.closed_loop`'s cpu_s), from the speed of the CPU routes' work loop.

The speed is measured while the load runs, not once before it: a machine shared with other
work changes speed from moment to moment. Here the work loop ran at 76-80 ns an iteration
for seconds, then at 145-200 ns, so a cost measured before the CPU lesson made its theory
49 or 106 req/s for the same measured 67. Samples are short (0.1-0.4 ms of the loop's time)
and timed in the thread's own CPU time, so that a sample taken while a worker thread holds
the GIL (the lesson runs one) does not count the wait for it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from loopscope.embedded_server import cpu_work

# A request's cost in the meter's units (iterations at the sampled speed) is
#     WORK_SLOWDOWN × iterations + HTTP_WORK_ITERATIONS.
# Both fitted (issue 14) on runs of 2 users at 5 000 and 50 000 iterations, each against
# the speed sampled while it ran (cost = speed / throughput): cpu-async alone and the CPU
# lesson read 15 000-17 700 iterations a request at 5 000 and 24 000-34 600 at 50 000. So
# the work itself runs about 1.2 times slower per iteration inside a loaded server than in
# the samples (why is not established: the samples are as slow whatever their length),
# and the HTTP handling of a request (server and generator on one loop) costs about
# 12 000 iterations' worth, as throughput at two work sizes alone also gave (median 11 300).
# In iterations, so that both scale with the machine's speed as the work does.
WORK_SLOWDOWN = 1.2
HTTP_WORK_ITERATIONS = 12_000
# One sample: 0.1-0.4 ms of the loop's time here, short enough to take between two passes.
SAMPLE_ITERATIONS = 2_000
# How often a meter samples while load runs (`CpuCostMeter.run`).
SAMPLE_PERIOD_S = 0.1
# Samples a meter keeps: 10 minutes at one every 0.1 s.
METER_HISTORY = 6_000
# What `cost_s` averages by default: the last 5 s.
RECENT_S = 5.0
# A burst measurement (`measure_cpu_cost_s`, before a load is sized): this many samples
# spread over this long.
BURST_SAMPLES = 25
BURST_SPAN_S = 0.5


def _sample_s_per_iteration() -> float:
    start = time.thread_time()
    cpu_work(SAMPLE_ITERATIONS)
    return max(time.thread_time() - start, 1e-9) / SAMPLE_ITERATIONS


def _cost_s(speeds: list[float], iterations: int) -> float:
    """The cost of a request of `iterations`, at the mean of the sampled speeds (a run's
    throughput follows the mean speed, iterations per second)."""
    mean_speed = sum(speeds) / len(speeds)
    return (WORK_SLOWDOWN * iterations + HTTP_WORK_ITERATIONS) / mean_speed


class CpuCostMeter:
    """The work loop's speed from samples taken now and then (`sample()`), each with the
    perf_counter time it was taken."""

    def __init__(self, history: int = METER_HISTORY) -> None:
        self._samples: deque[tuple[float, float]] = deque(maxlen=history)  # (t, it/s)

    @property
    def samples(self) -> int:
        return len(self._samples)

    def sample(self) -> None:
        self._samples.append((time.perf_counter(), 1 / _sample_s_per_iteration()))

    def cost_s(self, iterations: int, *, since: float | None = None) -> float:
        """Seconds of the core one request of `iterations` costs (work and HTTP handling),
        from the samples taken since `since` (a perf_counter time; default: the last
        RECENT_S); a burst measurement when there are none."""
        start = time.perf_counter() - RECENT_S if since is None else since
        speeds = [speed for t, speed in self._samples if t >= start]
        if not speeds:
            return measure_cpu_cost_s(iterations)
        return _cost_s(speeds, iterations)

    async def run(self) -> None:
        """Sample every SAMPLE_PERIOD_S until cancelled (for the meter's owner to run as a
        task beside a load)."""
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_PERIOD_S)


def measure_cpu_cost_s(iterations: int) -> float:
    """Seconds of the core one CPU-scenario request costs here: its work and its HTTP
    handling (see HTTP_WORK_ITERATIONS), from BURST_SAMPLES samples over BURST_SPAN_S (it
    blocks that long). For sizing a load before it starts; a run's theory takes the speed
    sampled while it runs (`CpuCostMeter`)."""
    speeds = []
    for index in range(BURST_SAMPLES):
        if index:
            time.sleep(BURST_SPAN_S / BURST_SAMPLES)  # spread over time: see the module doc
        speeds.append(1 / _sample_s_per_iteration())
    return _cost_s(speeds, iterations)
