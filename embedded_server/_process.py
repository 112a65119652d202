"""`ServerProcess`: the demo server in a process of its own, with N uvicorn workers.

The card's shape is one loop for window, server and generator; this is the other choice
(`--server-process --workers N`): the generator's loop then carries only the generator,
and each worker has its own GIL, its own event loop and its own thread pool.

LoopScope binds 127.0.0.1:0 itself (one SO_REUSEPORT socket per worker, on one port, where
the kernel balances them; elsewhere one socket that all workers share) and hands the sockets
to `loopscope serve --fd` processes, so the port is known before the children start and no
other program can take it in between. Each worker also gets a
socket of its own on a port of its own (`probe_urls`): the shared port cannot choose which
worker answers, so the probes of every worker are read there (`WorkerProbes`). The
child runs in a session of its own (a Ctrl+C in the terminal reaches LoopScope, which then
stops it) and dies with its parent (on Linux by the kernel's death signal, elsewhere by
polling whether its parent is still there). `stop()` ends it and its workers: SIGTERM,
then SIGKILL for the whole group after a grace period; nothing is ever left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import platform_support
from ._server import HTTP_PARSER, LOOPBACK, ServerStartError
from ._settings import DEFAULT_THREADS, MAX_THREADS

if TYPE_CHECKING:
    import uvicorn

MAX_WORKERS = 16
_START_TIMEOUT_S = 30.0
_STOP_GRACE_S = 5.0
# Where no death signal ends a worker with its parent, it looks this often whether the
# parent is still there: an orphan serves on for at most this long.
_PARENT_POLL_S = 0.5
# What `loopscope serve --fd` prints once it serves.
READY_LINE = "loopscope-serving"


def serve_command() -> list[str]:
    """How to start `loopscope serve` from here: the bundle has no `-m`."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "serve"]
    return [sys.executable, "-m", "loopscope", "serve"]


class ServerProcess:
    """The demo app served by `workers` processes on one port; `url` once started.

    Each worker is a `loopscope serve --fd` process with a listening socket of its own,
    all bound to the same port with SO_REUSEPORT: the kernel spreads new connections over
    them (as nginx's and gunicorn's reuse-port do). uvicorn's `--workers` shares one socket
    instead, and there one worker took every connection a burst opened (8 users: 3.64 s of
    CPU in one worker, 0.08 s in the other), so a second core never helped. Where the
    kernel does not balance reuse-port sockets (macOS, Windows: `reuse_port_balances`), the
    workers share one socket all the same: the only way they serve one port there, with
    that imbalance.
    """

    def __init__(self, *, workers: int = 1, threads: int = DEFAULT_THREADS) -> None:
        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        if not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads must be between 1 and {MAX_THREADS}, got {threads}")
        self.workers = workers
        self.threads = threads
        self._port: int | None = None
        self._sockets: list[socket.socket] = []
        self._probe_ports: list[int] = []
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server process has not been started")
        return f"http://{LOOPBACK}:{self._port}"

    @property
    def probe_urls(self) -> list[str]:
        """One URL per worker that only that worker answers (its own /stats)."""
        return [f"http://{LOOPBACK}:{port}" for port in self._probe_ports]

    def worker_pids(self) -> list[int]:
        """The processes serving requests, one per worker."""
        return [process.pid for process in self._processes]

    def _listening_socket(self, port: int, *, shared: bool = True) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared and platform_support.reuse_port_balances():
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(2048 if shared else 16)
        sock.set_inheritable(True)
        self._sockets.append(sock)
        return sock

    async def start(self) -> None:
        if self._processes:
            raise RuntimeError("the server process is already running")
        if not platform_support.hands_sockets_to_children():
            raise ServerStartError(
                f"the server in processes of its own needs Linux or macOS (here: {sys.platform})"
            )
        try:
            first = self._listening_socket(0)
            self._port = first.getsockname()[1]
            if platform_support.reuse_port_balances():
                others = [self._listening_socket(self._port) for _ in range(1, self.workers)]
            else:
                others = [first] * (self.workers - 1)
            shared = [first, *others]
            for sock in shared:
                own = self._listening_socket(0, shared=False)
                self._probe_ports.append(own.getsockname()[1])
                self._processes.append(self._spawn(sock, own))
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise

    def _spawn(self, sock: socket.socket, own: socket.socket) -> subprocess.Popen[bytes]:
        fds = (sock.fileno(), own.fileno())
        command = [*serve_command(), "--fd", str(fds[0]), "--fd", str(fds[1])]
        command += ["--threads", str(self.threads)]
        # Popen, not asyncio's subprocesses: those need a child watcher that the window's
        # qasync loop does not give; nothing here waits on the child but `stop()`'s poll.
        return subprocess.Popen(
            command,
            pass_fds=fds,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=platform_support.die_with_parent(),
        )

    async def _wait_ready(self) -> None:
        """Until every worker says it serves (its first line on stdout), bounded."""
        deadline = time.monotonic() + _START_TIMEOUT_S
        for process in self._processes:
            assert process.stdout is not None
            remaining = max(0.1, deadline - time.monotonic())
            try:
                line = await asyncio.wait_for(
                    asyncio.to_thread(process.stdout.readline), timeout=remaining
                )
            except TimeoutError:
                raise ServerStartError(
                    f"the server process did not start within {_START_TIMEOUT_S:g} s"
                ) from None
            if line.strip() != READY_LINE.encode():
                process.wait(timeout=5)
                raise ServerStartError(f"the server process exited: {_last_error(process)}")

    async def stop(self) -> None:
        """End every worker (SIGTERM, then SIGKILL); close the sockets."""
        processes, self._processes = self._processes, []
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # a poll: nothing signals a child's exit here
        for process in processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()
        self._port = None
        self._probe_ports = []

    async def __aenter__(self) -> ServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


def _last_error(process: subprocess.Popen[bytes]) -> str:
    if process.stderr is None:
        return f"exit status {process.returncode}"
    lines = process.stderr.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {process.returncode}"


async def serve_on_fd(fds: Sequence[int], threads: int) -> None:
    """A worker: the demo app on the sockets `fds` (bound by the parent: the port all
    workers share, and this worker's own), until SIGTERM or SIGINT; prints READY_LINE once
    it serves."""
    import uvicorn

    from ._app import create_app
    from ._settings import ServerSettings

    config = uvicorn.Config(
        create_app(ServerSettings(threads=threads)),
        fd=fds[0],
        http=HTTP_PARSER,  # as the embedded server: the same parser in both placements
        proxy_headers=False,
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    sockets = [socket.socket(fileno=fd) for fd in fds]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=sockets))
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)  # uvicorn's `started` is a flag, not an event
    if server.started:
        print(READY_LINE, flush=True)
    if not platform_support.has_death_signal():
        watch = asyncio.get_running_loop().create_task(_end_with_parent(server, os.getppid()))
        task.add_done_callback(lambda _: watch.cancel())
    await task


async def _end_with_parent(server: uvicorn.Server, parent: int) -> None:
    """Where no death signal ends this worker with its parent: poll, and once the parent is
    gone shut down as SIGTERM would (uvicorn's graceful shutdown)."""
    while not platform_support.parent_gone(parent):  # noqa: ASYNC110
        await asyncio.sleep(_PARENT_POLL_S)  # a poll: nothing here signals a parent's exit
    server.should_exit = True
