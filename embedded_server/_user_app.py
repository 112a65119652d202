"""A user's own ASGI app under the scope: import it as uvicorn does, wrap it with probes.

`import_app("package.module:app")` loads the app (one-line `AppImportError` when it cannot);
`ProbedApp(app)` serves it on the embedded server with the same probes as the demo app
(requests in flight per route, anyio thread-pool tokens, loop lag) and a `BlockWatch` that
names the line holding the loop; `operations(app)` lists its routes from its OpenAPI schema
(mounted sub-apps too) with values for their parameters; `routes_not_loaded(app)` names the
routes no HTTP load exercises (websockets, static files).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import math
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from ._blockwatch import BlockWatch
from ._openapi_values import candidates
from ._probes import ServerProbes
from ._route_match import match_route, openapi_path
from ._run_gate import answer_not_run
from ._settings import DEFAULT_THREADS
from ._turnstile import BlockingTurnstile

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
    example: str | None  # the value sent first (from the schema), as text
    # Every value to try, best first (example, default, enum, a valid value of the type).
    candidates: tuple[str, ...] = ()

    @property
    def values(self) -> tuple[str, ...]:
        if self.candidates:
            return self.candidates
        return () if self.example is None else (self.example,)

    @property
    def sent(self) -> bool:
        """A request carries it: required, or an optional query or path value the schema gives."""
        return bool(self.values) and (self.required or self.location in ("query", "path"))


# The values chosen for an operation's parameters: (location, name) -> text.
Choice = Mapping[tuple[str, str], str]


@dataclass(frozen=True, slots=True)
class Operation:
    """One route and method of the user's app, from its OpenAPI schema (or its routes)."""

    method: str
    path: str
    summary: str
    parameters: tuple[Parameter, ...] = ()
    has_body: bool = False
    sync: bool | None = None  # a `def` endpoint (runs in the thread pool); None if unknown
    # Set when the request is fixed (typed by the user, or chosen by a pre-flight): the
    # path and query that go out as they are, instead of the schema's first values.
    sent_path: str | None = None
    sent_query: tuple[tuple[str, str], ...] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def ready(self) -> bool:
        """Can be sent: a body if it needs one, and a value for every required parameter."""
        return (not self.has_body or self.body is not None) and self.missing() is None

    def missing(self) -> Parameter | None:
        """The first required parameter without any value (None: each has one)."""
        if self.sent_path is not None:
            return None  # the user typed the request
        given = {name.lower() for name, _ in self.headers}
        for p in self.parameters:
            if p.required and not p.values:
                if p.location == "header" and p.name.lower() in given:
                    continue
                return p
        return None

    def first_choice(self) -> dict[tuple[str, str], str]:
        return {(p.location, p.name): p.values[0] for p in self.parameters if p.sent}

    def query(self) -> dict[str, str]:
        if self.sent_query is not None:
            return dict(self.sent_query)
        return {
            name: value for (where, name), value in self.first_choice().items() if where == "query"
        }

    def concrete_path(self) -> str:
        if self.sent_path is not None:
            return self.sent_path
        return _fill_path(self.path, self.parameters, self.first_choice())

    def with_choice(self, choice: Choice) -> Operation:
        """This operation fixed to `choice`: its path, query, and header/cookie values (a
        header the user gave wins over the schema's)."""
        given = {name.lower() for name, _ in self.headers}
        headers = list(self.headers)
        cookies = []
        for p in self.parameters:
            value = choice.get((p.location, p.name))
            if value is None:
                continue
            if p.location == "header" and p.name.lower() not in given:
                headers.append((p.name, value))
            elif p.location == "cookie":
                cookies.append(f"{p.name}={value}")
        if cookies and "cookie" not in given:
            headers.append(("Cookie", "; ".join(cookies)))
        query = tuple(
            (p.name, choice[("query", p.name)])
            for p in self.parameters
            if p.location == "query" and ("query", p.name) in choice
        )
        return replace(
            self,
            sent_path=_fill_path(self.path, self.parameters, choice),
            sent_query=query,
            headers=tuple(headers),
        )


def _fill_path(template: str, parameters: Sequence[Parameter], choice: Choice) -> str:
    path = template
    for p in parameters:
        value = choice.get(("path", p.name))
        if value is not None:
            # Quoted for the URL; a {p:path} value keeps its slashes (the route expects them).
            path = path.replace("{" + p.name + "}", quote(value, safe=_PATH_SAFE))
    return path


# What may stay unquoted in a path segment (RFC 3986 pchar), plus "/" for {p:path} values,
# which never carry a slash otherwise (their candidates leave it out).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, slots=True)
class _RouteInfo:
    sync: bool | None
    convertors: dict[str, str]  # path parameter -> Starlette convertor ("int", "path", ...)


def operations(app: object) -> list[Operation]:
    """The operations of the app: its OpenAPI schema's, and those of sub-apps mounted in it
    (their paths behind the mount's prefix). A Starlette app without a schema: its routes,
    with its path convertors for types. Empty for an app with neither."""
    return _operations(app, "", depth=0)


