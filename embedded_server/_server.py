"""`EmbeddedServer`: uvicorn as a task on the already running event loop."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from ._probes import ServerProbes
from ._run_gate import RunGate
from ._turnstile import BlockingTurnstile
from ._user_app import ProbedApp

# After the grace period, how long stop() waits for the requests uvicorn cancelled: a `def`
# request ends only when its thread returns, which a window closing must not wait for long.
CANCELLED_SETTLE_S = 2.0

LOOPBACK = "127.0.0.1"
# uvicorn's HTTP/1.1 parser, named rather than "auto" so the measurement never depends on
# what else is installed. httptools parses in C: 0.84-0.90 of h11's CPU per request for
# server and generator together on one loop (bench/loop_cost.py); it is a dependency.
HTTP_PARSER = "httptools"


class ServerStartError(RuntimeError):
    """The embedded server could not start; the message says why in one line."""


class _ShutdownNoiseFilter(logging.Filter):
    """Drops uvicorn's reports of requests it cancelled at the end of a graceful shutdown.

    Stopping with requests still queued (a `def` route waiting for a thread, say) is the
    normal way this app ends a run; a traceback per cancelled request would only alarm.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False
        return not record.getMessage().startswith("Cancel ")


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signals to the application that embeds it.

    uvicorn's own handler would swallow Ctrl+C in the GUI and re-raise it at shutdown.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class EmbeddedServer:
    """Runs a FastAPI app with uvicorn on the running loop, bound to 127.0.0.1.

    `start()` returns once the server accepts connections; `stop()` asks uvicorn to
    exit gracefully and awaits its task. Port 0 (the default) picks a free port; `url`
    tells which.
    """

    def __init__(
        self,
        app: FastAPI | ProbedApp,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        graceful_shutdown_s: int = 1,
        http: str = HTTP_PARSER,
    ) -> None:
        self.app = app
        self._http = http
        self._host = host
        self._port = port
        self._graceful_shutdown_s = graceful_shutdown_s
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def probes(self) -> ServerProbes:
        probes: ServerProbes = self.app.state.probes
        return probes

    @property
    def blocking_turnstile(self) -> BlockingTurnstile | None:
        """The demo app's turnstile for its blocking route; None for another app."""
        turnstile = getattr(self.app.state, "blocking_turnstile", None)
        return turnstile if isinstance(turnstile, BlockingTurnstile) else None

    @property
    def run_gate(self) -> RunGate | None:
        """The demo app's gate of its load runs; None for another app."""
        gate = getattr(self.app.state, "run_gate", None)
        return gate if isinstance(gate, RunGate) else None

    @property
    def started(self) -> bool:
        return self._server is not None and self._server.started

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the server has not been started")
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def _bind(self) -> socket.socket:
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose
        # proto says TCP, and without it Nagle + delayed ACK add ~40 ms to every keep-alive
        # response.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # Lets `serve --port 8000` restart at once; a port with a live listener still fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise ServerStartError(
                    f"cannot start the server: {self._host}:{self._port} is already in use"
                ) from None
            raise ServerStartError(
                f"cannot start the server on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from None
        sock.setblocking(False)
        return sock

    async def start(self, timeout_s: float = 10.0, *, stop: asyncio.Event | None = None) -> None:
        """Serve; returns once the app's start-up (lifespan) is complete. ServerStartError
        when it fails, takes longer than `timeout_s`, or `stop` is set meanwhile (an
        interrupt): the start-up is then abandoned (cancelled), never awaited further."""
        if self._task is not None:
            raise RuntimeError("the server is already running")
        # Bind here, not inside uvicorn: a busy port then raises a clear error instead of
        # uvicorn's sys.exit(3) inside a task, and the bound port is known at once.
        self._socket = self._bind()
        config = uvicorn.Config(
            self.app,
            log_config=None,  # leave the embedding application's logging alone
            access_log=False,
            http=self._http,
            proxy_headers=False,  # 127.0.0.1 only: no proxy ever sits in front
            loop="none",  # we run on the caller's loop; serve() never creates one
            lifespan="on",
            timeout_graceful_shutdown=self._graceful_shutdown_s,
        )
        self._server = _QuietServer(config)
        self._task = asyncio.get_running_loop().create_task(
            self._serve(self._server, self._socket), name="loopscope-uvicorn"
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # uvicorn exposes `started` as a flag, not an event: wait on it or on the task ending.
        while not self._server.started:
            if self._task.done():
                await self._cleanup_failed_start()
            if loop.time() > deadline:
                await self._abandon_start()
                raise ServerStartError(
                    f"the app's start-up (its lifespan) did not finish within {timeout_s:g} s"
                )
            if stop is not None and stop.is_set():
                await self._abandon_start()
                raise ServerStartError("interrupted during the app's start-up")
            await asyncio.sleep(0.005)

    async def _abandon_start(self) -> None:
        """Cancel a start-up that will not finish (a lifespan that awaits forever would
        keep a graceful stop waiting too)."""
        task, self._task = self._task, None
        assert task is not None
        task.cancel()
        await asyncio.wait([task], timeout=CANCELLED_SETTLE_S)
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: the start-up's own failure is not reported twice
        if self._socket is not None:
            self._socket.close()

    @staticmethod
    async def _serve(server: _QuietServer, sock: socket.socket) -> None:
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's way of reporting a failed start-up
            raise ServerStartError(f"the server failed to start (exit status {exc.code})") from None

    async def _cleanup_failed_start(self) -> None:
        task, self._task = self._task, None
        if self._socket is not None:
            self._socket.close()
        assert task is not None
        exc = task.exception()
        # A user's app (ProbedApp) keeps why its own start-up failed, in one line.
        reason = getattr(self.app, "startup_error", None)
        if reason:
            raise ServerStartError(f"the app's start-up failed: {reason}")
        raise ServerStartError(str(exc) if exc else "the server stopped during start-up")

    def request_stop(self, *, cut_in_flight: bool = False) -> None:
        """Ask uvicorn to begin its shutdown now, from synchronous code; `stop()` awaits
        it. uvicorn notices within its 0.1 s tick, so asking early lets that overlap with
        other shutdown work. cut_in_flight: cancel requests in flight at once instead of
        giving them `graceful_shutdown_s` (for when their clients were cut already: the
        app closing mid-load)."""
        if self._task is None or self._server is None:
            return
        if cut_in_flight:
            self._server.config.timeout_graceful_shutdown = 0
        self._server.should_exit = True

    async def stop(self, *, cut_in_flight: bool = False) -> None:
        """Graceful shutdown: in-flight requests get `graceful_shutdown_s` to finish
        (none with cut_in_flight; `request_stop()`)."""
        self.request_stop(cut_in_flight=cut_in_flight)
        task, self._task = self._task, None
        if task is None or self._server is None:
            return
        uvicorn_log = logging.getLogger("uvicorn.error")
        noise_filter = _ShutdownNoiseFilter()
        uvicorn_log.addFilter(noise_filter)
        try:
            await task
            await self._finish_cancelled(self._server)
        except ServerStartError:
            pass
        finally:
            uvicorn_log.removeFilter(noise_filter)
            if self._socket is not None:
                self._socket.close()

    @staticmethod
    async def _finish_cancelled(server: uvicorn.Server) -> None:
        """uvicorn cancels the requests its grace period cut off but returns without
        awaiting them, and a `def` request is only cancelled once its thread returns. Give
        them a bounded moment to end, then close whatever connection is left, so that no
        task and no socket outlives the server (a loop closed right after would otherwise
        leave them pending and unclosed)."""
        state = server.server_state
        pending = [t for t in state.tasks if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=CANCELLED_SETTLE_S)
        closing = False
        for connection in list(state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.close()
                closing = True
        if closing:
            await asyncio.sleep(0)  # the transports close their sockets on the next tick

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
