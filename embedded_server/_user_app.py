"""A user's own ASGI app under the scope: import it as uvicorn does, wrap it with probes.

`import_app("package.module:app")` loads the app (one-line `AppImportError` when it cannot);
`ProbedApp(app)` serves it on the embedded server with the same probes as the demo app
(requests in flight per route, anyio thread-pool tokens, loop lag) and a `BlockWatch` that
names the line holding the loop; `operations(app)` lists its routes from its OpenAPI schema.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ._blockwatch import BlockWatch
from ._probes import ServerProbes
from ._settings import DEFAULT_THREADS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths that match no route are counted under one label: a scan of random URLs must not
# grow the in-flight table without bound.
UNMATCHED_ROUTE = "(no route)"
_MAX_CACHED_PATHS = 1024
_MAX_EXCEPTION_KINDS = 50


class AppImportError(ValueError):
    """The app could not be imported; the message is one line naming what and why."""


def import_app(spec: str, app_dir: str | Path | None = ".") -> ASGIApp:
    """The ASGI app `spec` names ("module.sub:attribute"), imported the way uvicorn does:
    `app_dir` (default: the current directory) first on sys.path."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise AppImportError(f'an app is given as "module:attribute" (e.g. main:app), got {spec!r}')
    if app_dir is not None:
        folder = str(Path(app_dir).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise AppImportError(
                f"cannot import {module_name!r}: no such module (from {app_dir or 'sys.path'}; "
                "--app-dir sets the folder)"
            ) from None
        raise AppImportError(f"cannot import {module_name!r}: {exc}") from None
    except SystemExit as exc:  # the module ended the program: say so, not exit with it
        raise AppImportError(f"importing {module_name!r} called sys.exit({exc.code!r})") from None
    except Exception as exc:  # the user's module failed while importing: say how, in a line
        where = _innermost_location(exc)
        raise AppImportError(
            f"importing {module_name!r} failed: {type(exc).__name__}: {exc}{where}"
        ) from None
    app: object = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise AppImportError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if not callable(app) or inspect.isclass(app) or inspect.ismodule(app):
        raise AppImportError(
            f"{spec} is a {type(app).__name__}, not an ASGI app (a FastAPI or Starlette instance)"
        )
    if not _takes_three_arguments(app):
        raise AppImportError(f"{spec} is not an ASGI app: it does not take (scope, receive, send)")
    return app  # checked above as far as Python can


def _innermost_location(exc: BaseException) -> str:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    return f" (at {Path(last.tb_frame.f_code.co_filename).name}:{last.tb_lineno})"


def _takes_three_arguments(app: object) -> bool:
    try:
        signature = inspect.signature(app)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True  # a C callable or the like: let the server find out
    try:
        signature.bind(object(), object(), object())
    except TypeError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # "query", "path", "header" or "cookie"
    required: bool
    example: str | None  # a default or an example from the schema, as text


@dataclass(frozen=True, slots=True)
class Operation:
    """One route and method of the user's app, from its OpenAPI schema."""

    method: str
    path: str
    summary: str
    parameters: tuple[Parameter, ...] = ()
    has_body: bool = False
    sync: bool | None = None  # a `def` endpoint (runs in the thread pool); None if unknown

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def ready(self) -> bool:
        """Can be sent as it is: no body, and every required parameter has an example."""
        return not self.has_body and all(
            p.example is not None for p in self.parameters if p.required
        )

    def query(self) -> dict[str, str]:
        return {
            p.name: p.example
            for p in self.parameters
            if p.location == "query" and p.example is not None
        }

    def concrete_path(self) -> str:
        path = self.path
        for p in self.parameters:
            if p.location == "path" and p.example is not None:
                path = path.replace("{" + p.name + "}", p.example)
        return path


def operations(app: object) -> list[Operation]:
    """The operations the app's OpenAPI schema lists (empty without a schema)."""
    openapi = getattr(app, "openapi", None)
    if not callable(openapi):
        return []
    try:
        schema = openapi()
    except Exception:  # a broken schema is the user's to fix; the user can type a path
        return []
    endpoints = _endpoint_kinds(app)
    found: list[Operation] = []
    for path, item in (schema.get("paths") or {}).items():
        for method, spec in item.items():
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}:
                continue
            parameters = tuple(_parameter(p) for p in spec.get("parameters", []))
            found.append(
                Operation(
                    method=method.upper(),
                    path=path,
                    summary=spec.get("summary", ""),
                    parameters=parameters,
                    has_body="requestBody" in spec,
                    sync=endpoints.get((method.upper(), path)),
                )
            )
    return found


def _parameter(spec: dict[str, Any]) -> Parameter:
    schema = spec.get("schema") or {}
    example = spec.get("example", schema.get("example", schema.get("default")))
    if example is None and schema.get("type") in ("integer", "number") and spec.get("required"):
        example = schema.get("minimum", 1)
    return Parameter(
        name=spec["name"],
        location=spec.get("in", "query"),
        required=bool(spec.get("required")),
        example=None if example is None else str(example),
    )


