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
Cost per request: one slot object, a dict add/remove, and six numbers written into the
route's preallocated ring when it finishes. The ring holds numbers, not the slots: a ring of
8192 slot objects per route (~250 bytes each, their floats included) took 4 MiB more over
the first minutes of every session as it filled, the "sync" route's for about 3.5 minutes
at 40 req/s; the arrays (6 x 8 bytes a request, 384 KiB per route) are taken whole when a
route is first seen, and the finished slot objects are freed for the next requests to reuse.

The client's side of each request (when it was sent, when its answer was read) is not
here: the load generator keeps it, by the request id it sends in the `x-loopscope-req`
header; a slot keeps that id (`wire_id`, -1 when the request carried none) so that the
timeline can join the two and draw the time on the wire.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeVar

#: Finished requests kept per route: 5 s of the timeline at 1000 req/s, with room.
FINISHED_PER_ROUTE = 8192

NAN = math.nan
_T = TypeVar("_T")
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


class _FinishedRing:
    """The phase times of a route's last `size` finished requests, in arrays allocated once
    (a slot's fields, column by column; `count` finished so far, the newest at
    (count - 1) % size)."""

    __slots__ = ("arrived", "count", "done", "seq", "size", "started", "wire_id", "worked")

    def __init__(self, size: int) -> None:
        self.size = size
        self.count = 0
        self.seq = array("q", [0]) * size
        self.wire_id = array("q", [-1]) * size
        self.arrived = array("d", [NAN]) * size
        self.started = array("d", [NAN]) * size
        self.worked = array("d", [NAN]) * size
        self.done = array("d", [NAN]) * size

    def add(self, slot: PhaseSlot) -> None:
        i = self.count % self.size
        self.count += 1
        self.seq[i] = slot.seq
        self.wire_id[i] = slot.wire_id
        self.arrived[i] = slot.arrived
        self.started[i] = slot.started
        self.worked[i] = slot.worked
        self.done[i] = slot.done

    def newest_first(self, since: float) -> Iterator[int]:
        """Indices of the requests done at or after `since`, newest first."""
        # Written as they finish, so `done` grows along the ring: walk back from the newest.
        done, size = self.done, self.size
        for n in range(self.count - 1, max(0, self.count - size) - 1, -1):
            i = n % size
            if done[i] < since:
                return
            yield i

    def row(self, i: int) -> PhaseRow:
        return PhaseRow(
            self.seq[i],
            self.arrived[i],
            self.started[i],
            self.worked[i],
            self.done[i],
            self.wire_id[i],
        )


class PhaseTable:
    """The phase slots of every route: in flight, and the last FINISHED_PER_ROUTE done."""

    def __init__(self, finished_per_route: int = FINISHED_PER_ROUTE) -> None:
        self._live: dict[str, dict[int, PhaseSlot]] = {}
        self._finished: dict[str, _FinishedRing] = {}
        self._keep = finished_per_route
        # Arrival order across routes: stable lane identity and sampling for the timeline.
        self._seq = itertools.count()

    def arrive(self, route: str, now: float, wire_id: int = -1) -> PhaseSlot:
        slot = PhaseSlot(next(self._seq), now, wire_id)
        live = self._live.get(route)
        if live is None:
            live = self._live[route] = {}
            self._finished[route] = _FinishedRing(self._keep)
        live[slot.seq] = slot
        return slot

    def finish(self, route: str, slot: PhaseSlot, now: float) -> None:
        slot.done = now
        self._live[route].pop(slot.seq, None)
        self._finished[route].add(slot)

    def clear(self) -> None:
        """Forget the finished requests (a Reset); those in flight stay."""
        for finished in self._finished.values():
            finished.count = 0

    def kept_since(self, route: str) -> float:
        """When the oldest finished request of `route` still kept finished (-inf: none
        has been dropped from the ring yet, so every one since the last `clear` is kept)."""
        ring = self._finished.get(route)
        if ring is None or ring.count <= ring.size:
            return -math.inf
        return ring.done[ring.count % ring.size]

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
        ring = self._finished.get(route)
        if ring is None:
            return []
        return [ring.row(i) for i in reversed(list(ring.newest_first(since)))]

    def sample(
        self, route: str, since: float, limit: int, until: float = math.inf
    ) -> tuple[list[PhaseRow], int]:
        """At most `limit` of the requests of `route` in flight or done since `since`
        that had arrived by `until` (all of them when they are fewer), and how many there
        are in all. `until` before now: the timeline of a stopped run, scrolled back.

        Requests in flight come first: the latest instant drawn must show the truth (60
        users and 10 threads: 10 working, 50 waiting, every one of them), and finished ones
        fill the lanes left. Where there are more than the lanes, the sample is by a hash of
        each request's arrival number, so a request drawn in one frame is drawn in the next
        (lanes do not flicker); only sampled slots are copied: at 1000 users the span holds
        ~5000 requests, and copying them all every frame would cost more than drawing."""
        live = [slot for slot in list(self._live.get(route, {}).values()) if slot.arrived <= until]
        ring = self._finished.get(route)
        finished = [] if ring is None else list(ring.newest_first(since))
        if ring is not None and until != math.inf:
            arrived = ring.arrived
            finished = [i for i in finished if arrived[i] <= until]
        total = len(live) + len(finished)
        chosen = [_row(slot) for slot in _hash_sample(live, [slot.seq for slot in live], limit)]
        if ring is not None:
            seqs = ring.seq
            picked = _hash_sample(finished, [seqs[i] for i in finished], limit - len(chosen))
            chosen += [ring.row(i) for i in picked]
        return chosen, total


def _hash_sample(items: list[_T], seqs: list[int], limit: int) -> list[_T]:
    """About `limit` of `items` (never more; `seqs`: their arrival numbers), the same ones
    from frame to frame."""
    if limit <= 0:
        return []
    if len(items) <= limit:
        return items
    cut = limit / len(items) * _HASH_RANGE
    chosen = [
        (seq, item)
        for seq, item in zip(seqs, items, strict=True)
        if (seq * _HASH_STEP) % _HASH_RANGE < cut
    ]
    # The hash takes about `limit`; a few over go, oldest (lowest number) first.
    chosen.sort(key=lambda pair: pair[0])
    return [item for _, item in chosen[-limit:]]


def _row(slot: PhaseSlot) -> PhaseRow:
    return PhaseRow(slot.seq, slot.arrived, slot.started, slot.worked, slot.done, slot.wire_id)
