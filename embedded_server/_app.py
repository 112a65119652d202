"""The demo application: one route per scenario, probes, and a stats route."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from ._probes import ServerProbes
from ._run_gate import RunGate
from ._settings import (
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    SCENARIOS,
    BlockingDelayMs,
    DelayMs,
    Fanout,
    Iterations,
    ServerSettings,
    ThreadTokens,
)
from ._timing import TimingMiddleware, begin_work, stamp_timing
from ._turnstile import BlockingTurnstile


def cpu_work(iterations: int) -> int:
    """A fixed amount of pure-Python work that holds the GIL throughout."""
    total = 0
    for i in range(iterations):
        total += i * i % 7
    return total


class DownstreamClients:
    """HTTP clients the fan-out routes use to call this same server's `/downstream` route.

    Several small clients rather than one: one httpx pool shared by many concurrent
    requests spends quadratic time assigning connections (encode/httpcore#1035).
    """

    _CLIENTS = 16
    _CONNECTIONS_PER_CLIENT = 10

    def __init__(self) -> None:
        self._clients: list[httpx.AsyncClient] = []
        self._next = itertools.count()

    def pick(self) -> httpx.AsyncClient:
        index = next(self._next) % self._CLIENTS
        while len(self._clients) <= index:
            limits = httpx.Limits(
                max_connections=self._CONNECTIONS_PER_CLIENT,
                max_keepalive_connections=self._CONNECTIONS_PER_CLIENT,
            )
            # pool=None: wait for a connection rather than fail; the route's own delay bounds it.
            timeout = httpx.Timeout(30.0, pool=None)
            # verify=False: the calls are plain http to this server's own socket, and loading
            # the certificate store holds the loop ~50 ms per client (16 of them, inside the
            # first fan-out requests' timings).
            self._clients.append(
                httpx.AsyncClient(limits=limits, timeout=timeout, verify=False, trust_env=False)
            )
        return self._clients[index]

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            await client.aclose()


def _own_url(request: Request) -> str:
    # The socket this request came in on: always this server, never a forwarded Host header.
    server = request.scope.get("server") or ("127.0.0.1", 80)
    return f"http://{server[0]}:{server[1]}"


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """Build the demo app. Its probes are at `app.state.probes` (a `ServerProbes`), the
    gate of its load runs at `app.state.run_gate` (a `RunGate`)."""
    settings = settings or ServerSettings()
    probes = ServerProbes(
        threads=settings.threads, loop_lag_interval_s=settings.loop_lag_interval_s
    )
    downstream = DownstreamClients()
    turnstile = BlockingTurnstile()
    gate = RunGate(probes.thread_holders)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await probes.attach()
        try:
            yield
        finally:
            await downstream.aclose()
            await probes.detach()

    app = FastAPI(
        title="LoopScope demo server",
        description="Routes that show how `async def` and `def` endpoints behave under load.",
        lifespan=lifespan,
        # FastAPI's native OpenTelemetry asks on every request whether a provider has been
        # configured since (1.3 % of the loop's CPU at 300 users); the demo exports nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.probes = probes
    app.state.blocking_turnstile = turnstile
    app.state.run_gate = gate
    app.add_middleware(TimingMiddleware, probes=probes, gate=gate)
    # The scenario routes declare response_model=None: with a response model, FastAPI
    # validates a `def` route's return value in the thread pool too, so each request
    # borrows a thread twice and queues twice, and the sync route reads below theory. The
    # demo shows the thread pool itself, not that second queue.
    _add_waiting_routes(app, turnstile)
    _add_cpu_routes(app)
    _add_fanout_routes(app, downstream)
    _add_probe_routes(app, probes)
    _add_index_route(app)
    return app


def _add_waiting_routes(app: FastAPI, turnstile: BlockingTurnstile) -> None:
    """The routes that wait `delay_ms`: without blocking (async), in the thread pool (sync),
    and on the event loop itself (blocking, one at a time through `turnstile`)."""

    @app.get(
        "/scenario/async",
        response_model=None,
        summary="async def + await asyncio.sleep: a non-blocking wait",
    )
    async def async_route(request: Request, delay_ms: DelayMs = 200) -> dict[str, Any]:
        started = begin_work(request.state)
        await asyncio.sleep(delay_ms / 1000)
        stamp_timing(request.state, started, time.perf_counter())
        return {"scenario": "async", "delay_ms": delay_ms}

    @app.get(
        "/scenario/sync",
        response_model=None,
        summary="def + time.sleep: runs in FastAPI's thread pool",
    )
    def sync_route(request: Request, delay_ms: DelayMs = 200) -> dict[str, Any]:
        started = begin_work(request.state)
        time.sleep(delay_ms / 1000)
        stamp_timing(request.state, started, time.perf_counter())
        return {"scenario": "sync", "delay_ms": delay_ms}

    @app.get(
        "/scenario/blocking",
        response_model=None,
        summary="async def + time.sleep: blocks the event loop",
    )
    async def blocking_route(
        request: Request, delay_ms: BlockingDelayMs = 100
    ) -> dict[str, Any] | Response:
        # One at a time, each in a pass of the loop of its own (BlockingTurnstile: why).
        if not await turnstile.acquire():
            # The app stopped its load while this request queued: not worth freezing for.
            return Response("load stopped: not blocking for this request", status_code=503)
        try:
            # A client that already gave up is not worth freezing the loop for either.
            if await request.is_disconnected():
                return Response(status_code=499)
            started = begin_work(request.state)
            time.sleep(delay_ms / 1000)  # noqa: ASYNC251  the classic mistake, on purpose
            stamp_timing(request.state, started, time.perf_counter())
        finally:
            turnstile.release()
        return {"scenario": "blocking", "delay_ms": delay_ms}


def _add_cpu_routes(app: FastAPI) -> None:
    """The routes that compute: on the event loop (cpu-async) and in the pool (cpu-sync)."""

    @app.get("/scenario/cpu-async", response_model=None, summary="async def + pure-Python CPU work")
    async def cpu_async_route(
        request: Request, iterations: Iterations = DEFAULT_CPU_ITERATIONS
    ) -> dict[str, Any]:
        started = begin_work(request.state)
        cpu_work(iterations)
        stamp_timing(request.state, started, time.perf_counter())
        return {"scenario": "cpu-async", "iterations": iterations}

    @app.get(
        "/scenario/cpu-sync",
        response_model=None,
        summary="def + pure-Python CPU work, in the thread pool",
    )
    def cpu_sync_route(
        request: Request, iterations: Iterations = DEFAULT_CPU_ITERATIONS
    ) -> dict[str, Any]:
        started = begin_work(request.state)
        cpu_work(iterations)
        stamp_timing(request.state, started, time.perf_counter())
        return {"scenario": "cpu-sync", "iterations": iterations}


def _add_fanout_routes(app: FastAPI, downstream: DownstreamClients) -> None:
    """The fan-out routes and the `/downstream` route they call on this same server."""

    async def _call_downstream(request: Request, delay_ms: float) -> None:
        try:
            response = await downstream.pick().get(
                f"{_own_url(request)}/downstream", params={"delay_ms": delay_ms}
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            # A failed downstream call is the fan-out route's 502, not a crash (it happens
            # when the server shuts down under load and stops accepting connections).
            raise HTTPException(status_code=502, detail=f"downstream call failed: {exc}") from None

    @app.get(
        "/scenario/fanout-sequential",
        response_model=None,
        summary="k downstream calls, one after another",
    )
    async def fanout_sequential_route(
        request: Request, delay_ms: DelayMs = 200, fanout: Fanout = DEFAULT_FANOUT
    ) -> dict[str, Any]:
        started = begin_work(request.state)
        for _ in range(fanout):
            await _call_downstream(request, delay_ms)
        stamp_timing(request.state, started, time.perf_counter())
        return {"scenario": "fanout-sequential", "delay_ms": delay_ms, "fanout": fanout}

    @app.get(
        "/scenario/fanout-gather",
        response_model=None,
        summary="k downstream calls at once with asyncio.gather",
    )
    async def fanout_gather_route(
        request: Request, delay_ms: DelayMs = 200, fanout: Fanout = DEFAULT_FANOUT
    ) -> dict[str, Any]:
        started = begin_work(request.state)
        await asyncio.gather(*(_call_downstream(request, delay_ms) for _ in range(fanout)))
        stamp_timing(request.state, started, time.perf_counter())
        return {"scenario": "fanout-gather", "delay_ms": delay_ms, "fanout": fanout}

    @app.get(
        "/downstream",
        response_model=None,
        summary="the I/O the fan-out routes call: an async sleep",
    )
    async def downstream_route(delay_ms: DelayMs = 200) -> dict[str, Any]:
        await asyncio.sleep(delay_ms / 1000)
        return {"delay_ms": delay_ms}


def _add_probe_routes(app: FastAPI, probes: ServerProbes) -> None:
    """`/stats` (what the probes see) and `/threadpool` (resize the pool)."""

    @app.get("/stats", summary="in-flight requests, thread-pool tokens, event-loop lag")
    async def stats_route(
        lag_window_ms: Annotated[int | None, Query(ge=1, le=60_000)] = None,
    ) -> dict[str, object]:
        stats = probes.snapshot().to_json()
        if lag_window_ms is not None:
            # A reader sampling every period (WorkerProbes) asks for the worst lag over it:
            # the 1 s maximum would smear one stall over ten of its samples.
            since = time.perf_counter() - lag_window_ms / 1000
            stats["loop_lag_window_ms"] = probes.loop_lag.max_since(since) * 1000
        return stats

    @app.put("/threadpool", summary="resize the thread pool that runs def routes")
    async def threadpool_route(
        tokens: ThreadTokens,
    ) -> dict[str, object]:
        probes.set_thread_tokens(tokens)
        return {"threadpool": probes.snapshot().to_json()["threadpool"]}


def _add_index_route(app: FastAPI) -> None:
    """`/`: what this server offers."""

    @app.get("/", summary="what this server offers")
    async def index_route() -> JSONResponse:
        return JSONResponse(
            {
                "server": "LoopScope demo server",
                "scenarios": {name: f"/scenario/{name}" for name in SCENARIOS},
                "stats": "/stats",
                "docs": "/docs",
            }
        )
