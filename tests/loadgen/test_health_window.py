"""The verdict follows a window that slides, a warning is held for a bounded time, and a
machine too small for the server's worker processes is named (issue 23, items 3 and 9)."""

from __future__ import annotations

import time

from loopscope.embedded_server import LoopLagMonitor
from loopscope.loadgen.health import (
    CLEAR_AFTER,
    HealthMonitor,
    VerdictHold,
    judge,
    short_of_cores,
)


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _idle(seconds: float) -> None:
    time.sleep(seconds)  # the process wants nothing: what a healthy generator looks like


def test_a_sliding_window_forgets_a_burst_that_has_left_it() -> None:
    """A burst of computing, then idle: measured since the start the share stays high
    (a whole run would keep it); slid, the window holds only the idle time."""
    health = HealthMonitor(LoopLagMonitor())
    health.restart()
    _spin(0.8)
    health.slide(keep_s=0.0)  # the next verdict covers from here on
    _idle(0.8)
    slid = health.verdict().cpu_fraction
    health.restart()
    _spin(0.8)
    health.slide(keep_s=5.0)  # keeps the burst in the window
    _idle(0.8)
    kept = health.verdict().cpu_fraction
    assert slid < 0.3, slid
    assert kept > 0.35, kept


def test_a_warning_is_held_for_a_bounded_number_of_healthy_verdicts() -> None:
    limited = judge(cpu_fraction=0.95, loop_lag_p99_ms=2)
    healthy = judge(cpu_fraction=0.2, loop_lag_p99_ms=2)
    hold = VerdictHold()
    assert hold.update(healthy) is healthy
    assert hold.update(limited) is limited  # at once
    # One healthy verdict at the edge does not take it back ...
    for _ in range(CLEAR_AFTER - 1):
        assert hold.update(healthy) is limited
    # ... CLEAR_AFTER in a row do: never a latch.
    assert hold.update(healthy) is healthy
    assert hold.update(healthy) is healthy
    # A warning in between starts the count again; no load clears at once.
    assert hold.update(limited) is limited
    assert hold.update(None) is None


def test_a_machine_short_of_cores_for_the_workers_is_named() -> None:
    note = short_of_cores(2, ("cpu-sync",), cores=2)
    assert note is not None
    assert note.startswith("this machine has 2 cores for 2 worker processes")
    assert "less than the 2 cores theory counts" in note
    assert short_of_cores(2, ("cpu-sync",), cores=4) is None
    # Routes that wait need no core of their own.
    assert short_of_cores(2, ("sync", "async"), cores=2) is None