def _endpoint_kinds(app: object) -> dict[tuple[str, str], bool]:
    """(method, path) -> True for a `def` endpoint, from a Starlette app's routes."""
    kinds: dict[tuple[str, str], bool] = {}
    for route in getattr(app, "routes", []):
        endpoint = getattr(route, "endpoint", None)
        if endpoint is None:
            continue
        sync = not (inspect.iscoroutinefunction(endpoint) or inspect.isasyncgenfunction(endpoint))
        for method in getattr(route, "methods", None) or ():
            kinds[(method, getattr(route, "path", ""))] = sync
    return kinds


@dataclass(slots=True)
class _RouteLabels:
    """Request path -> route label ("GET /items/{id}"), cached and bounded."""

    app: object
    cache: dict[tuple[str, str], str] = field(default_factory=dict)

    def label(self, scope: Scope) -> str:
        key = (scope.get("method", "GET"), scope["path"])
        found = self.cache.get(key)
        if found is None:
            found = self._match(scope)
            if len(self.cache) >= _MAX_CACHED_PATHS:
                self.cache.clear()
            self.cache[key] = found
        return found

    def _match(self, scope: Scope) -> str:
        routes = getattr(self.app, "routes", None)
        if routes is None:
            return f"{scope.get('method', 'GET')} {scope['path']}"
        from starlette.routing import Match

        for route in routes:
            try:
                match, _ = route.matches(scope)
            except Exception:
                continue
            if match == Match.FULL:
                return f"{scope.get('method', 'GET')} {getattr(route, 'path', scope['path'])}"
        return UNMATCHED_ROUTE


class ProbedApp:
    """The user's ASGI app with LoopScope's probes around it.

    `state.probes` is a `ServerProbes` (what `EmbeddedServer.probes` reads); in-flight
    requests are counted per route label. `block_watch` names what holds the loop. The
    user's lifespan runs as under uvicorn; the probes attach before it starts.
    """

    def __init__(self, app: ASGIApp, *, threads: int = DEFAULT_THREADS) -> None:
        self.app = app
        self.probes = ServerProbes(threads=threads, routes=())
        self.block_watch = BlockWatch()
        self.probes.block_watch = self.block_watch
        self.state = SimpleNamespace(probes=self.probes, block_watch=self.block_watch)
        self._labels = _RouteLabels(app)
        #: Why the app's start-up failed, in one line (None: it did not fail).
        self.startup_error: str | None = None
        #: Exceptions the app raised while answering: "route: Type: message (at f:l)" -> count.
        self.exceptions: Counter[str] = Counter()

    def _note_exception(self, label: str, exc: Exception) -> None:
        key = f"{label}: {type(exc).__name__}: {exc}{_innermost_location(exc)}"[:300]
        if key in self.exceptions or len(self.exceptions) < _MAX_EXCEPTION_KINDS:
            self.exceptions[key] += 1

    async def _attach(self) -> None:
        await self.probes.attach()
        self.block_watch.start()

    async def _detach(self) -> None:
        await self.block_watch.stop()
        await self.probes.detach()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        label = self._labels.label(scope)
        task = asyncio.current_task()
        self.probes.request_started(label)
        if task is not None:
            self.block_watch.running(task, label)
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            # Counted and answered here: uvicorn would log a traceback per request (a
            # flood under load) and close the connection, failing the next request too.
            self._note_exception(label, exc)
            if not started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send({"type": "http.response.body", "body": b"Internal Server Error"})
        finally:
            self.probes.request_finished(label)
            if task is not None:
                self.block_watch.finished(task)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        attached = False
        failed = False

        async def receive_attaching() -> Message:
            nonlocal attached
            message = await receive()
            if message["type"] == "lifespan.startup" and not attached:
                await self._attach()
                attached = True
            return message

        async def send_detaching(message: Message) -> None:
            nonlocal failed
            if message["type"] == "lifespan.startup.failed":
                # Starlette sends the whole traceback as the message; keep its last line
                # for the one-line ServerStartError and let uvicorn log nothing.
                failed = True
                self.startup_error = _last_line(message.get("message", "")) or "start-up failed"
                message = {**message, "message": ""}
            await send(message)
            # A failed start-up ends the app's life too: the probes attached at its
            # beginning stop here, or their tasks and the watch thread would outlive it.
            if message["type"] in (
                "lifespan.startup.failed",
                "lifespan.shutdown.complete",
                "lifespan.shutdown.failed",
            ):
                await self._detach()

        try:
            await self.app(scope, receive_attaching, send_detaching)
        except Exception as exc:
            if failed:
                return  # already reported to uvicorn, which stops the start-up
            if attached:
                # The app's own start-up raised without saying so in the protocol.
                self.startup_error = f"{type(exc).__name__}: {exc}{_innermost_location(exc)}"
                await send({"type": "lifespan.startup.failed", "message": ""})
                await self._detach()
                return
            # An app without lifespan support: speak the protocol for it, so the probes
            # still attach and detach.
            await receive()
            await self._attach()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await self._detach()
            await send({"type": "lifespan.shutdown.complete"})


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""
