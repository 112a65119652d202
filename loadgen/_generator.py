"""`LoadGenerator`: a closed loop of users whose number changes live."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from ._generator_base import BaseLoadGenerator, RecordSink
from ._records import ERROR_CONNECT, ERROR_OTHER, ERROR_PROTOCOL, AnyRequest, RequestRecord
from ._sender import RequestSender

__all__ = ["MAX_USERS", "GeneratorLimits", "LoadGenerator", "RecordSink"]

MAX_USERS = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class GeneratorLimits:
    """Bounds on every load loop, whatever the caller asks.

    max_users: the concurrency slider's top.
    max_requests: requests sent over the generator's life.
    max_duration_s: seconds from `start()` after which users stop on their own.
    """

    max_users: int = MAX_USERS
    max_requests: int = 50_000_000
    max_duration_s: float = 4 * 3600.0


class LoadGenerator(BaseLoadGenerator):
    """Closed-loop load: each user sends a request, waits for the answer, and repeats.

    `set_concurrency` adds users at once; removed users finish their request first.
    Records go to `sink` as each response completes. Every user task is owned here and
    ended by `stop()`; a user that hits a bug ends alone (the others go on) and `stop()`
    raises the bug.
    """

    # A user whose request failed below HTTP (no connection, or one the server dropped
    # without an answer) waits this long before trying again, so a dead server, or one
    # that accepts and drops every connection, does not turn the generator into a busy
    # loop. An HTTP error status is an answer: it is sent again at once.
    _CONNECTION_FAILURE_BACKOFF_S = 0.05
    _CONNECTION_FAILURES = frozenset({ERROR_CONNECT, ERROR_PROTOCOL, ERROR_OTHER})

    def __init__(
        self,
        sender: RequestSender,
        sink: RecordSink,
        request: AnyRequest,
        *,
        limits: GeneratorLimits | None = None,
        ramp_s: float = 0.0,
    ) -> None:
        super().__init__(sender, sink, request)
        # New users start spread over ramp_s instead of all at once: users started together
        # stay in lock-step (all answered at once, every delay), and counts per window then
        # jump by a whole batch depending on where the window edges fall.
        self._ramp_s = ramp_s
        self._limits = limits or GeneratorLimits()
        self._target = 0
        self._users: dict[int, asyncio.Task[None]] = {}  # by user index, for set_concurrency
        # A bug the sink raised on a user's record, for that user to end with (`_record`).
        self._sink_failures: dict[int, Exception] = {}

    @property
    def concurrency(self) -> int:
        """Users asked for."""
        return self._target

    @property
    def active_users(self) -> int:
        """User tasks alive, including removed ones still finishing a request."""
        return sum(1 for task in self._users.values() if not task.done())

    def start(self, concurrency: int) -> None:
        self._begin(self._limits.max_duration_s)
        self._sink_failures.clear()
        self.set_concurrency(concurrency)

    def set_concurrency(self, users: int) -> None:
        if not 0 <= users <= self._limits.max_users:
            raise ValueError(f"users must be between 0 and {self._limits.max_users}, got {users}")
        self._target = users
        if not self.running:
            return
        loop = asyncio.get_running_loop()
        for index in range(users):
            task = self._users.get(index)
            if task is None or task.done():
                self._users[index] = self._own(
                    loop.create_task(
                        self._user(index), name=f"loopscope-user-{self.scenario}-{index}"
                    )
                )

    async def _user(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        if self._ramp_s > 0:
            # Golden-ratio spread: evenly covers the ramp for any number of users.
            await asyncio.sleep(self._ramp_s * ((index * 0.6180339887) % 1.0))
        while (
            self.running
            and index < self._target
            and self.sent < self._limits.max_requests
            and time.perf_counter() < self._deadline
        ):
            self.sent += 1
            self.in_flight += 1
            self._since[index] = time.perf_counter()
            try:
                record = await self._sender.send(self._request, user=index)
            finally:
                self.in_flight -= 1
                del self._since[index]
            failure = self._sink_failures.pop(index, None)
            if failure is not None:  # the sink failed on this user's previous record
                raise failure
            # Recorded once this user's next request is out, not before it: the record is
            # complete (its times were taken at send and answer), and the recorder's ~20 µs
            # then run while the server works instead of delaying the next request. On one
            # connection that bookkeeping was on every round trip's critical path, where wrk
            # has none. Callbacks run in order, and before anything awaiting the users.
            loop.call_soon(self._record, index, record)
            if record.error in self._CONNECTION_FAILURES:
                await asyncio.sleep(self._CONNECTION_FAILURE_BACKOFF_S)

    def _record(self, index: int, record: RequestRecord) -> None:
        try:
            self._sink(record)
        except Exception as exc:  # a bug: raised by stop(); the user ends at its next answer
            if self._failure is None:
                self._failure = exc
                self._failed()
            self._sink_failures[index] = exc

    def _end_schedule(self, until: float) -> None:
        # A closed loop owes nothing: its users stop sending; their requests in flight end.
        self._target = 0

    def cut(self) -> None:
        """Stop at once, from synchronous code (a Stop click): no user sends again, and
        every request in flight is cancelled now (counted as abandoned), which closes its
        connection. `stop()` still has to be awaited; it then only waits for the users to
        end."""
        self.running = False
        self._target = 0
        if not self._abandoned_counted:
            self.abandoned += self.in_flight
            self._abandoned_counted = True
        for task in list(self._users.values()):
            task.cancel()
        self._users.clear()

    async def _stop_starting(self, grace_s: float) -> None:
        # Users see the target drop to 0 and leave after their request in flight.
        self._target = 0
        self._users.clear()
