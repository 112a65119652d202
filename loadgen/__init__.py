"""The load side of LoopScope: generator, recorder, theory and the `loopscope` command.

Imports no Qt: everything here runs headless on a plain asyncio loop.
"""

from __future__ import annotations

from . import theory
from ._generator import MAX_USERS, GeneratorLimits, LoadGenerator, RecordSink
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

__all__ = [
    "MAX_USERS",
    "GeneratorLimits",
    "HttpxSender",
    "LatencySummary",
    "LoadGenerator",
    "RecordSink",
    "Recorder",
    "RecorderSnapshot",
    "RequestRecord",
    "RequestSender",
    "RunResult",
    "RunSettings",
    "ScenarioRequest",
    "ScenarioSnapshot",
    "Summary",
    "WindowStats",
    "check_loopback_target",
    "parse_server_timing",
    "run_load",
    "theory",
]
