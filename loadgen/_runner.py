"""One headless load run: server (embedded unless a target is given), generator, recorder."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from embedded_server import (
    CPU_SCENARIOS,
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    EmbeddedServer,
    ServerSettings,
    cpu_work,
    create_app,
)

from . import theory
from ._generator import LoadGenerator
from ._recorder import Recorder, Summary
from ._records import ScenarioRequest
from ._sender import HttpxSender

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def check_loopback_target(url: str) -> str:
    """Load goes to this machine only; returns the URL without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"target must be an http:// URL, got {url!r}")
    if parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError(
            f"target must be on this machine (127.0.0.1 or localhost), got {parts.hostname!r}"
        )
    return url.rstrip("/")


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSettings:
    """One closed-loop run. warmup_s=None means min(1 s, a fifth of the duration)."""

    scenario: str
    concurrency: int = 10
    delay_ms: float = 200.0
    duration_s: float = 10.0
    warmup_s: float | None = None
    threads: int | None = None
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT
    target: str | None = None

    @property
    def effective_warmup_s(self) -> float:
        if self.warmup_s is not None:
            return self.warmup_s
        return min(1.0, self.duration_s / 5)

    def request(self) -> ScenarioRequest:
        return ScenarioRequest(
            scenario=self.scenario,
            delay_ms=self.delay_ms,
            iterations=self.iterations,
            fanout=self.fanout,
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    settings: RunSettings
    summary: Summary
    prediction: theory.Prediction
    threads: int | None
    target: str
    extra: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """The `run --json` object of DESIGN.md's command-line contract."""
        s, summary = self.settings, self.summary

        def num(value: float) -> float | None:
            return None if math.isnan(value) else round(value, 3)

        return {
            "scenario": s.scenario,
            "mode": "closed",
            "concurrency": s.concurrency,
            "rate": None,
            "delay_ms": s.delay_ms,
            "threads": self.threads,
            "iterations": s.iterations if s.scenario in CPU_SCENARIOS else None,
            "fanout": s.fanout if s.scenario.startswith("fanout") else None,
            "duration_s": s.duration_s,
            "warmup_s": s.effective_warmup_s,
            "measured_s": round(summary.duration_s, 3),
            "target": self.target,
            "requests": summary.requests,
            "ok": summary.ok,
            "errors": dict(summary.errors),
            "throughput_rps": num(summary.throughput_rps),
            "error_rps": num(summary.error_rps),
            "latency_ms": summary.latency.to_json(),
            "server_timing_ms": {
                "wait_mean": num(summary.server_wait_ms_mean),
                "work_mean": num(summary.server_work_ms_mean),
            },
            "theory": self.prediction.to_json(),
        }


def measure_cpu_cost_s(iterations: int, repeats: int = 3) -> float:
    """Seconds one CPU-scenario request costs here, alone: the service time theory uses."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        cpu_work(iterations)
        best = min(best, time.perf_counter() - start)
    return best


@asynccontextmanager
async def _server_for(settings: RunSettings) -> AsyncIterator[tuple[str, int | None]]:
    """Yields (base URL, thread tokens): our own embedded server unless a target is given."""
    if settings.target is not None:
        yield check_loopback_target(settings.target), settings.threads
        return
    threads = settings.threads or DEFAULT_THREADS
    server = EmbeddedServer(create_app(ServerSettings(threads=threads)))
    await server.start()
    try:
        yield server.url, threads
    finally:
        await server.stop()


async def _set_remote_threads(url: str, threads: int) -> None:
    async with httpx.AsyncClient(base_url=url, trust_env=False) as client:
        response = await client.put("/threadpool", params={"tokens": threads})
        response.raise_for_status()


async def run_load(settings: RunSettings) -> RunResult:
    """Run one closed-loop measurement and summarise it beside the theory."""
    request = settings.request()  # validates the scenario name
    cpu_s: float | None = None
    if settings.scenario in CPU_SCENARIOS and settings.target is None:
        cpu_s = measure_cpu_cost_s(settings.iterations)
    async with _server_for(settings) as (url, threads):
        if settings.target is not None and settings.threads is not None:
            await _set_remote_threads(url, settings.threads)
        recorder = Recorder()
        generator = LoadGenerator(HttpxSender(url), recorder.add, request)
        try:
            generator.start(settings.concurrency)
            # These sleeps are the measurement's own duration, not synchronisation.
            await asyncio.sleep(settings.effective_warmup_s)
            recorder.begin_measurement()
            await asyncio.sleep(settings.duration_s - settings.effective_warmup_s)
            recorder.end_measurement()
        finally:
            await generator.aclose()
    summary = recorder.summary(settings.scenario)
    if cpu_s is None and settings.scenario in CPU_SCENARIOS:
        # Another server: the best we know is the work time it reports per request.
        cpu_s = summary.server_work_ms_mean / 1000 if summary.ok else math.nan
    prediction = theory.closed_loop(
        settings.scenario,
        users=settings.concurrency,
        delay_s=settings.delay_ms / 1000,
        threads=threads or DEFAULT_THREADS,
        fanout=settings.fanout,
        cpu_s=cpu_s,
    )
    return RunResult(settings, summary, prediction, threads, url)
