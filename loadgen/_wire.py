"""`WireLog`: the client's own send and receive times of its last requests, by request id,
for the timeline's "on the wire" stretches.

The embedded server's phase table knows when a request reached its route and when the
answer was sent; only the client knows when it sent the request and when it had read the
answer. A sender given a `WireLog` numbers each request, sends the number in the
`x-loopscope-req` header (the server keeps it in the request's phase slot) and writes its
two times here; the timeline joins the two by that number. Both sides read the same
`perf_counter` clock: the server is embedded in the same process.

Cost per request: two slots of preallocated arrays written, and one short header; no
allocation that grows. The ring forgets a request `size` requests later: the timeline
then draws it without its wire stretches, as it draws a request from a client without
a log.
"""

from __future__ import annotations

import math
from array import array
from contextvars import ContextVar

#: Requests remembered: the timeline's 5 s at ~6500 requests/s, more than this machine's
#: shared loop serves (~2.6 k/s).
WIRE_LOG_SIZE = 1 << 15

#: The id of the request the running task is sending, from `HttpxSender.send` down to the
#: transport that writes it as a header: httpx's `send` takes no per-request extras, and
#: the built `httpx.Request` is shared by every user, so it cannot carry one. Each user is
#: its own task, so each has its own value.
WIRE_ID: ContextVar[int | None] = ContextVar("loopscope_wire_id", default=None)


class WireLog:
    """Send and receive times (`perf_counter` s) of the last `size` requests, by id."""

    def __init__(self, size: int = WIRE_LOG_SIZE) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._size = size
        self._ids = array("q", [-1]) * size
        self._sent = array("d", [math.nan]) * size
        self._received = array("d", [math.nan]) * size
        self._status = array("q", [0]) * size
        self._next = 0

    def sent(self, at: float) -> int:
        """A new request, sent at `at`: its id (0, 1, 2, ...)."""
        request_id = self._next
        self._next = request_id + 1
        index = request_id % self._size
        self._ids[index] = request_id
        self._sent[index] = at
        self._received[index] = math.nan
        self._status[index] = 0
        return request_id

    def received(self, request_id: int, at: float, status: int = 0) -> None:
        """The client had the whole answer to `request_id` (or gave up on it) at `at`;
        status: the answer's HTTP status, 0 when there was none (an error, a Stop)."""
        index = request_id % self._size
        if self._ids[index] == request_id:
            self._received[index] = at
            self._status[index] = status

    def status(self, request_id: int) -> int:
        """The HTTP status of the answer to `request_id`; 0 when none (yet), or not known."""
        index = request_id % self._size
        if request_id < 0 or self._ids[index] != request_id:
            return 0
        return self._status[index]

    def times(self, request_id: int) -> tuple[float, float] | None:
        """(sent, received; NaN while in flight) of `request_id`, None when not known
        (no such id, or forgotten)."""
        if request_id < 0:
            return None
        index = request_id % self._size
        if self._ids[index] != request_id:
            return None
        return self._sent[index], self._received[index]
