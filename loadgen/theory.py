"""What queueing theory predicts for each scenario (docs/lessons.md says what each lesson teaches).

A closed loop of N users against a server of capacity c (requests served at once), each
taking service time d: throughput X = min(N, c) / d, and by Little's law the response
time R = N / X. Shown beside every measurement, so the gap itself teaches.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Required, TypedDict, Unpack

from loopscope.embedded_server import DEFAULT_FANOUT, DEFAULT_THREADS, SCENARIOS


@dataclass(frozen=True, slots=True)
class Prediction:
    """throughput_rps and latency_ms at the given load; capacity is c (inf: unbounded)."""

    scenario: str
    capacity: float
    service_time_s: float
    throughput_rps: float
    latency_ms: float
    explanation: str

    def to_json(self) -> dict[str, float | str | None]:
        return {
            "throughput_rps": _json_number(self.throughput_rps),
            "latency_ms": _json_number(self.latency_ms),
            "capacity": None
            if math.isinf(self.capacity) or math.isnan(self.capacity)
            else self.capacity,
            "service_time_ms": _json_number(self.service_time_s * 1000),
            "explanation": self.explanation,
        }


def _json_number(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 3)


# Per user, how much of the one GIL-bound core a CPU scenario gets beside the other: a
# `def` request is handed from the loop thread to a worker and back, and waits for the GIL
# at each hand-off behind the loop's work, so a `def` user completes half of what an
# `async def` user does, whatever the switch interval, the work or the users
# (docs/performance.md, "CPU-bound side by side").
CPU_USER_WEIGHT: Mapping[str, float] = {"cpu-async": 1.0, "cpu-sync": 0.5}


def cpu_shares(users: Mapping[str, int]) -> dict[str, float]:
    """Each CPU-bound scenario's part of the one core, when the scenarios in `users` (with
    their users; other scenarios are ignored) run side by side on one server: by users,
    weighted by CPU_USER_WEIGHT. The one function the window, the CLI and sweeps use."""
    weights = {
        name: CPU_USER_WEIGHT[name] * count
        for name, count in users.items()
        if name in CPU_USER_WEIGHT and count > 0
    }
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()} if total else {}


@dataclass(frozen=True, slots=True)
class LoopHold:
    """The `blocking` route running beside: `users` closed-loop users, each request holding
    the event loop for `delay_s` (time.sleep on it). Routes sharing that loop wait for it."""

    users: int
    delay_s: float
    #: The loop is qasync's (the window's): a request needs one more pass there, where a
    #: Qt event is processed between two callbacks.
    qt_loop: bool = False


def _loop_visits(scenario: str, fanout: int) -> int | None:
    """How many passes of the loop one request needs (None: not measured). Beside a held
    loop each pass comes only between two freezes. Measured (issue 14, 5 blocking users
    at 100 ms): async 2 (one to receive and start it, one to answer: 217 ms), sync 3 (the
    worker thread's answer needs one more: 328 ms), fan-out gather about 5 (590 ms),
    sequential about 3 more per downstream call (1130 ms for 3 calls)."""
    if scenario == "async":
        return 2
    if scenario == "sync":
        return 3
    if scenario == "fanout-gather":
        return 5
    if scenario == "fanout-sequential":
        return 2 + 3 * fanout
    return None


def held_latency_s(scenario: str, service_s: float, hold: LoopHold, fanout: int) -> float | None:
    """Latency of a request of `scenario` (service time `service_s`) on a loop the blocking
    route holds; None when the route has no measured number of passes.

    With 2 or more blocking users one is always queued, so the loop is frozen back to back
    for hold.delay_s each, with only a short catch-up between (BlockingTurnstile). A
    request moves on one pass per gap, and its own wait (a sleep) ends at the first gap
    after it: (passes - 1 + ceil(service / hold)) holds. With a single blocking user, the
    gap lasts its client's round trip, long enough for one more pass (measured: async
    112 ms at 100 ms, one hold).
    """
    visits = _loop_visits(scenario, fanout)
    if visits is None or hold.users < 1 or hold.delay_s <= 0:
        return None
    own = max(1, math.ceil(service_s / hold.delay_s - 1e-9))
    extra = visits - 1 if hold.users >= 2 else visits - 2
    if hold.qt_loop:
        extra += 1
    return hold.delay_s * (max(0, extra) + own)


def unknown(label: str) -> Prediction:
    """No theory: a route of the user's own app, whose inside LoopScope cannot know."""
    return Prediction(
        scenario=label,
        capacity=math.nan,
        service_time_s=math.nan,
        throughput_rps=math.nan,
        latency_ms=math.nan,
        explanation="none for a route of your own app: LoopScope cannot know what it does "
        "inside (with --app, what held the event loop is named)",
    )


