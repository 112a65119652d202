"""`BlockingTurnstile`: the blocking route's requests hold the loop one at a time, with a
pass of the loop between two of them, and a stopped run's queued requests leave at once."""

from __future__ import annotations

import asyncio
from collections import deque

# The wait between two blocking requests (acquire(): why); at least 1 ms, qasync's timer
# resolution.
_CATCH_UP_S = 0.001


class BlockingTurnstile:
    """Admits the `blocking` route's requests one at a time, in arrival order.

    Why: requests that arrive together (one poll of the sockets) would otherwise all run
    in the same pass of the loop, blocking back to back for users × delay (40 s at 20
    users × 2 s) with no I/O polled and no Qt input handled in between, so the window's
    Stop and close could not take effect. Through the turnstile each request blocks in a
    pass of its own, and the loop polls I/O and handles input before the next one starts.
    The lesson is unchanged: one request at a time, the loop frozen while each one runs.

    `close()` (the app stopping its load, or shutting down) releases every queued
    request without blocking and turns new ones away until `open()`; the server answers
    those with 503 at once.
    """

    def __init__(self) -> None:
        self._open = True
        self._busy = False
        self._waiters: deque[asyncio.Future[bool]] = deque()

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def queued(self) -> int:
        """Requests waiting for their turn (not counting the one blocking now)."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def open(self) -> None:
        """Admit requests again (the app starts a new run)."""
        self._open = True

    def close(self) -> None:
        """Release every queued request (they are not to block) and refuse new ones."""
        self._open = False
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(False)

    async def acquire(self) -> bool:
        """Wait for this request's turn. True: go ahead and block, then `release()`.
        False: the turnstile was closed meanwhile; answer at once, without blocking
        (and without `release()`)."""
        if not self._open:
            return False
        if self._busy or self._waiters:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                if not await waiter:
                    return False
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.result():
                    self.release()  # our turn came with the cancellation: pass it on
                else:
                    waiter.cancel()  # release() skips it
                raise
        else:
            self._busy = True
        # Our turn, handed over in the pass where the previous request ended. Before
        # blocking, let the loop catch up with what queued up during that freeze: poll I/O
        # (disconnects), let Qt handle input (a Stop click), and fire every timer that fell
        # due (the window's paint timers, the loop-lag probe). A timer, not a bare yield:
        # loops fire timers in deadline order, so ours comes after all of those (with a
        # bare yield the lag probe sometimes saw two requests as one 4 s freeze). 1 ms is
        # 1 % of a 100 ms request.
        try:
            await asyncio.sleep(_CATCH_UP_S)
        except asyncio.CancelledError:
            self.release()
            raise
        if not self._open:
            self.release()
            return False
        return True

    def release(self) -> None:
        """End this request's turn; the next queued request gets it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)  # stays busy: the turn is handed over
                return
        self._busy = False
