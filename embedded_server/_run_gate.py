"""`RunGate`: the demo app's scenario requests, numbered by the load run they arrived in, so
that a stopped run's requests that have not begun their work leave at once."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection

from starlette.types import Send

from ._phases import PhaseSlot


class _Entry:
    __slots__ = ("abandoned", "run", "slot", "task")

    def __init__(self, task: asyncio.Task[object], slot: PhaseSlot, run: int) -> None:
        self.task = task
        self.slot = slot
        self.run = run
        self.abandoned = False


class RunGate:
    """The requests in flight on the scenario routes, each with the run it arrived in.

    Why: when the app stops its load, the generator abandons its requests, but the server
    keeps them. A `def` route's requests queue for a thread token, and would each take
    their thread in turn for nobody (1000 users at 100 ms on 10 threads: 10 s of work
    for a closed connection), sharing the pool with the next run's. uvicorn does not
    cancel a request whose client went away (the app only learns it by reading
    `receive()`, a watcher per request), so the app says so itself: `close()` cancels
    every request that has not begun its work (waiting for a thread token, or for its
    turn on the loop) and the middleware answers it 503. A request whose handler runs
    is not interrupted (a thread cannot be, and a handler on the loop holds it): it
    finishes, and `draining()` counts it until then.

    `open()` starts a new run; `draining()` counts the requests still in flight from the
    runs before it, for the app to say that its new run shares the server with them.
    """

    def __init__(self, holds_thread: Callable[[], Collection[object]]) -> None:
        # The tasks that hold a thread token now: their handler has a thread (it may not
        # have marked its start yet), so it is running.
        self._holds_thread = holds_thread
        self._entries: set[_Entry] = set()
        self._run = 0

    @property
    def run(self) -> int:
        """The current run's number (counts `open()` calls)."""
        return self._run

    def enter(self, task: asyncio.Task[object], slot: PhaseSlot) -> _Entry:
        entry = _Entry(task, slot, self._run)
        self._entries.add(entry)
        return entry

    def leave(self, entry: _Entry) -> None:
        self._entries.discard(entry)

    def open(self) -> None:
        """A new run begins: the requests in flight now are the earlier runs'."""
        self._run += 1

    def close(self) -> int:
        """Cancel every request in flight that has not begun its work; returns how many."""
        holding = set(self._holds_thread())
        cancelled = 0
        for entry in list(self._entries):
            if entry.abandoned or not math.isnan(entry.slot.started):
                continue
            if entry.task in holding:
                continue
            entry.abandoned = True
            entry.task.cancel()
            cancelled += 1
        return cancelled

    def draining(self) -> int:
        """Requests in flight that arrived before the current run began (those cancelled
        and not yet gone not counted: they leave in the loop's next pass)."""
        return sum(1 for entry in self._entries if entry.run < self._run and not entry.abandoned)


async def answer_not_run(send: Send, body: bytes, *, close: bool = False) -> None:
    """Answer 503 for a request the load no longer wants, without running it; `close`
    also asks the client to drop the connection."""
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
