"""What one CPU-scenario request costs this machine's core: the service time of the CPU
theory (`theory.closed_loop`'s cpu_s), from the speed of the CPU routes' work loop.

The speed is measured while the load runs, not once before it: a machine shared with other
work changes speed from moment to moment. Here the work loop ran at 76-80 ns an iteration
for seconds, then at 145-200 ns, so a cost measured before the CPU lesson made its theory
49 or 106 req/s for the same measured 67. Samples are short (0.1-0.4 ms of the loop's time)
and timed in the thread's own CPU time, so that a sample taken while a worker thread holds
the GIL (the lesson runs one) does not count the wait for it.

Nor is the core all this process's: other processes take turns on it. Where the system
says how long this process's threads waited, runnable, for a CPU (Linux: schedstat), the
speed is scaled by the share of the time they got one (a CPU lesson run beside other work
here measured 0.69 of its theory while its threads waited 30 % of the time; 0.91 at 17 %).
What counts is the wait of the thread holding the GIL (`runnable_share`).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Sequence

from loopscope.embedded_server import cpu_work
from loopscope.embedded_server.platform_support import ThreadTimes, thread_cpu_times

# The CPU a request's HTTP handling costs on the server's core (server and generator on one
# loop), in iterations of the CPU routes' work loop, so that it scales with the machine's
# speed as the work does. Measured (issue 14) on runs of 2 users at 5 000 and 50 000
# iterations, each against the speed sampled while it ran (cost = speed / throughput): the
# CPU lesson read 12 000-16 500 iterations a request beyond its work (mean 14 300, both
# sizes alike); cpu-async alone 15 600-16 200 at 5 000 and 23 500-24 200 at 50 000 (there
# the theory is about 13 % fast). Fitted with the share of the loop's thread alone; with
# every thread weighed (`runnable_share`), the lesson reads 0.86-0.97 of its theory under
# load.
HTTP_WORK_ITERATIONS = 14_000
# The same with the server in processes of its own (`--server-process`): only the
# server's handling (uvicorn, FastAPI, the timing middleware) runs on a worker's core,
# about 40-45 % of a shared-loop request's CPU in bench/loop_profile.py's split. An
# estimate, not a fit: bench/workers.py's cpu_http_fit cannot fit it while the speed is
# sampled in the generator's process, which, nearly idle beside the workers, reads the
# work loop 1.5-2x slower than a busy worker runs it (the theory of a small request reads
# well under its measured rate there: bench/results/workers.json, cpu_http_fit).
SERVER_HTTP_ITERATIONS = 6_000
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


def runnable_share(first: ThreadTimes | None, last: ThreadTimes | None) -> float:
    """The share of the time this process's computing got a CPU between two readings: each
    thread's wait for a CPU, weighted by its part of the process's running (the thread
    holding the GIL is the one whose wait stalls everything: in the CPU lesson the event
    loop's, for `def` work alone its workers'; a thread that only wakes up to queue for the
    GIL waits for a CPU without costing anything). 1.0 where the system does not say
    (`thread_cpu_times` is None off Linux): the speed is then taken as it was sampled."""
    if first is None or last is None:
        return 1.0
    deltas = []
    for tid, (running, waiting) in last.items():
        before = first.get(tid, (0.0, 0.0))  # a thread born meanwhile: all of it
        deltas.append((running - before[0], waiting - before[1]))
    total = sum(running for running, _ in deltas)
    if total <= 0:
        return 1.0
    lost = sum(waiting * running / total for running, waiting in deltas)
    return total / (total + lost)


def _sample_s_per_iteration() -> float:
    start = time.thread_time()
    cpu_work(SAMPLE_ITERATIONS)
    return max(time.thread_time() - start, 1e-9) / SAMPLE_ITERATIONS


def _cost_s(speeds: list[float], iterations: int, http_iterations: int) -> float:
    """The cost of a request of `iterations`, at the mean of the sampled speeds (a run's
    throughput follows the mean speed, iterations per second)."""
    mean_speed = sum(speeds) / len(speeds)
    return (iterations + http_iterations) / mean_speed


class CpuCostMeter:
    """The work loop's speed from samples taken now and then (`sample()`), each with the
    perf_counter time it was taken.

    The speed is sampled in this process, which runs the same Python on the same machine
    as the server wherever that is (a nearly idle process reads it slower than a busy
    worker runs: see SERVER_HTTP_ITERATIONS). The share of the core is the server's: this
    process's threads' while the server shares its loop, the workers' threads' once
    `watch()` names them (the server in processes of its own: there this process only
    sends, and its own wait for a CPU, at 0.1-0.3 of the time on a busy 2-core machine,
    made the theory of a worker a third of what it served).
    """

    def __init__(self, history: int = METER_HISTORY) -> None:
        # (t, iterations per second, the server's thread times then)
        self._samples: deque[tuple[float, float, ThreadTimes | None]] = deque(maxlen=history)
        self._server_pids: tuple[int, ...] = ()

    @property
    def samples(self) -> int:
        return len(self._samples)

    def watch(self, server_pids: Sequence[int]) -> None:
        """The server runs in these processes from now on (empty: on this process's loop).
        The samples so far measured another server's share: they are dropped."""
        if tuple(server_pids) != self._server_pids:
            self._server_pids = tuple(server_pids)
            self._samples.clear()

    @property
    def http_iterations(self) -> int:
        """A request's HTTP handling on the server's core, in work-loop iterations."""
        return SERVER_HTTP_ITERATIONS if self._server_pids else HTTP_WORK_ITERATIONS

    def sample(self) -> None:
        speed = 1 / _sample_s_per_iteration()
        self._samples.append((time.perf_counter(), speed, thread_cpu_times(self._server_pids)))

    def cost_s(
        self, iterations: int, *, since: float | None = None, until: float | None = None
    ) -> float:
        """Seconds of the core one request of `iterations` costs (work and HTTP handling),
        from the samples taken between `since` and `until` (perf_counter times; default:
        the last RECENT_S until now); a burst measurement when there are none."""
        start = time.perf_counter() - RECENT_S if since is None else since
        end = math.inf if until is None else until
        window = []
        for sample in reversed(self._samples):  # newest first, so a short span reads few
            if sample[0] < start:
                break
            if sample[0] <= end:
                window.append(sample)
        window.reverse()
        if not window:
            # Nothing sampled in the span (just opened): a burst, kept as samples, so the
            # next reading (the curve's theory asks for dozens at once) needs none.
            self.burst()
            window = list(self._samples)[-BURST_SAMPLES:]
        share = runnable_share(window[0][2], window[-1][2])
        return _cost_s([speed * share for _, speed, _ in window], iterations, self.http_iterations)

    def burst(self) -> None:
        """BURST_SAMPLES samples spread over BURST_SPAN_S (it blocks that long)."""
        for index in range(BURST_SAMPLES):
            if index:
                time.sleep(BURST_SPAN_S / BURST_SAMPLES)  # spread: see the module doc
            self.sample()

    async def run(self) -> None:
        """Sample every SAMPLE_PERIOD_S until cancelled (for the meter's owner to run as a
        task beside a load)."""
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_PERIOD_S)


def measure_cpu_cost_s(iterations: int, server_pids: Sequence[int] = ()) -> float:
    """Seconds of the core one CPU-scenario request costs here: its work and its HTTP
    handling (see HTTP_WORK_ITERATIONS), from a burst of samples (it blocks BURST_SPAN_S).
    For sizing a load before it starts; a run's theory takes the speed sampled while it
    runs (`CpuCostMeter`). server_pids: see `CpuCostMeter.watch`."""
    meter = CpuCostMeter()
    meter.watch(server_pids)
    meter.burst()
    return meter.cost_s(iterations, since=-math.inf)