class ServerShape(TypedDict, total=False):
    """What `capacity_and_service_time` needs to know of the server, passed on as it is by
    `closed_loop` and `open_loop` (one list of these parameters, not three)."""

    delay_s: Required[float]
    threads: int
    fanout: int
    cpu_s: float | None
    cpu_share: float
    workers: int


def capacity_and_service_time(
    scenario: str,
    *,
    delay_s: float,
    threads: int = DEFAULT_THREADS,
    fanout: int = DEFAULT_FANOUT,
    cpu_s: float | None = None,
    cpu_share: float = 1.0,
    workers: int = 1,
) -> tuple[float, float, str]:
    """(capacity c, service time d, why) for one scenario.

    cpu_s: the core time of one CPU-scenario request: its work and its HTTP handling (both
    hold the GIL; `measure_cpu_cost_s` measures both).
    cpu_share: the part of the one GIL-bound core this scenario gets when other CPU-bound
    scenarios run beside it (`cpu_shares`).
    workers: server processes (`--workers`): each has its own loop, thread pool and GIL,
    so what one process can hold at once is multiplied (CPU: by the cores there are).
    """
    each = "" if workers == 1 else f" in each of {workers} workers"
    if scenario == "async":
        return math.inf, delay_s, "awaiting a sleep frees the loop: no limit but the users"
    if scenario == "sync":
        why = f"each request holds one of {threads} threads{each}"
        return float(threads * workers), delay_s, why
    if scenario == "blocking":
        why = f"time.sleep on the event loop: one request at a time{each}"
        return float(workers), delay_s, why
    if scenario in ("cpu-async", "cpu-sync"):
        if cpu_s is None:
            raise ValueError("CPU scenarios need the measured cost of one request (cpu_s)")
        cores = min(workers, os.cpu_count() or 1)
        if workers == 1:
            why = (
                "pure-Python work and the HTTP handling hold the GIL: one core, "
                "however many threads"
            )
        else:
            why = f"pure-Python work holds each worker's GIL: {cores} cores for {workers} workers"
        if cpu_share < 1.0:
            why += (
                f", shared ({cpu_share:.0%} of it here: a def user gets half "
                "an async def user's part)"
            )
        return cpu_share * cores, cpu_s, why
    if scenario == "fanout-sequential":
        return math.inf, fanout * delay_s, f"{fanout} downstream calls one after another"
    if scenario == "fanout-gather":
        return math.inf, delay_s, f"{fanout} downstream calls at once: as long as one"
    raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")


def closed_loop(
    scenario: str,
    *,
    users: int,
    loop_hold: LoopHold | None = None,
    **server: Unpack[ServerShape],
) -> Prediction:
    """Little's law for N users that each send again as soon as they get an answer.

    server: as `capacity_and_service_time` takes it. loop_hold: the `blocking` route runs
    beside on the same loop (`held_latency_s`)."""
    capacity, service_s, why = capacity_and_service_time(scenario, **server)
    workers = server.get("workers", 1)
    fanout = server.get("fanout", DEFAULT_FANOUT)
    if users <= 0 or service_s <= 0:
        return Prediction(scenario, capacity, service_s, 0.0, service_s * 1000, why)
    throughput = min(users, capacity) / service_s
    if loop_hold is not None and scenario != "blocking" and workers == 1:
        held_s = held_latency_s(scenario, service_s, loop_hold, fanout)
        if held_s is not None:
            throughput = min(throughput, users / held_s)
            why += (
                f"; but the blocking route beside holds the loop ({loop_hold.users} users x "
                f"{loop_hold.delay_s * 1000:g} ms): a request moves on only between two "
                f"freezes, {held_s * 1000:g} ms a request"
            )
    latency_s = users / throughput
    return Prediction(scenario, capacity, service_s, throughput, latency_s * 1000, why)
