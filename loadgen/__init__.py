"""The load side of LoopScope: generators (closed and open loop), recorder, theory, sweeps
and exports.

Imports no Qt and nothing of the desktop app or the command line: everything here runs
headless on a plain asyncio loop. Other packages use what this module exports (and the
public modules `theory`, `health`, `sweep`, `export`, `trace`), never an underscore module.
"""

from __future__ import annotations

from . import theory
from ._compat import IncompatibleAiohttpError, check_aiohttp
from ._cpu_cost import CpuCostMeter, measure_cpu_cost_s
from ._gc_policy import (
    GcPacer,
    PacedCollection,
    freeze_startup_objects,
    gc_tuned_for_load,
    tune_gc_for_load,
)
from ._generator import MAX_USERS, GeneratorLimits, LoadGenerator, RecordSink
from ._generator_base import BaseLoadGenerator
from ._http1 import Http1Transport, OversizedAnswerError
from ._open_loop import (
    LATE_THRESHOLD_S,
    MAX_IN_FLIGHT,
    MAX_RATE,
    OpenLoopGenerator,
    OpenLoopLimits,
    ScheduleStats,
    connections_for,
)
from ._open_theory import open_loop as open_loop_theory
from ._rate import RateEstimator
from ._recorder import (
    DrainedSummary,
    LatencySummary,
    Recorder,
    RecorderSnapshot,
    ScenarioSnapshot,
    Summary,
    WindowStats,
)
from ._records import (
    ERROR_ABANDONED,
    ERROR_CONNECT,
    ERROR_OVERSIZED,
    ERROR_REDIRECT,
    ERROR_TLS,
    MAX_ROUTE_BODY_BYTES,
    ROUTE_METHODS,
    AnyRequest,
    RequestRecord,
    RouteRequest,
    ScenarioRequest,
)
from ._runner import (
    LoadedServer,
    Neighbours,
    RunResult,
    RunSettings,
    TargetError,
    check_demo_target,
    check_loopback_target,
    check_remote_target,
    is_loopback_host,
    measure,
    predict,
    run_load,
)
from ._sender import (
    AiohttpTransport,
    HttpxSender,
    RequestSender,
    TransportFactory,
    classify_error,
    classify_status,
    parse_server_timing,
    record_from_error,
    record_from_response,
)
from ._target import MAX_TARGET_BYTES, check_target
from ._tls import TlsError, client_ssl_context
from ._wire import WIRE_LOG_SIZE, WireLog
from ._workload import Workload
from .sweep import (
    ProgressCallback,
    SweepProgress,
    SweepSettings,
    SweepStep,
    SweepTarget,
    run_sweep,
    sweep_steps,
)

__all__ = [
    "ERROR_ABANDONED",
    "ERROR_CONNECT",
    "ERROR_OVERSIZED",
    "ERROR_REDIRECT",
    "ERROR_TLS",
    "LATE_THRESHOLD_S",
    "MAX_IN_FLIGHT",
    "MAX_RATE",
    "MAX_ROUTE_BODY_BYTES",
    "MAX_TARGET_BYTES",
    "MAX_USERS",
    "ROUTE_METHODS",
    "WIRE_LOG_SIZE",
    "AiohttpTransport",
    "AnyRequest",
    "BaseLoadGenerator",
    "CpuCostMeter",
    "DrainedSummary",
    "GcPacer",
    "GeneratorLimits",
    "Http1Transport",
    "HttpxSender",
    "IncompatibleAiohttpError",
    "LatencySummary",
    "LoadGenerator",
    "LoadedServer",
    "Neighbours",
    "OpenLoopGenerator",
    "OpenLoopLimits",
    "OversizedAnswerError",
    "PacedCollection",
    "ProgressCallback",
    "RateEstimator",
    "RecordSink",
    "Recorder",
    "RecorderSnapshot",
    "RequestRecord",
    "RequestSender",
    "RouteRequest",
    "RunResult",
    "RunSettings",
    "ScenarioRequest",
    "ScenarioSnapshot",
    "ScheduleStats",
    "Summary",
    "SweepProgress",
    "SweepSettings",
    "SweepStep",
    "SweepTarget",
    "TargetError",
    "TlsError",
    "TransportFactory",
    "WindowStats",
    "WireLog",
    "Workload",
    "check_aiohttp",
    "check_demo_target",
    "check_loopback_target",
    "check_remote_target",
    "check_target",
    "classify_error",
    "classify_status",
    "client_ssl_context",
    "connections_for",
    "freeze_startup_objects",
    "gc_tuned_for_load",
    "is_loopback_host",
    "measure",
    "measure_cpu_cost_s",
    "open_loop_theory",
    "parse_server_timing",
    "predict",
    "record_from_error",
    "record_from_response",
    "run_load",
    "run_sweep",
    "sweep_steps",
    "theory",
    "tune_gc_for_load",
]
