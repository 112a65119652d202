"""The theory's predictions for the load as set now (`loadgen.theory`, fed this session's
settings, server placement and measured CPU speed)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from loopscope.embedded_server import CPU_SCENARIOS, SCENARIOS
from loopscope.loadgen import CpuCostMeter, theory
from loopscope.loadgen import open_loop_theory as open_loop

from .load_settings import LoadSettings, capped_users
from .placement import DemoServer


def on_qt_loop() -> bool:
    """The running loop is qasync's and schedules callbacks as qasync does: each one a Qt
    timer of its own, which costs a request one more pass beside the blocking route
    (theory.LoopHold.qt_loop). The window's `LabEventLoop` is a qasync loop that schedules
    as asyncio does, and measures as plain asyncio there: not this. Told by type without
    importing Qt here (while qasync is not imported, no loop can be one of its)."""
    qasync = sys.modules.get("qasync")
    loop = asyncio.get_running_loop()
    if qasync is None or not isinstance(loop, qasync.QEventLoop):
        return False
    return type(loop).call_soon is qasync.QEventLoop.call_soon


@dataclass(eq=False, slots=True)
class Predictions:
    """Throughput and latency the theory gives each scenario at the current settings."""

    settings: LoadSettings
    server: DemoServer
    #: This machine's speed for the CPU theory, sampled by the probe sampler (a shared
    #: machine's speed drifts: loadgen._cpu_cost).
    cpu_meter: CpuCostMeter
    _: KW_ONLY
    #: Whether load runs: while it does, the CPU cost is the meter's, not the one kept.
    load_running: Callable[[], bool]
    #: The window's loop (qasync) gives a request one pass fewer per gap between two
    #: blocking requests than plain asyncio does (theory.LoopHold); set by `open()`.
    qt_loop: bool = False
    # The cost the theory keeps once a load stops (None: take the meter's).
    _kept_cost_s: float | None = field(default=None, init=False, repr=False)

    def keep_cost(self, cost_s: float | None) -> None:
        """The CPU cost shown once the load stops (None: the meter's again)."""
        self._kept_cost_s = cost_s

    def keep_current_cost(self) -> None:
        """The theory keeps the cost it shows now, at the end of a load."""
        self._kept_cost_s = self.cpu_meter.cost_s(self.settings.iterations)

    def cpu_cost(self) -> float:
        """Seconds of the core one CPU-scenario request costs here (work and HTTP): while
        load runs, at the speed sampled over the last seconds (as a run's own theory is);
        once it stops, the cost it ended with (a sweep: its last step's)."""
        if self.load_running() or self._kept_cost_s is None:
            return self.cpu_meter.cost_s(self.settings.iterations)
        return self._kept_cost_s

    def prediction(self, scenario: str) -> theory.Prediction:
        if scenario not in SCENARIOS:
            return theory.unknown(scenario)  # a route of the user's own: no theory
        settings = self.settings
        placement = self.server.placement
        cpu_s: float | None = None
        cpu_share = 1.0
        workers = placement.workers if placement.process else 1
        if scenario in CPU_SCENARIOS:
            cpu_s = self.cpu_cost()
            # CPU-bound scenarios running side by side share the one core the GIL allows:
            # by their (weighted) users in a closed loop, evenly in an open loop (each at
            # the same rate).
            sharing = [s for s in settings.scenarios if s in CPU_SCENARIOS] or [scenario]
            if settings.mode == "open":
                cpu_share = 1 / len(sharing)
            else:
                shares = theory.cpu_shares({s: settings.users[s] for s in sharing})
                cpu_share = shares.get(scenario, 1.0)
        server: theory.ServerShape = {
            "delay_s": settings.request(scenario).delay_ms / 1000,
            "threads": settings.threads,
            "fanout": settings.fanout,
            "cpu_s": cpu_s,
            "cpu_share": cpu_share,
            "workers": workers,
        }
        if settings.mode == "open":
            return open_loop(scenario, rate=settings.rate, **server)
        return theory.closed_loop(
            scenario, users=settings.users[scenario], loop_hold=self.loop_hold(), **server
        )

    def loop_hold(self, users: int | None = None) -> theory.LoopHold | None:
        """The blocking route beside the others, holding the loop they share (closed loop):
        at its users, or at `users` (capped as its slider is: the response curve's levels)."""
        settings = self.settings
        if "blocking" not in settings.scenarios:
            return None
        delay_s = settings.request("blocking").delay_ms / 1000
        held_by = settings.users["blocking"] if users is None else capped_users("blocking", users)
        # In a server process the blocking route holds a worker's plain asyncio loop.
        qt_loop = self.qt_loop and not self.server.placement.process
        return theory.LoopHold(users=held_by, delay_s=delay_s, qt_loop=qt_loop)
