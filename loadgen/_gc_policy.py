"""Python's cyclic garbage collection tuned for one loop carrying a thousand live requests.

At 1000 users the loop holds some 275 000 container objects (each request in flight is
about 30 coroutines and their frames, cells and dicts, on the server's side and the
client's). With Python's default thresholds (700, 10, 10) the young generation is
collected about 110 times a second and the whole heap about once a second, each full
collection a 130-200 ms stop of the loop: 3.1 s of every 14 s measured, and the loop-lag
spikes the health warning then blames on the generator. Nearly all of these objects are
freed by reference counting when their request ends; the collector finds little.

So collections are paced (`GcPacer`): the young generation when its count passes 100 000
or, whatever the count, 5 s after the last collection; the older ones by Python's own
ratios. A young collection scans the requests in flight (~140 ms at 1000 users, whatever
the threshold; 20 000 gave the same pauses several times as often), so every few seconds
is what keeps the loop-lag p99 the load's, not the collector's. The clock matters as much
as the count: the young count is allocations minus deallocations, and at 500 users x
200 ms it hovered around 40 000 for ten minutes, never reaching the threshold, while the
recorder's closed windows (HdrHistograms: reference cycles of 27 KB arrays, 3.5 a second)
piled up uncollected: +36 MiB in a 10-minute soak. Only such cycles wait for a collection;
the sender leaves none per request (loadgen/_sender.py). The objects made at start-up
(modules, the app, the window) are frozen out of every later collection.
Measured by bench/loop_cost.py, bench/gui_load.py and bench/soak.py.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Callable, Iterator

# Young-generation threshold (Python's default is 700) ...
YOUNG_THRESHOLD = 100_000
# ... and the longest a collection waits, whatever the counts say.
MAX_INTERVAL_S = 5.0
# How often the pacer looks.
TICK_S = 0.5


def tune_gc_for_load() -> None:
    """Raise the young-generation threshold, keeping Python's older-generation ratios."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_startup_objects(*, collect: bool = True) -> None:
    """Collect once, then move every object alive now out of all later collections.

    Call it when start-up is over (imports done, app and window built): those objects live
    as long as the process, and scanning them again in every full collection is waste.
    collect=False: freeze only (instant), when a collection just ran, before the loop
    whose lag is charted started (a full collection with the window built stops it for
    ~0.4 s, which the loop-lag chart then scales to).
    """
    if collect:
        gc.collect()
    gc.freeze()


class GcPacer:
    """Collects what is due, with automatic collection off: call `tick()` every TICK_S
    from the thread that should pay for it (the window: the GUI thread)."""

    def __init__(
        self, max_interval_s: float = MAX_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_interval_s = max_interval_s
        self._clock = clock
        self._last = clock()

    def tick(self) -> int | None:
        """Collect the oldest generation due, if any; returns it (None: nothing due)."""
        young, middle, old = gc.get_count()
        limit_young, limit_middle, limit_old = gc.get_threshold()
        now = self._clock()
        if old > limit_old:
            generation = 2
        elif middle > limit_middle:
            generation = 1
        elif young > limit_young or now - self._last >= self._max_interval_s:
            generation = 0
        else:
            return None
        gc.collect(generation)
        self._last = now
        return generation


class PacedCollection:
    """`GcPacer` on a daemon thread of its own, for processes with no GUI thread (the
    command line): automatic collection is off while it runs."""

    def __init__(self, max_interval_s: float = MAX_INTERVAL_S) -> None:
        self._pacer = GcPacer(max_interval_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_enabled = gc.isenabled()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="loopscope-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        if self._was_enabled:
            gc.enable()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self._pacer.tick()


@contextlib.contextmanager
def gc_tuned_for_load(*, freeze: bool, paced: bool) -> Iterator[None]:
    """This policy for the block, and Python's own again after it (callers such as the
    tests run many commands in one process).

    freeze: freeze the objects alive now (start-up is over); paced: a `PacedCollection`
    thread instead of automatic collection (a GUI paces on its own thread instead).
    """
    thresholds = gc.get_threshold()
    tune_gc_for_load()
    if freeze:
        freeze_startup_objects()
    pacer = PacedCollection() if paced else None
    if pacer is not None:
        pacer.start()
    try:
        yield
    finally:
        if pacer is not None:
            pacer.stop()
        gc.unfreeze()
        gc.set_threshold(*thresholds)