def _operations(app: object, prefix: str, *, depth: int) -> list[Operation]:
    routes = getattr(app, "routes", None)
    info = _route_info(app, prefix)
    found = _from_schema(app, prefix, info)
    if found is None:
        found = _from_routes(routes or [], prefix, info)
    else:  # routes the app hides from its schema are routes all the same
        found += _from_routes(routes or [], prefix, info, hidden=True)
    if depth < _MAX_MOUNT_DEPTH:
        from starlette.routing import Mount

        for route in routes or []:
            if isinstance(route, Mount) and route.routes:
                sub_prefix = prefix + openapi_path(route.path)
                found += _operations(route.app, sub_prefix, depth=depth + 1)
    return found


_MAX_MOUNT_DEPTH = 8
_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def _from_schema(
    app: object, prefix: str, info: Mapping[tuple[str, str], _RouteInfo]
) -> list[Operation] | None:
    openapi = getattr(app, "openapi", None)
    if not callable(openapi):
        return None
    try:
        schema = openapi()
    except Exception:  # a broken schema is the user's to fix; its routes still tell a lot
        return None
    components = schema.get("components") or {}
    found: list[Operation] = []
    for path, item in (schema.get("paths") or {}).items():
        full = prefix + path
        for method, spec in item.items():
            if method.upper() not in _HTTP_METHODS:
                continue
            route = info.get((method.upper(), full))
            convertors = route.convertors if route is not None else {}
            parameters = tuple(
                _parameter(p, components, convertors)
                for p in [*item.get("parameters", []), *spec.get("parameters", [])]
                if isinstance(p, Mapping)
            )
            found.append(
                Operation(
                    method=method.upper(),
                    path=full,
                    summary=spec.get("summary", ""),
                    parameters=parameters,
                    has_body="requestBody" in spec,
                    sync=None if route is None else route.sync,
                )
            )
    return found


def _parameter(
    spec: Mapping[str, Any], components: Mapping[str, Any], convertors: Mapping[str, str]
) -> Parameter:
    ref = spec.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/parameters/"):
        spec = components.get("parameters", {}).get(ref.rsplit("/", 1)[1], spec)
    values = candidates(
        spec,
        components,
        path_convertor=convertors.get(str(spec.get("name"))) == "path",
        invent=bool(spec.get("required")),
    )
    return Parameter(
        name=str(spec.get("name", "")),
        location=str(spec.get("in", "query")),
        required=bool(spec.get("required")),
        example=values[0] if values else None,
        candidates=values,
    )


# A value for each Starlette path convertor, for routes without a schema.
_CONVERTOR_VALUES = {
    "int": "1",
    "float": "1",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "str": "string",
    "path": "string",
}


def _from_routes(
    routes: Sequence[object],
    prefix: str,
    info: Mapping[tuple[str, str], _RouteInfo],
    *,
    hidden: bool = False,
) -> list[Operation]:
    """Operations from the routes themselves (path parameters from their convertors): the
    routes in the schema, or with `hidden` those kept out of it (`include_in_schema=False`),
    except the framework's own (the docs pages and the schema itself)."""
    found: list[Operation] = []
    for route in routes:
        methods = getattr(route, "methods", None)
        template = getattr(route, "path", None)
        if not methods or not isinstance(template, str):
            continue
        if getattr(route, "include_in_schema", True) == hidden:
            continue
        if hidden and _framework_route(route):
            continue
        full = prefix + openapi_path(template)
        for method in sorted(methods):
            if method == "HEAD" and "GET" in methods:
                continue  # Starlette adds it to every GET
            kind = info.get((method, full))
            convertors = kind.convertors if kind is not None else {}
            parameters = tuple(
                Parameter(name, "path", True, value, (value,))
                for name, convertor in convertors.items()
                if (value := _CONVERTOR_VALUES.get(convertor)) is not None
            )
            found.append(
                Operation(
                    method=method,
                    path=full,
                    summary="",
                    parameters=parameters,
                    sync=None if kind is None else kind.sync,
                )
            )
    return found


def _framework_route(route: object) -> bool:
    """FastAPI's own routes (/docs, /redoc, /openapi.json): their endpoints are its code."""
    module = str(getattr(getattr(route, "endpoint", None), "__module__", "") or "")
    return module.split(".", 1)[0] in ("fastapi", "starlette")


