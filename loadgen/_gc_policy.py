"""Python's cyclic garbage collection tuned for one loop carrying a thousand live requests.

At 1000 users the loop holds some 275 000 container objects (each request in flight is
about 30 coroutines and their frames, cells and dicts, on the server's side and the
client's). With Python's default thresholds (700, 10, 10) the young generation is
collected about 110 times a second and the whole heap about once a second, each full
collection a 130-200 ms stop of the loop: 3.1 s of every 14 s measured, and the loop-lag
spikes the health warning then blames on the generator. Nearly all of these objects are
freed by reference counting when their request ends; the collector finds little.

With a young threshold of 100 000 a collection comes every several seconds at 1000 users
(the young count grows by ~12 000 a second there) and fewer objects live long enough to be
promoted and scanned again. Each one still scans the requests in flight (~140 ms at 1000
users; 20 000 gave the same pauses several times as often), so the loop-lag p99 is no
longer the collector's. Only objects in reference cycles wait for a collection, and the
sender leaves none per request (loadgen/_sender.py). The objects made at start-up
(modules, the app, the window) are frozen out of every later collection.
Measured by bench/loop_cost.py and bench/gui_load.py.
"""

from __future__ import annotations

import gc

# Young-generation threshold (Python's default is 700).
YOUNG_THRESHOLD = 100_000


def tune_gc_for_load() -> None:
    """Raise the young-generation threshold, keeping Python's older-generation ratios."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive now out of all later collections.

    Call it when start-up is over (imports done, app and window built): those objects live
    as long as the process, and scanning them again in every full collection is waste.
    """
    gc.collect()
    gc.freeze()
