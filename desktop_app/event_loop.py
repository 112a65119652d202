"""`LabEventLoop`: qasync's Qt event loop, with asyncio's own scheduling of callbacks.

qasync runs every `call_soon` and every `call_later` as a Qt timer of its own: one
`startTimer`/`killTimer` pair and one timer event per callback, and a cancelled
`call_later` stays in Qt's timer list until it would have fired. At 1000 users that is
some 20 000 callbacks a second, and every request's 60 s read timeout (aiohttp
reschedules it on each response) left a dead Qt timer behind for a minute: tens of
thousands of them in a list Qt keeps sorted by insertion. This queue, not the server or
the generator, was where the window's loop spent most of its time (py-spy, 1000 users).

Here callbacks wait in asyncio's own structures instead: a ready queue, run in batches by
one zero-interval Qt timer, and a heap of timer handles (cancelled ones purged as asyncio
does), woken by one precise Qt timer set to the earliest deadline. Between two batches Qt
handles its own events (input, painting, socket notifiers), so the window stays as
responsive as before; callbacks run in the same order asyncio would run them.

The private names of qasync and asyncio this takes part in live in _compat.py, with their check.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import deque
from collections.abc import Callable
from contextvars import Context
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer

from ._compat import HookedQEventLoop, is_scheduled, run_handle, set_scheduled

# asyncio's own figures (base_events): purge cancelled timers when they are this many and
# more than this share of the heap.
_MIN_SCHEDULED_TIMER_HANDLES = 100
_MIN_CANCELLED_TIMER_HANDLES_FRACTION = 0.5
# Longest wait handed to one Qt timer (ms): QTimer takes an int, and a deadline far away is
# simply re-armed when it wakes.
_MAX_TIMER_MS = 24 * 3600 * 1000


class _Pump(QObject):
    """The two Qt timers that drive the queue: one for ready callbacks, one for deadlines."""

    def __init__(self, run: Callable[[], None]) -> None:
        super().__init__()
        self.soon = QTimer(self)
        self.soon.setSingleShot(True)
        self.soon.setInterval(0)
        self.soon.timeout.connect(run)
        self.deadline = QTimer(self)
        self.deadline.setSingleShot(True)
        self.deadline.setTimerType(Qt.TimerType.PreciseTimer)
        self.deadline.timeout.connect(run)


class LabEventLoop(HookedQEventLoop):
    """qasync's loop for the window; `call_soon`/`call_later` scheduled as asyncio does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lab_ready: deque[asyncio.Handle] = deque()
        self._lab_timers: list[asyncio.TimerHandle] = []
        self._lab_cancelled = 0
        self._lab_pump = _Pump(self._lab_run_once)
        # Wake this much before a deadline at most: Qt's timers count whole milliseconds.
        self._lab_resolution = 0.001

    # Scheduling (asyncio's BaseEventLoop, minus its debug-mode checks).

    def call_soon(
        self, callback: Callable[..., object], *args: Any, context: Context | None = None
    ) -> asyncio.Handle:
        self._lab_check_open()
        handle = asyncio.Handle(callback, args, self, context)
        self._lab_ready.append(handle)
        if not self._lab_pump.soon.isActive():
            self._lab_pump.soon.start()
        return handle

    def _lab_check_open(self) -> None:
        if self.is_closed():  # as asyncio's BaseEventLoop says it
            raise RuntimeError("Event loop is closed")

    def _lab_call_soon_from_thread(
        self, callback: Callable[..., object], args: tuple[Any, ...]
    ) -> None:
        # qasync hands `call_soon_threadsafe`'s callbacks to this thread by a queued Qt
        # signal. A thread can finish after the loop closed (a `def` route still sleeping
        # when the window closes: anyio then reports its result), and `call_soon` raised
        # into Qt's event handler. asyncio drops what a closed loop still had pending; so
        # does this slot.
        if not self.is_closed():
            self.call_soon(callback, *args)

    def call_later(
        self,
        delay: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        return self.call_at(self.time() + delay, callback, *args, context=context)

    def call_at(
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        self._lab_check_open()
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        heapq.heappush(self._lab_timers, handle)
        set_scheduled(handle, True)
        if self._lab_timers[0] is handle:
            self._lab_arm()
        return handle

    def _lab_timer_cancelled(self, handle: asyncio.TimerHandle) -> None:
        if is_scheduled(handle):
            self._lab_cancelled += 1

    def _lab_add_callback(self, handle: asyncio.Handle, delay: float) -> asyncio.Handle:
        # qasync's internal entry point; everything it schedules comes through call_soon.
        if delay > 0:
            return self.call_later(delay, run_handle, handle)
        self._lab_ready.append(handle)
        if not self._lab_pump.soon.isActive():
            self._lab_pump.soon.start()
        return handle

    def close(self) -> None:
        if not self.is_closed():
            self._lab_pump.soon.stop()
            self._lab_pump.deadline.stop()
            self._lab_ready.clear()
            self._lab_timers.clear()
        super().close()

    # Running.

    def _lab_arm(self) -> None:
        """Set the deadline timer to the earliest scheduled handle (none: stopped)."""
        timers = self._lab_timers
        if not timers:
            self._lab_pump.deadline.stop()
            return
        wait_ms = math.ceil(max(0.0, timers[0].when() - self.time()) * 1000)
        self._lab_pump.deadline.start(min(wait_ms, _MAX_TIMER_MS))

    def _lab_purge_cancelled(self) -> None:
        timers = self._lab_timers
        if (
            len(timers) > _MIN_SCHEDULED_TIMER_HANDLES
            and self._lab_cancelled / len(timers) > _MIN_CANCELLED_TIMER_HANDLES_FRACTION
        ):
            kept = []
            for handle in timers:
                if handle.cancelled():
                    set_scheduled(handle, False)
                else:
                    kept.append(handle)
            heapq.heapify(kept)
            self._lab_timers = kept
            self._lab_cancelled = 0
            return
        while timers and timers[0].cancelled():
            self._lab_cancelled -= 1
            handle = heapq.heappop(timers)
            set_scheduled(handle, False)

    def _lab_run_once(self) -> None:
        """One pass, as asyncio's own loop makes it: due timers join the ready queue, then the
        callbacks ready now run (those they schedule wait for the next pass)."""
        self._lab_purge_cancelled()
        timers = self._lab_timers
        ready = self._lab_ready
        end = self.time() + self._lab_resolution
        while timers and timers[0].when() <= end:
            handle = heapq.heappop(timers)
            set_scheduled(handle, False)
            if handle.cancelled():
                self._lab_cancelled -= 1
            else:
                ready.append(handle)
        for _ in range(len(ready)):
            if not ready:  # a callback ran a nested Qt loop, which ran the rest
                break
            callback = ready.popleft()
            if not callback.cancelled():
                run_handle(callback)
        if ready and not self._lab_pump.soon.isActive():
            self._lab_pump.soon.start()
        self._lab_arm()
