"""`BaseLoadGenerator`: what the closed and the open loop share.

Both send one scenario request over and over through a `RequestSender`, push each record
to a sink, count what they sent and what is in flight, own every task they start, and
stop the same way: no new requests, a grace period for those in flight, then
cancellation, and a bug in a request (not a network error: the sender records those)
raised from `stop()`. They differ only in *when* a request starts: when a user's previous
answer comes back (`LoadGenerator`) or on a schedule (`OpenLoopGenerator`).

Nothing here runs per request: the subclasses' send loops touch only instance attributes,
which cost the same wherever the class that sets them is defined.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._records import AnyRequest, RequestRecord
from ._sender import RequestSender

RecordSink = Callable[[RequestRecord], None]

# How long requests in flight may finish when `stop()` is given no grace period.
DEFAULT_GRACE_S = 2.0


@dataclass(frozen=True, slots=True)
class Drain:
    """How a load ended: the drain's length, when it was cut, and the intended starts
    (perf_counter) of the requests it cut off, unanswered or never sent."""

    duration_s: float
    cut_at: float
    censored_since: tuple[float, ...] = ()


class BaseLoadGenerator:
    """One scenario's load through one sender; subclasses decide when requests start.

    A subclass starts its tasks with `_own()` (or, on a per-request path, adds them to
    `_tasks` with `_task_done` as their done callback itself), keeps `sent` and
    `in_flight` up to date, and implements `_stop_starting()`.

    Callers read, and only the generator writes:
    running: between `start()` and `stop()`.
    in_flight: requests sent and not yet answered.
    sent: requests sent since the generator was made.
    abandoned: requests `stop()` cut off in flight (no record: they never ended on their own).
    """

    def __init__(self, sender: RequestSender, sink: RecordSink, request: AnyRequest) -> None:
        self._sender = sender
        self._sink = sink
        self._request = request
        self.running = False
        self._deadline = 0.0  # perf_counter time after which no request starts
        self.in_flight = 0
        self.sent = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self.abandoned = 0
        # Intended start of each request in flight, by a key of the subclass's (user, slot):
        # what a drain that runs out of time reports as censored.
        self._since: dict[int, float] = {}
        # True when requests in flight were counted as abandoned already (a cut).
        self._abandoned_counted = False

    @property
    def request(self) -> AnyRequest:
        return self._request

    @property
    def scenario(self) -> str:
        return self._request.scenario

    def set_request(self, request: AnyRequest) -> None:
        """Change what is asked for (e.g. the delay slider); applies to the next request."""
        if request.scenario != self._request.scenario:
            raise ValueError("a generator keeps its scenario; make another generator instead")
        self._request = request

    def _begin(self, max_duration_s: float) -> float:
        """Mark the generator running until `max_duration_s` from now; returns now."""
        if self.running:
            raise RuntimeError("the generator is already running")
        now = time.perf_counter()
        self.running = True
        self._deadline = now + max_duration_s
        return now

    def _own(self, task: asyncio.Task[None]) -> asyncio.Task[None]:
        """Keep `task` until it ends (so `stop()` can end it) and watch it for a bug."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved here, so never "never retrieved"
        if exc is not None and self._failure is None:
            self._failure = exc
            self._failed()

    def _failed(self) -> None:
        """Called at the first bug in a task; the failure is raised by `stop()` either way."""

    async def _stop_starting(self, grace_s: float) -> None:
        """Start no more requests (`running` is already False); at most `grace_s`."""
        raise NotImplementedError

    def _end_schedule(self, until: float) -> None:
        """Start nothing intended at or after `until` (perf_counter); owed ones still go."""
        raise NotImplementedError

    def _done_starting(self) -> bool:
        """Nothing more will start (after `_end_schedule`)."""
        return True

    def _owed_starts(self) -> list[float]:
        """Intended starts owed before the schedule's end and not yet sent."""
        return []

    async def drain(self, *, until: float, limit_s: float) -> Drain:
        """End the load as a measurement should: nothing intended from `until` on starts,
        what was owed before it is still sent, and every answer is awaited, for at most
        `limit_s`; then stop. Returns how long it took and what was cut off (censored):
        each censored request's latency is at least the cut time minus its intended start.
        """
        started = time.perf_counter()
        self._end_schedule(until)
        deadline = started + max(0.0, limit_s)
        while not (self._done_starting() and not self._tasks) and self.running:
            now = time.perf_counter()
            if now >= deadline:
                break
            # A poll, bounded by the limit: answers arrive through the sender, not here.
            await asyncio.sleep(min(0.02, deadline - now))
        cut_at = time.perf_counter()
        censored = sorted([*self._since.values(), *self._owed_starts()])
        await self.stop(grace_s=0)
        return Drain(duration_s=cut_at - started, cut_at=cut_at, censored_since=tuple(censored))

    async def stop(self, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Stop starting requests; those in flight get `grace_s` to finish, then are cancelled.

        Raises the first exception a request or user task raised (a bug: network errors
        are records), after everything has ended.
        """
        self.running = False
        await self._stop_starting(grace_s)
        tasks = list(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_s)
            # Counted before the cut, so that a frozen server shows up as unanswered
            # requests instead of none at all.
            if not self._abandoned_counted:
                self.abandoned += self.in_flight
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._abandoned_counted = False
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    async def aclose(self, *, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Stop, then close the sender's connections (even when stopping raised)."""
        try:
            await self.stop(grace_s=grace_s)
        finally:
            await self._sender.aclose()