def _route_info(app: object, prefix: str) -> dict[tuple[str, str], _RouteInfo]:
    """(method, OpenAPI path) -> the endpoint's kind and its path convertors, from a Starlette
    app's routes (this level only: mounts are walked by the caller)."""
    found: dict[tuple[str, str], _RouteInfo] = {}
    for route in getattr(app, "routes", None) or []:
        endpoint = getattr(route, "endpoint", None)
        template = getattr(route, "path", None)
        if endpoint is None or not isinstance(template, str):
            continue
        sync: bool | None = not (
            inspect.iscoroutinefunction(endpoint) or inspect.isasyncgenfunction(endpoint)
        )
        if inspect.isclass(endpoint):
            sync = None  # an HTTPEndpoint class: its methods decide, one by one
        convertors = {
            name: _convertor_name(convertor)
            for name, convertor in (getattr(route, "param_convertors", None) or {}).items()
        }
        for method in getattr(route, "methods", None) or ():
            found[(method, prefix + openapi_path(template))] = _RouteInfo(sync, convertors)
    return found


def _convertor_name(convertor: object) -> str:
    # Starlette's StringConvertor, PathConvertor, IntegerConvertor, FloatConvertor, UUIDConvertor.
    name = type(convertor).__name__.removesuffix("Convertor").lower()
    return {"string": "str", "integer": "int"}.get(name, name)


def routes_not_loaded(app: object) -> list[tuple[str, str]]:
    """Routes of the app that no HTTP load can exercise, with why: websocket routes, static
    files and other mounted apps without routes (in mounted sub-apps too)."""
    return _not_loaded(app, "", depth=0)


def _not_loaded(app: object, prefix: str, *, depth: int) -> list[tuple[str, str]]:
    from starlette.routing import Mount, WebSocketRoute
    from starlette.staticfiles import StaticFiles

    found: list[tuple[str, str]] = []
    for route in getattr(app, "routes", None) or []:
        if isinstance(route, WebSocketRoute):
            found.append((f"WEBSOCKET {prefix}{openapi_path(route.path)}", "websocket route"))
        elif isinstance(route, Mount):
            path = prefix + openapi_path(route.path)
            if route.routes:
                if depth < _MAX_MOUNT_DEPTH:
                    found += _not_loaded(route.app, path, depth=depth + 1)
            elif isinstance(route.app, StaticFiles):
                found.append((f"GET {path}/…", "static files"))
            else:
                found.append((f"{path}/…", "a mounted app without routes to list"))
    return found


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
        method = scope.get("method", "GET")
        if getattr(self.app, "routes", None) is None:
            return f"{method} {scope['path']}"
        return match_route(self.app, method, scope["path"]) or UNMATCHED_ROUTE


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
        # The closing gate: a request arriving at or after this `time.perf_counter()` is
        # answered 503 without entering the user's app. A deadline, not a flag set by a
        # timer: while the app holds the loop no timer fires, and the requests queued
        # behind it would each hold the loop in turn (100 users x 1 s: 100 s after the end).
        self._admit_until = math.inf
        #: Requests inside the user's app now; requests the gate turned away so far.
        self.inside = 0
        self.turned_away = 0
        self._idle: asyncio.Event | None = None
        #: Let the requests of a route found to hold the loop (BlockWatch.held_routes)
        #: into the app one at a time, each in a pass of the loop of its own, as the demo's
        #: blocking route (BlockingTurnstile: why). Off by default: a run or an audit
        #: measures the app as it is; the window turns it on to stay controllable.
        self.guard_loop_holders = False
        self._turnstile = BlockingTurnstile()

    def admit_until(self, deadline: float) -> None:
        """Requests arriving from `deadline` on (perf_counter) are answered 503, unrun."""
        self._admit_until = deadline
        self._turnstile.open()

    def close_gate(self) -> None:
        """From now on, answer 503 to requests that have not entered the app yet (those
        queued at the guard included)."""
        self._admit_until = time.perf_counter()
        self._turnstile.close()

    def open_gate(self) -> None:
        self._admit_until = math.inf
        self._turnstile.open()

    @property
    def gate_open(self) -> bool:
        return time.perf_counter() < self._admit_until

    async def settled(self, timeout_s: float) -> bool:
        """Wait until no request is inside the user's app (at most `timeout_s`); True if so."""
        if self.inside == 0:
            return True
        idle = self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(idle.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            self._idle = None
        return self.inside == 0

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
        if time.perf_counter() >= self._admit_until:
            await self._turn_away(send)
            return
        label = self._labels.label(scope)
        task = asyncio.current_task()
        self.inside += 1
        self.probes.request_started(label)
        if task is not None:
            self.block_watch.running(task, label)
        started = False
        guarded = self.guard_loop_holders and label in self.block_watch.held_routes
        holds_turn = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            if guarded:
                if not await self._turnstile.acquire():
                    await self._turn_away(send)  # the load stopped while it queued
                    return
                holds_turn = True
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
            if holds_turn:
                self._turnstile.release()
            self.inside -= 1
            if self.inside == 0 and self._idle is not None:
                self._idle.set()
            self.probes.request_finished(label)
            if task is not None:
                self.block_watch.finished(task)

    async def _turn_away(self, send: Send) -> None:
        self.turned_away += 1
        await answer_not_run(send, b"LoopScope: the load has ended", close=True)

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
