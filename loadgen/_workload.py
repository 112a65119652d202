"""`Workload`: what each request asks of the server and how that server is set up, the
part a run (`RunSettings`), a sweep (`SweepSettings`) and the command line's workload
options share. A run adds what it loads (a scenario at a level) and where; a sweep adds
its scenarios and levels, and each of its steps is a run of the same workload."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from loopscope.embedded_server import DEFAULT_CPU_ITERATIONS, DEFAULT_FANOUT, DEFAULT_THREADS


@dataclass(frozen=True, kw_only=True, slots=True)
class Workload:
    """delay_ms: the demo routes' simulated I/O per request; iterations, fanout: their CPU
    work and downstream calls. threads: the server's thread pool (None: FastAPI's default,
    or, against a target, left as it is). warmup_s=None: min(1 s, a fifth of the length);
    drain_s=None: `drain_limit_s`'s default. max_in_flight: an open loop's bound (None:
    sized for the rate).

    app: a user's app ("module:attribute", imported from `app_dir`, its start-up allowed
    `startup_timeout_s`) served instead of the demo routes. server_process: the demo server
    in a process of its own with `workers` uvicorn workers, instead of on this loop
    (`--server-process`, `--workers`); the theory counts the workers either way.
    """

    delay_ms: float = 200.0
    warmup_s: float | None = None
    drain_s: float | None = None
    threads: int | None = None
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT
    max_in_flight: int | None = None
    app: str | None = None
    app_dir: str = "."
    # How long the app's start-up (its lifespan) may take (`--startup-timeout`).
    startup_timeout_s: float = 30.0
    server_process: bool = False
    workers: int = 1

    @property
    def effective_threads(self) -> int:
        """The pool of a server LoopScope starts: asked for, or FastAPI's default."""
        return self.threads or DEFAULT_THREADS

    def workload_keywords(self) -> dict[str, Any]:
        """The workload's fields as keywords: what a run or sweep built on it is given."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(Workload)}
