"""`OpenLoopGenerator`: requests start on a schedule of their own, not when answers come back.

Request i is *intended* to start when the integral of the rate since `start()` reaches i:
with a constant rate R that is t0 + i/R (wrk2's constant-throughput schedule), and
`set_rate` changes the slope from that moment on without losing the phase. Every record
carries its intended start, so the recorder counts latency from it (corrected for
coordinated omission) as well as from the actual send (uncorrected).

At most `max_in_flight` requests are in flight: like wrk2's connections, a request that
finds them all busy *waits* for one and starts late (it is never silently dropped), and
its latency still counts from the intended start. That bound is what keeps a stalled
server from making the client explode (tasks, sockets, memory); the waiting requests
themselves cost nothing, they are only the gap between `_next_index` and the schedule.
It is also the very mechanism of coordinated omission: a tool that measured from the
actual send would hide that wait, which is what `latency_uncorrected` shows.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections import deque
from dataclasses import dataclass, replace

from ._generator_base import BaseLoadGenerator, RecordSink
from ._records import AnyRequest, RequestRecord
from ._sender import RequestSender

# The hard bound on requests in flight, whatever the caller asks.
MAX_IN_FLIGHT = 10_000
MAX_RATE = 100_000.0
# A request counts as a late start when it starts more than this after its intended time.
# 10 ms is ten times the event loop's timer resolution, so scheduling noise never counts,
# yet small beside the delays the lessons use (≥ 50 ms): a late start means something
# (every connection busy, or the client's own loop stalled) and the run should say so.
LATE_THRESHOLD_S = 0.010
# Fewest connections `connections_for` gives: one httpx client's worth (HttpxSender).
MIN_AUTO_CONNECTIONS = 10

# Starts per dispatcher turn before it yields to the loop: catching up on a backlog must
# not starve the requests just started (or the embedded server on the same loop).
_BATCH = 256
# Rate changes remembered while a backlog still lies before them (see `set_rate`).
_MAX_SEGMENTS = 1024
# Owed starts a drain lists one by one when it is cut off.
_MAX_LISTED_OWED = 100_000
# set_rate and a freed connection wake the dispatcher; so does this, as a safety net.
_MAX_PAUSE_S = 1.0


def connections_for(rate: float, service_time_s: float) -> int:
    """Connections for `rate` if the server takes `service_time_s`: twice Little's law.

    In flight = rate × time in the system; twice that absorbs jitter while the server
    keeps up. When it does not, the connections fill, starts slip and are counted late,
    and the corrected latency tells the truth: the same trade-off as sizing wrk2's -c.
    """
    wanted = math.ceil(2 * rate * max(service_time_s, 0.01))
    return max(MIN_AUTO_CONNECTIONS, min(MAX_IN_FLIGHT, wanted))


@dataclass(frozen=True, kw_only=True, slots=True)
class OpenLoopLimits:
    """Bounds on the open loop, whatever the caller asks.

    max_rate: requests per second.
    max_in_flight: the highest `max_in_flight` a caller may set.
    max_requests: requests started over the generator's life.
    max_duration_s: seconds from `start()` after which no request starts.
    """

    max_rate: float = MAX_RATE
    max_in_flight: int = MAX_IN_FLIGHT
    max_requests: int = 50_000_000
    max_duration_s: float = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class ScheduleStats:
    """How well the generator kept its schedule (counts since `start()`).

    due: intended starts whose time has come. started: requests sent.
    late: started more than the late threshold after their intended time; late_pool_full
    of them waited for a free connection (answers came back slower than the rate needs:
    the server, or a saturated client), the rest were late because the client's own loop
    was (the generator, not the server, was the limit).
    skipped: intended starts given up (only after very many rate changes over a backlog).
    """

    due: int = 0
    started: int = 0
    late: int = 0
    late_pool_full: int = 0
    skipped: int = 0

    @property
    def late_loop(self) -> int:
        return self.late - self.late_pool_full

    @property
    def backlog(self) -> int:
        """Intended starts overdue and still waiting for a connection."""
        return max(0, self.due - self.started - self.skipped)

    def since(self, earlier: ScheduleStats) -> ScheduleStats:
        """The counts between `earlier` and this (e.g. over a measured interval)."""
        return ScheduleStats(
            due=self.due - earlier.due,
            started=self.started - earlier.started,
            late=self.late - earlier.late,
            late_pool_full=self.late_pool_full - earlier.late_pool_full,
            skipped=self.skipped - earlier.skipped,
        )


@dataclass(frozen=True, slots=True)
class _Segment:
    """From t0 on the rate is `rate`; `phase0` requests were intended before t0."""

    t0: float
    rate: float
    phase0: float


class OpenLoopGenerator(BaseLoadGenerator):
    """Open-loop load: requests start at `rate` per second whatever the answers do.

    `set_rate` changes the rate live (0 pauses). Each request in flight holds a slot
    (0, 1, 2, ...; the lowest free one), passed to the sender as its user, so
    `HttpxSender` keeps one pooled connection per slot. Records go to `sink`
    as each response completes, with `intended_start` set. Every task is owned here and
    ended by `stop()`; a bug in one request stops the generator and `stop()` raises it.
    """

    def __init__(
        self,
        sender: RequestSender,
        sink: RecordSink,
        request: AnyRequest,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        limits: OpenLoopLimits | None = None,
        late_threshold_s: float = LATE_THRESHOLD_S,
    ) -> None:
        super().__init__(sender, sink, request)
        self._limits = limits or OpenLoopLimits()
        self._late_threshold_s = late_threshold_s
        self._check_max_in_flight(max_in_flight)
        self._max_in_flight = max_in_flight
        self._rate = 0.0
        self._segments: deque[_Segment] = deque()
        self._next_index = 0  # the next intended start not yet dispatched
        self._skipped = 0
        self._late = 0
        self._late_pool_full = 0
        self._free_slots: list[int] = []  # a heap: the lowest free slot goes first
        self.slots = 0  # distinct slots (connections) used so far; read by callers
        # Since when the dispatcher has been behind schedule with every connection busy.
        self._pool_full_since: float | None = None
        self._waiting_for_slot = False
        self._waiter: asyncio.Future[None] | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        # After `drain()` ends the schedule: nothing intended from here on starts.
        self._schedule_end = math.inf

    @property
    def rate(self) -> float:
        """Requests per second asked for."""
        return self._rate

    @property
    def max_in_flight(self) -> int:
        return self._max_in_flight

    def _check_max_in_flight(self, value: int) -> None:
        if not 1 <= value <= self._limits.max_in_flight:
            raise ValueError(
                f"max in flight must be between 1 and {self._limits.max_in_flight}, got {value}"
            )

    def set_max_in_flight(self, value: int) -> None:
        """Change the connections bound live; requests over a lower bound finish first."""
        self._check_max_in_flight(value)
        self._max_in_flight = value
        self._wake()

    def start(self, rate: float) -> None:
        """Start the schedule now: the first request is intended at once."""
        if self.running:
            raise RuntimeError("the generator is already running")
        self._check_rate(rate)
        now = self._begin(self._limits.max_duration_s)
        self._rate = rate
        self._segments.append(_Segment(now, rate, 0.0))
        self._dispatcher = asyncio.get_running_loop().create_task(
            self._dispatch(), name=f"loopscope-open-loop-{self.scenario}"
        )

    def _check_rate(self, rate: float) -> None:
        if math.isnan(rate) or not 0 <= rate <= self._limits.max_rate:
            raise ValueError(f"rate must be between 0 and {self._limits.max_rate:g}, got {rate}")

    def set_rate(self, rate: float) -> None:
        """Change requests per second from now on; 0 pauses.

        Requests already overdue keep their intended times (they are still owed); the
        schedule after now follows the new rate, so a faster rate applies at once even
        if the next start was far away at the old one.
        """
        self._check_rate(rate)
        self._rate = rate
        if not self.running:
            return
        now = time.perf_counter()
        self._segments.append(_Segment(now, rate, self._phase_at(now)))
        self._prune_segments()
        if len(self._segments) > _MAX_SEGMENTS:
            # Only a long backlog (a stalled server) keeps old segments alive; after this
            # many rate changes over it, give the backlog up (counted) to stay bounded.
            owed = max(self._next_index, math.floor(self._phase_at(now)) + 1)
            self._skipped += owed - self._next_index
            self._next_index = owed
            self._prune_segments()
        self._wake()

    def stats(self) -> ScheduleStats:
        """Schedule keeping since `start()`, as of now."""
        due, now = self._next_index, time.perf_counter()
        if self.running and self._time_of(self._next_index) <= now:
            # Overdue and not started yet: every index whose time has come (phase i at t_i).
            due = max(due, math.floor(self._phase_at(now)) + 1)
        return ScheduleStats(
            due=min(due, self._limits.max_requests),
            started=self.sent,
            late=self._late,
            late_pool_full=self._late_pool_full,
            skipped=self._skipped,
        )

    # The schedule ---------------------------------------------------------------------

    def _phase_at(self, t: float) -> float:
        """Requests intended before time t (t at or after the last rate change)."""
        last = self._segments[-1]
        return last.phase0 + max(0.0, t - last.t0) * last.rate

    def _time_of(self, index: int) -> float:
        """When request `index` is intended; inf while paused."""
        segments = self._segments
        for k, segment in enumerate(segments):
            if k + 1 < len(segments) and segments[k + 1].phase0 <= index:
                continue
            if segment.rate <= 0:
                return math.inf
            return segment.t0 + (index - segment.phase0) / segment.rate
        return math.inf

    def _prune_segments(self) -> None:
        while len(self._segments) > 1 and self._segments[1].phase0 <= self._next_index:
            self._segments.popleft()

    # The dispatcher ---------------------------------------------------------------------

    async def _dispatch(self) -> None:
        limits = self._limits
        while self.running and self.sent < limits.max_requests:
            now = time.perf_counter()
            if now >= self._deadline:
                break
            intended = self._time_of(self._next_index)
            if self._past_schedule(intended):
                break  # a drain: everything owed has started
            if intended > now:
                self._pool_full_since = None
                await self._pause(min(intended, self._deadline) - now)
                continue
            if self.in_flight >= self._max_in_flight:
                if self._pool_full_since is None:
                    self._pool_full_since = now
                self._waiting_for_slot = True
                try:
                    await self._pause(self._deadline - now)  # a finished request wakes us
                finally:
                    self._waiting_for_slot = False
                continue
            # Start what is due and fits, then yield: a bounded batch per turn.
            for _ in range(_BATCH):
                self._start_one(intended)
                if self.sent >= limits.max_requests or self.in_flight >= self._max_in_flight:
                    break
                intended = self._time_of(self._next_index)
                if intended > now or self._past_schedule(intended):
                    break
            self._prune_segments()
            await asyncio.sleep(0)

    async def _pause(self, timeout_s: float) -> None:
        """Sleep up to timeout_s; `_wake()` ends it early."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        handle = loop.call_later(min(max(0.0, timeout_s), _MAX_PAUSE_S), _resolve, waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)

    def _start_one(self, intended: float) -> None:
        slot = heapq.heappop(self._free_slots) if self._free_slots else self._new_slot()
        # Judged here, with the schedule's other counts, so that late <= started <= due
        # over any interval. A loop stalled between here and the send (e.g. by a blocking
        # route on the same loop) delays the next dispatch too, so it is still seen.
        if time.perf_counter() - intended > self._late_threshold_s:
            self._late += 1
            if self._pool_full_since is not None:
                self._late_pool_full += 1
        self._since[slot] = intended
        self._next_index += 1
        self.sent += 1
        self.in_flight += 1
        task = asyncio.get_running_loop().create_task(
            self._send(self._request, slot, intended),
            name=f"loopscope-open-{self.scenario}-{slot}",
        )
        # What `_own()` does, inline: this runs once per request.
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _new_slot(self) -> int:
        self.slots += 1
        return self.slots - 1

    async def _send(self, request: AnyRequest, slot: int, intended: float) -> None:
        try:
            record: RequestRecord = await self._sender.send(request, user=slot)
        finally:
            self.in_flight -= 1
            del self._since[slot]
            heapq.heappush(self._free_slots, slot)
            if self._waiting_for_slot:
                self._wake()
        self._sink(replace(record, intended_start=intended))

    def _past_schedule(self, intended: float) -> bool:
        # Paused (intended at inf) is not past a schedule that has no end.
        return self._schedule_end < math.inf and intended >= self._schedule_end

    def _end_schedule(self, until: float) -> None:
        self._schedule_end = until
        self._wake()

    def _done_starting(self) -> bool:
        return self._dispatcher is None or self._dispatcher.done()

    def _owed_starts(self) -> list[float]:
        if not self._segments or math.isinf(self._schedule_end):
            return []
        # Intended before the schedule's end: indices below its phase there.
        end_phase = self._phase_at(self._schedule_end)
        owed = min(math.ceil(end_phase), self._limits.max_requests) - self._next_index
        # Past this many, the rest are given the schedule's end as their intended start:
        # later than their own, so the latency it gives them is still a lower bound.
        listed = max(0, min(owed, _MAX_LISTED_OWED))
        times = [self._time_of(self._next_index + k) for k in range(listed)]
        return times + [self._schedule_end] * max(0, owed - listed)

    def _failed(self) -> None:
        # A bug, not a network error (the sender turns those into records): every request
        # would hit it again, at the rate, so stop starting them; stop() raises it.
        self.running = False
        self._wake()

    async def _stop_starting(self, grace_s: float) -> None:
        self._wake()
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            try:
                await asyncio.wait_for(dispatcher, timeout=grace_s)
            except TimeoutError:
                pass  # wait_for cancelled it


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
