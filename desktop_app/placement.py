"""Where the demo server runs, and the one object that runs it there (`DemoServer`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from loopscope.embedded_server import (
    MAX_WORKERS,
    EmbeddedServer,
    LoopLagMonitor,
    ServerProcess,
    ServerSettings,
    WorkerProbes,
    create_app,
)
from loopscope.loadgen import CpuCostMeter
from loopscope.loadgen.sweep import ProcessTarget, SweepProbes, SweepTarget

# Probe sampling period: the in-flight, thread-pool and loop-lag charts get 10 points a
# second, smooth enough to see a freeze start and end.
PROBE_PERIOD_S = 0.1


class _Gate(Protocol):
    """What a run opens and Stop closes on the demo app: the blocking route's turnstile,
    and the gate of its runs."""

    def open(self) -> None: ...

    def close(self) -> object: ...


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the demo server runs: on the window's loop (the card's shape, the default),
    or in a process of its own with `workers` worker processes."""

    process: bool = False
    workers: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {self.workers}")
        if not self.process and self.workers != 1:
            raise ValueError("workers need the server in its own process")

    @property
    def label(self) -> str:
        if not self.process:
            return "this window's loop"
        return f"own process, {self.workers} worker{'s' if self.workers > 1 else ''}"


class DemoServer:
    """The demo server where `placement` says: in this process on the window's loop, or
    a server process with its workers (read over HTTP by `WorkerProbes`)."""

    def __init__(
        self,
        *,
        port: int,
        placement: Placement,
        cpu_meter: CpuCostMeter,
        on_start: Callable[[LoopLagMonitor], None],
    ) -> None:
        self._port = port
        self.server = EmbeddedServer(create_app(ServerSettings()), port=port)
        #: Where the demo server runs (`move` changes it).
        self.placement = placement
        self._cpu_meter = cpu_meter
        # Told the lag of the window's loop each time a server starts (health verdicts).
        self._on_start = on_start
        # The server process and its workers' probes (read over HTTP), in process placement.
        self._process: ServerProcess | None = None
        self._worker_probes: WorkerProbes | None = None
        # The window's own loop lag when the server is not on it (in the shared loop, the
        # server's monitor measures that loop already).
        self._window_lag = LoopLagMonitor()
        self._up = False

    async def start(self, *, threads: int) -> None:
        """Start it where `placement` says (raises ServerStartError)."""
        if self.placement.process:
            process = ServerProcess(workers=self.placement.workers, threads=threads)
            await process.start()
            self._process = process
            self._cpu_meter.watch(process.worker_pids())
            try:
                self._worker_probes = WorkerProbes(
                    process.probe_urls, threads=threads, period_s=PROBE_PERIOD_S
                )
                await self._worker_probes.start()
            except BaseException:
                await self.stop()
                raise
            self._window_lag.start()
        else:
            await self.server.start()
        self._up = True
        self._on_start(self.window_loop_lag)

    async def stop(self, *, cut_in_flight: bool = True) -> None:
        """Stop it wherever it runs; nothing is left (no worker, no port)."""
        self._up = False
        probes, self._worker_probes = self._worker_probes, None
        process, self._process = self._process, None
        try:
            if probes is not None:
                await probes.stop()
        finally:
            if process is not None:
                self._cpu_meter.watch(())
                await self._window_lag.stop()
                await process.stop()
            else:
                await self.server.stop(cut_in_flight=cut_in_flight)

    async def move(self, placement: Placement, *, threads: int) -> None:
        """Stop it and start it again where asked; ServerStartError when the new one
        cannot start (it then falls back to the window's loop)."""
        await self.stop()
        # A fresh app: the old one's probes were bound to the server that ended.
        self.server = EmbeddedServer(create_app(ServerSettings(threads=threads)), port=self._port)
        self.placement = placement
        try:
            await self.start(threads=threads)
        except BaseException:
            self.placement = Placement()
            await self.start(threads=threads)
            raise

    def request_stop(self) -> None:
        """Ask the in-process server to stop now, cutting requests in flight: its shutdown
        then overlaps with whatever closes next."""
        self.server.request_stop(cut_in_flight=True)

    @property
    def ready(self) -> bool:
        """It serves (False while it moves)."""
        return self._up

    @property
    def window_loop_lag(self) -> LoopLagMonitor:
        """The lag of the window's loop (where the generator runs)."""
        return self._window_lag if self.placement.process else self.server.probes.loop_lag

    @property
    def url(self) -> str:
        """Where the demo routes answer."""
        return self._process.url if self._process is not None else self.server.url

    @property
    def timeline_available(self) -> bool:
        """The request timeline needs the server's phase table, in this process."""
        return not self.placement.process

    def worker_pids(self) -> list[int]:
        """The server's worker processes (none when it shares the window's loop)."""
        return [] if self._process is None else self._process.worker_pids()

    def probes(self) -> SweepProbes:
        """Its probes: read from Python on this loop, or the workers' over HTTP (the
        latest read)."""
        if self._worker_probes is not None:
            return self._worker_probes
        return self.server.probes

    def server_lag_ms(self) -> float | None:
        """The server's own loop lag when it runs in its own process (None: it shares the
        window's loop)."""
        return self._worker_probes.server_lag_ms() if self._worker_probes is not None else None

    def sweep_target(self) -> SweepTarget:
        if self._process is not None and self._worker_probes is not None:
            return ProcessTarget(self._process.url, self._worker_probes)
        return self.server

    def open_turnstile(self) -> None:
        """Let the blocking route's requests in (one at a time); a new run begins."""
        for gate in self._gates():
            gate.open()

    def close_turnstile(self) -> None:
        """The blocking route's queued requests leave without blocking the loop, and the
        requests still waiting for a thread leave unrun (RunGate)."""
        for gate in self._gates():
            gate.close()

    def _gates(self) -> list[_Gate]:
        """The blocking route's turnstile and the gate of its runs, those the app has
        (the demo app has both)."""
        gates = (self.server.blocking_turnstile, self.server.run_gate)
        return [gate for gate in gates if gate is not None]

    def draining(self) -> int:
        """Requests of an earlier run still in flight on the server (this process's only;
        a server in its own process serves its own runs)."""
        gate = self.server.run_gate
        return 0 if gate is None or self.placement.process else gate.draining()
