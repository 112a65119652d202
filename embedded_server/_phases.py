"""`PhaseTable`: when each request arrived, got its thread (or the loop) and finished,
for the per-request timeline.

Why a live table rather than the client's records alone: a record only exists once its
response is read, so a timeline drawn from records knows nothing about the requests in
flight *now*; at 60 users and 10 threads that is every request that matters (50 waiting,
10 working). The server sees each phase begin, in the same process and on the same
`perf_counter` clock as the window, so it keeps one small slot per request: in a live set
while it is in flight, then in a bounded ring of finished ones (so that completed
requests, the blocking lesson's strictly sequential stretches among them, are drawn
exactly, not placed by guessing how the client's latency splits into wire and server).
Cost per request: one slot object, a set add/remove and a deque append.

The client's side of each request (when it was sent, when its answer was read) is not
here: the load generator keeps it, by the request id it sends in the `x-loopscope-req`
header; a slot keeps that id (`wire_id`, -1 when the request carried none) so that the
timeline can join the two and draw the time on the wire.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

#: Finished requests kept per route: 5 s of the timeline at 1000 req/s, with room.
FINISHED_PER_ROUTE = 8192

NAN = math.nan
# Fibonacci hashing of arrival numbers: consecutive numbers spread evenly over the range,
# so a sample by "hash below a cut" takes every k-th request or so, whatever the routes'
# interleaving (a plain `seq % k` would alias with two routes taking turns).
_HASH_STEP = 0x9E3779B1
_HASH_RANGE = 1 << 32


class PhaseSlot:
    """One request's phase times (`perf_counter` seconds; NaN: not reached yet).

    arrived: the server got it; started: its handler began working (for a `def` route,
    on its thread: after waiting for a thread token; for `blocking`, after its turn on
    the loop); worked: the handler returned; done: the response was sent. wire_id: the
    id the client gave the request (its `x-loopscope-req` header), -1 when none.
    """

    __slots__ = ("arrived", "done", "seq", "started", "wire_id", "worked")

    def __init__(self, seq: int, arrived: float, wire_id: int = -1) -> None:
        self.seq = seq
        self.arrived = arrived
        self.started = NAN
        self.worked = NAN
        self.done = NAN
        self.wire_id = wire_id


@dataclass(frozen=True, slots=True)
class PhaseRow:
    """A slot's times, copied (slots change under the reader's feet while in flight)."""

    seq: int
    arrived: float
    started: float
    worked: float
    done: float
    wire_id: int = -1


class PhaseTable:
    """The phase slots of every route: in flight, and the last FINISHED_PER_ROUTE done."""

    def __init__(self, finished_per_route: int = FINISHED_PER_ROUTE) -> None:
        self._live: dict[str, dict[int, PhaseSlot]] = {}
        self._finished: dict[str, deque[PhaseSlot]] = {}
        self._keep = finished_per_route
        # Arrival order across routes: stable lane identity and sampling for the timeline.
        self._seq = itertools.count()

    def arrive(self, route: str, now: float, wire_id: int = -1) -> PhaseSlot:
        slot = PhaseSlot(next(self._seq), now, wire_id)
        live = self._live.get(route)
        if live is None:
            live = self._live[route] = {}
            self._finished[route] = deque(maxlen=self._keep)
        live[slot.seq] = slot
        return slot

    def finish(self, route: str, slot: PhaseSlot, now: float) -> None:
        slot.done = now
        self._live[route].pop(slot.seq, None)
        self._finished[route].append(slot)

    def clear(self) -> None:
        """Forget the finished requests (a Reset); those in flight stay."""
        for finished in self._finished.values():
            finished.clear()

    def routes(self) -> list[str]:
        return list(self._live)

    def counts(self, route: str) -> tuple[int, int, int]:
        """Requests of `route` in flight now: (waiting, working, answering), not copied."""
        waiting = working = answering = 0
        for slot in list(self._live.get(route, {}).values()):
            if slot.worked == slot.worked:  # not NaN: the handler returned
                answering += 1
            elif slot.started == slot.started:
                working += 1
            else:
                waiting += 1
        return waiting, working, answering

    def in_flight(self, route: str) -> list[PhaseRow]:
        return [_row(slot) for slot in list(self._live.get(route, {}).values())]

    def finished_since(self, route: str, since: float) -> list[PhaseRow]:
        """Requests of `route` done at or after `since`, oldest first."""
        return [_row(slot) for slot in reversed(list(self._newest_first(route, since)))]

    def sample(self, route: str, since: float, limit: int) -> tuple[list[PhaseRow], int]:
        """At most `limit` of the requests of `route` in flight or done since `since`
        (all of them when they are fewer), and how many there are in all.

        Requests in flight come first: the latest instant drawn must show the truth (60
        users and 10 threads: 10 working, 50 waiting, every one of them), and finished ones
        fill the lanes left. Where there are more than the lanes, the sample is by a hash of
        each request's arrival number, so a request drawn in one frame is drawn in the next
        (lanes do not flicker); only sampled slots are copied: at 1000 users the span holds
        ~5000 requests, and copying them all every frame would cost more than drawing."""
        live = list(self._live.get(route, {}).values())
        finished = list(self._newest_first(route, since))
        total = len(live) + len(finished)
        chosen = _hash_sample(live, limit)
        chosen += _hash_sample(finished, limit - len(chosen))
        return [_row(slot) for slot in chosen], total

    def _newest_first(self, route: str, since: float) -> Iterator[PhaseSlot]:
        # Appended as they finish, so `done` grows along the deque: walk back from the end.
        for slot in reversed(self._finished.get(route, ())):
            if slot.done < since:
                return
            yield slot


def _hash_sample(slots: list[PhaseSlot], limit: int) -> list[PhaseSlot]:
    """About `limit` of `slots` (never more), the same ones from frame to frame."""
    if limit <= 0:
        return []
    if len(slots) <= limit:
        return slots
    cut = limit / len(slots) * _HASH_RANGE
    chosen = [slot for slot in slots if (slot.seq * _HASH_STEP) % _HASH_RANGE < cut]
    # The hash takes about `limit`; a few over go, oldest (lowest number) first.
    return sorted(chosen, key=lambda slot: slot.seq)[-limit:]


def _row(slot: PhaseSlot) -> PhaseRow:
    return PhaseRow(slot.seq, slot.arrived, slot.started, slot.worked, slot.done, slot.wire_id)
