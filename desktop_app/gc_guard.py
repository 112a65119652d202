"""Python's cyclic garbage collection on the GUI thread only.

Automatic collection runs in whichever thread happens to allocate past a threshold; here
that is often one of FastAPI's worker threads (the `def` routes run there). When it frees a
Qt object caught in a reference cycle (pyqtgraph items, a closed window), the C++ destructor
runs on that worker thread, cannot unregister the object's timers from the GUI thread, and
the GUI thread's next timer tick dereferences freed memory: a segfault in
QTimerInfoList::activateTimers (seen about once in six GUI test runs). pyqtgraph's
`GarbageCollector` exists for the same reason; this is that idea, typed and owned here.
"""

from __future__ import annotations

import gc
import time

from PySide6.QtCore import QObject, QTimer

from loopscope.embedded_server.platform_support import set_heap_thresholds, trim_heap
from loopscope.loadgen import GcPacer

# Look this often (ms) whether a generation is due (GcPacer decides which).
COLLECT_PERIOD_MS = 500
# Give freed C-heap pages back this often (s), whatever was collected: with the young
# threshold of loadgen/_gc_policy.py, full collections come minutes apart. A trim costs the
# GUI thread 0.1-0.9 ms (measured in the soak's window); once a minute, the pages the heap
# reused in between made a 1.5-2 MiB sawtooth of resident memory (4-5 MiB before large
# blocks were kept out of the heap), every 5 s a fraction of that.
TRIM_PERIOD_S = 5.0


# Above asyncio's socket read buffer (every `recv` of a transport asks for 256 KiB and
# shrinks it to what came: from the heap ~3 us; by its own mmap ~30 us, measured) and Qt's
# fill buffers (<= 252 KiB), below the axes' pixmaps (364-520 KiB at 1600 x 1000).
MMAP_THRESHOLD_BYTES = 320 * 1024
# glibc's own ratio for a raised threshold; release_free_memory gives the rest back.
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES


def keep_large_blocks_out_of_the_heap() -> None:
    """Serve C allocations of MMAP_THRESHOLD_BYTES or more by their own mmap, returned to
    the system when freed, for the rest of the process (glibc's thresholds, fixed).

    glibc's default threshold moves: once a block above it is freed, blocks up to that size
    are carved from the heap from then on. The window frees and reallocates large blocks
    all the time (the axes' cached pixmaps, 364-520 KiB each, replaced ~4 times a second;
    QGraphicsItem's device cache): in the heap they left it holding 8-12 MiB of free
    fragments that the next blocks fault back in, so resident memory climbed 3-5 MiB
    between trims and the heap's in-use bytes drifted up 4.5 MiB over ten minutes (measured
    in-process over a soak; ~1 MiB and a flat heap with every block over 128 KiB mmapped).
    An mmap costs a couple of system calls and fresh pages for a block this large, a few a
    second: nothing per request (see MMAP_THRESHOLD_BYTES). Nothing without glibc
    (platform_support): other allocators choose for themselves.
    """
    set_heap_thresholds(MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES)


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim).

    A long session churns through short-lived C allocations in many threads (the thread
    pool, Qt's painting); glibc keeps what they freed, and the window's resident memory crept
    up 7 % over a 30-minute soak with the Python heap flat. Called every TRIM_PERIOD_S:
    under a millisecond each time. Nothing without glibc (platform_support).
    """
    trim_heap()


class MainThreadGarbageCollector(QObject):
    """While started, automatic collection is off and a GUI-thread timer collects instead,
    paced as loadgen/_gc_policy.py says (Python's thresholds, and at least every 5 s)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setInterval(COLLECT_PERIOD_MS)
        self._timer.timeout.connect(self.collect)
        self._was_enabled = gc.isenabled()
        self._trimmed = time.monotonic()
        self._pacer = GcPacer()

    def start(self) -> None:
        keep_large_blocks_out_of_the_heap()
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.collect()  # on this thread, before automatic collection may run anywhere again
        if self._was_enabled:
            gc.enable()

    def collect(self) -> None:
        self._pacer.tick()
        now = time.monotonic()
        if now - self._trimmed >= TRIM_PERIOD_S:
            self._trimmed = now
            release_free_memory()
