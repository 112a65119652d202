"""Garbage collection paced for a loop full of requests: on time whatever the counts say,
and Python's own policy back once a command is over."""

from __future__ import annotations

import gc
import time
import weakref

from loopscope.cli import main
from loopscope.loadgen import GcPacer, PacedCollection, gc_tuned_for_load


class _Node:
    """One half of a reference cycle: only the cyclic collector can free it."""

    partner: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    first, second = _Node(), _Node()
    first.partner, second.partner = second, first
    return weakref.ref(first)


def test_a_cycle_is_collected_on_time_though_the_count_never_reaches_the_threshold() -> None:
    """At 500 users x 200 ms the young count hovered far below the threshold for minutes
    while the recorder's closed windows (cycles of 27 KB arrays) piled up: +36 MiB."""
    now = [0.0]
    enabled = gc.isenabled()
    with gc_tuned_for_load(freeze=False, paced=False):
        gc.disable()
        try:
            pacer = GcPacer(max_interval_s=5.0, clock=lambda: now[0])
            gc.collect()
            young, _, _ = gc.get_count()
            assert young < gc.get_threshold()[0]  # the count alone would never collect
            garbage = _cycle()
            now[0] = 1.0
            assert pacer.tick() is None and garbage() is not None  # not due yet
            now[0] = 5.5
            assert pacer.tick() == 0
            assert garbage() is None
        finally:
            if enabled:
                gc.enable()


def test_the_pacing_thread_collects_and_gives_automatic_collection_back() -> None:
    enabled = gc.isenabled()
    pacer = PacedCollection(max_interval_s=0.05)
    pacer.start()
    try:
        assert not gc.isenabled()
        garbage = _cycle()
        deadline = time.monotonic() + 10
        while garbage() is not None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the condition: the pacer collects on its own clock
        assert garbage() is None
    finally:
        pacer.stop()
    assert gc.isenabled() == enabled


def test_a_command_leaves_the_process_as_it_found_it() -> None:
    """Tests (and other callers) run many commands in one process."""
    thresholds = gc.get_threshold()
    enabled = gc.isenabled()
    assert main(["run", "--scenario", "async", "--concurrency", "2", "--duration", "1"]) == 0
    assert gc.get_threshold() == thresholds
    assert gc.isenabled() == enabled
    assert gc.get_freeze_count() == 0
