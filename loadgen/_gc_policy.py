"""Python's cyclic garbage collection tuned for one loop carrying a thousand live requests.

At 1000 users the loop holds some 275 000 container objects (each request in flight is
about 30 coroutines and their frames, cells and dicts, on the server's side and the
client's). With Python's default thresholds (700, 10, 10) the young generation is
collected about 110 times a second and the whole heap about once a second, each full
collection a 130-200 ms stop of the loop: 3.1 s of every 14 s measured, and the loop-lag
spikes the health warning then blames on the generator. Nearly all of these objects are
freed by reference counting when their request ends; the collector finds little.

So: a young generation 30 times larger (collections rarer, and requests mostly finish
before surviving one, so fewer are promoted and scanned again), and the objects made at
start-up (modules, the app, the window) frozen out of every later collection.
Measured by bench/loop_cost.py.
"""

from __future__ import annotations

import gc

# Young-generation threshold (Python's default is 700). Memory cost: at most this many
# more objects waiting for a collection, a few MiB.
YOUNG_THRESHOLD = 20_000


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
