"""Per-request timing: an ASGI middleware that stamps arrival, counts in-flight requests
per scenario and writes the route's own timing as a `Server-Timing` header."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._phases import PhaseSlot
from ._probes import ServerProbes
from ._run_gate import RunGate, answer_not_run

SCENARIO_PREFIX = "/scenario/"
#: Keys the middleware and the routes share in the ASGI scope's "state".
ARRIVED_KEY = "loopscope_arrived"
TIMING_KEY = "loopscope_timing"
PHASE_KEY = "loopscope_phase"
#: The request id a LoopScope client may send (a decimal integer), kept in the request's
#: phase slot: the timeline joins it with the client's own send and receive times.
REQUEST_ID_HEADER = "x-loopscope-req"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.encode()
# A request id longer than this is not one of ours (ids count requests from 0).
_MAX_ID_DIGITS = 18


def request_id(headers: list[tuple[bytes, bytes]]) -> int:
    """The `x-loopscope-req` id among ASGI `headers`, -1 when absent or not an id."""
    for name, value in headers:
        if name == _REQUEST_ID_KEY:
            if value.isdigit() and len(value) <= _MAX_ID_DIGITS:
                return int(value)
            return -1
    return -1


def begin_work(state: Any) -> float:
    """Called by a route as its work begins (on its thread, for a `def` route): the time,
    also marked in the request's phase slot so the timeline shows it working from now."""
    started = time.perf_counter()
    slot: PhaseSlot | None = getattr(state, PHASE_KEY, None)
    if slot is not None:
        slot.started = started  # one float store: safe from the route's thread
    return started


def stamp_timing(state: Any, started: float, finished: float) -> None:
    """Called by a route: how long it waited (for a thread, or the loop) and how long it worked."""
    arrived = getattr(state, ARRIVED_KEY, started)
    setattr(state, TIMING_KEY, (max(0.0, started - arrived), finished - started))
    slot: PhaseSlot | None = getattr(state, PHASE_KEY, None)
    if slot is not None:
        slot.started, slot.worked = started, finished


def format_server_timing(wait_s: float, work_s: float) -> str:
    return (
        f'wait;dur={wait_s * 1000:.3f};desc="waiting for a thread or the loop", '
        f'work;dur={work_s * 1000:.3f};desc="route working"'
    )


class TimingMiddleware:
    def __init__(self, app: ASGIApp, probes: ServerProbes, gate: RunGate | None = None) -> None:
        self.app = app
        self.probes = probes
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(SCENARIO_PREFIX):
            await self.app(scope, receive, send)
            return
        scenario = scope["path"][len(SCENARIO_PREFIX) :]
        state: dict[str, Any] = scope.setdefault("state", {})
        arrived = state[ARRIVED_KEY] = time.perf_counter()
        phases = self.probes.phases
        slot = state[PHASE_KEY] = phases.arrive(scenario, arrived, request_id(scope["headers"]))

        responded = False

        async def send_with_timing(message: Message) -> None:
            nonlocal responded
            if message["type"] == "http.response.start":
                responded = True
                timing = state.get(TIMING_KEY)
                if timing is not None:
                    headers = list(message.get("headers", []))
                    headers.append((b"server-timing", format_server_timing(*timing).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        gate, task = self.gate, asyncio.current_task()
        entry = gate.enter(task, slot) if gate is not None and task is not None else None
        self.probes.request_started(scenario)
        try:
            await self.app(scope, receive, send_with_timing)
        except asyncio.CancelledError:
            # Cancelled by the gate (RunGate.close: why) and by nothing else: answered
            # here, and the task goes on as uncancelled.
            if entry is None or not entry.abandoned or entry.task.uncancel() > 0:
                raise
            if not responded:  # the load stopped while it waited: it never ran
                await answer_not_run(send, b"load stopped: not run")
        finally:
            if gate is not None and entry is not None:
                gate.leave(entry)
            self.probes.request_finished(scenario)
            phases.finish(scenario, slot, time.perf_counter())
