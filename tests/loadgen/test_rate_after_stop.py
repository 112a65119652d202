"""No throughput hump after Stop (issue 23, item 10): the live rate spans several
latencies, weighted most in its middle, so the last completions of a stopped run with
long latencies (blocking at 20 users x 2 s) would rise on the chart for seconds after
Stop. Once the load says it stopped, windows after it read 0."""

from __future__ import annotations

import math

from loopscope.loadgen import Recorder
from tests.loadgen.test_recorder import FakeClock, record


def _blocking_run(recorder: Recorder, clock: FakeClock, seconds: int) -> None:
    """One completion every 2 s, each after 40 s in the queue: blocking's worst case."""
    start = clock.now
    for i in range(seconds // 2):
        recorder.add(record(start + 2.0 * i + 1.0, 40.0))
    clock.now = start + seconds


def _rates(recorder: Recorder) -> list[float]:
    return [window.rate_rps for window in recorder.snapshot().scenarios["async"].windows]


def test_without_a_stop_the_rate_rises_after_the_last_completion() -> None:
    """What the chart drew: the estimate keeps rising once nothing completes."""
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    _blocking_run(recorder, clock, 12)
    at_end = _rates(recorder)[-1]
    clock.now += 10
    assert max(_rates(recorder)[12:]) > 1.2 * at_end


def test_after_a_stop_the_rate_holds_for_the_stop_window_then_reads_zero() -> None:
    clock = FakeClock()
    recorder = Recorder(clock=clock)
    _blocking_run(recorder, clock, 12)
    before = _rates(recorder)
    recorder.load_stopped()
    clock.now += 10
    rates = _rates(recorder)
    assert rates[: len(before)] == before  # the run's windows are untouched
    after = rates[len(before) :]
    assert len(after) == 10
    assert max(after) <= before[-1] * 1.05
    assert after[1:] == [0.0] * 9
    # The next run's rate is estimated again.
    recorder.load_started()
    start = clock.now
    for i in range(30):
        recorder.add(record(start + 0.1 * i, 0.1))
    clock.now = start + 3
    assert _rates(recorder)[-1] > 0 and not math.isnan(_rates(recorder)[-1])
