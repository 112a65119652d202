"""The embedded FastAPI demo server: scenario routes, probes, and uvicorn on a running loop.

Imports no Qt: the same server runs inside the desktop app and headless.
"""

from __future__ import annotations

from ._app import cpu_work, create_app
from ._blockwatch import BlockSite, BlockWatch, CodeSite, computing
from ._phases import PhaseRow, PhaseTable
from ._probes import LoopLagMonitor, LoopLagStats, ProbeSnapshot, ServerProbes, ThreadPoolStats
from ._process import MAX_WORKERS, ServerProcess, serve_on_fd
from ._route_match import match_route
from ._server import LOOPBACK, EmbeddedServer, ServerStartError
from ._settings import (
    CPU_SCENARIOS,
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    DELAY_SCENARIOS,
    FANOUT_SCENARIOS,
    MAX_BLOCKING_DELAY_MS,
    MAX_CPU_ITERATIONS,
    MAX_DELAY_MS,
    MAX_FANOUT,
    MAX_THREADS,
    SCENARIOS,
    ServerSettings,
)
from ._tasks import cancel_and_wait
from ._timing import REQUEST_ID_HEADER, format_server_timing
from ._turnstile import BlockingTurnstile
from ._user_app import (
    UNMATCHED_ROUTE,
    AppImportError,
    ASGIApp,
    Operation,
    Parameter,
    ProbedApp,
    import_app,
    operations,
    routes_not_loaded,
)
from ._worker_probes import WorkerProbes

__all__ = [
    "CPU_SCENARIOS",
    "DEFAULT_CPU_ITERATIONS",
    "DEFAULT_FANOUT",
    "DEFAULT_THREADS",
    "DELAY_SCENARIOS",
    "FANOUT_SCENARIOS",
    "LOOPBACK",
    "MAX_BLOCKING_DELAY_MS",
    "MAX_CPU_ITERATIONS",
    "MAX_DELAY_MS",
    "MAX_FANOUT",
    "MAX_THREADS",
    "MAX_WORKERS",
    "REQUEST_ID_HEADER",
    "SCENARIOS",
    "UNMATCHED_ROUTE",
    "ASGIApp",
    "AppImportError",
    "BlockSite",
    "BlockWatch",
    "BlockingTurnstile",
    "CodeSite",
    "EmbeddedServer",
    "LoopLagMonitor",
    "LoopLagStats",
    "Operation",
    "Parameter",
    "PhaseRow",
    "PhaseTable",
    "ProbeSnapshot",
    "ProbedApp",
    "ServerProbes",
    "ServerProcess",
    "ServerSettings",
    "ServerStartError",
    "ThreadPoolStats",
    "WorkerProbes",
    "cancel_and_wait",
    "computing",
    "cpu_work",
    "create_app",
    "format_server_timing",
    "import_app",
    "match_route",
    "operations",
    "routes_not_loaded",
    "serve_on_fd",
]
