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

import ctypes
import gc
import sys
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from loopscope.loadgen import GcPacer

# Look this often (ms) whether a generation is due (GcPacer decides which).
COLLECT_PERIOD_MS = 500
# Give freed C-heap pages back at least this often (s), whatever was collected: with the
# young threshold of loadgen/_gc_policy.py, full collections come minutes apart.
TRIM_PERIOD_S = 60.0


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    return trim


_MALLOC_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Give the C heap's free pages back to the system (glibc's malloc_trim).

    A long session churns through short-lived C allocations in many threads (the thread
    pool, Qt's painting); glibc keeps what they freed, and the window's resident memory crept
    up 7 % over a 30-minute soak with the Python heap flat. Called once a minute
    (TRIM_PERIOD_S): a few milliseconds each time.
    """
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


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
