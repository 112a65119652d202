"""The load side of LoopScope: generators (closed and open loop), recorder, theory, sweeps,
exports and the `loopscope` command.

Imports no Qt: everything here runs headless on a plain asyncio loop. (`_sweep_png`, which
draws a sweep's PNG with pyqtgraph, is never imported: it runs in a process of its own.)
"""

from __future__ import annotations

from . import theory
from ._generator import MAX_USERS, GeneratorLimits, LoadGenerator, RecordSink
from ._open_loop import (
    LATE_THRESHOLD_S,
    MAX_IN_FLIGHT,
    OpenLoopGenerator,
    OpenLoopLimits,
    ScheduleStats,
    connections_for,
)
from ._open_theory import open_loop as open_loop_theory
from ._recorder import (
    LatencySummary,
    Recorder,
    RecorderSnapshot,
    ScenarioSnapshot,
    Summary,
    WindowStats,
)
from ._records import RequestRecord, ScenarioRequest
from ._runner import RunResult, RunSettings, check_loopback_target, run_load
from ._sender import HttpxSender, RequestSender, parse_server_timing
from .sweep import SweepProgress, SweepSettings, run_sweep

__all__ = [
    "LATE_THRESHOLD_S",
    "MAX_IN_FLIGHT",
    "MAX_USERS",
    "GeneratorLimits",
    "HttpxSender",
    "LatencySummary",
    "LoadGenerator",
    "OpenLoopGenerator",
    "OpenLoopLimits",
    "RecordSink",
    "Recorder",
    "RecorderSnapshot",
    "RequestRecord",
    "RequestSender",
    "RunResult",
    "RunSettings",
    "ScenarioRequest",
    "ScenarioSnapshot",
    "ScheduleStats",
    "Summary",
    "SweepProgress",
    "SweepSettings",
    "WindowStats",
    "check_loopback_target",
    "connections_for",
    "open_loop_theory",
    "parse_server_timing",
    "run_load",
    "run_sweep",
    "theory",
]
