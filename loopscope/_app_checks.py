"""A user's app (`--app`) checked before any load: it imports within a bound, and the
routes asked for are routes of it."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from loopscope.embedded_server import AppImportError, import_app, match_route
from loopscope.loadgen import RouteRequest

from ._options import EXIT_BAD_ARGUMENTS, UsageError, add_bounded_float

DEFAULT_STARTUP_TIMEOUT_S = 30.0
MAX_STARTUP_TIMEOUT_S = 3600.0
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def add_startup_timeout_option(parser: argparse.ArgumentParser) -> None:
    add_bounded_float(
        parser,
        "--startup-timeout",
        0,
        MAX_STARTUP_TIMEOUT_S,
        open_low=True,
        dest="startup_timeout_s",
        default=DEFAULT_STARTUP_TIMEOUT_S,
        metavar="SECONDS",
        help="with --app: how long importing it, and then its start-up (lifespan), may "
        f"take each (default {DEFAULT_STARTUP_TIMEOUT_S:g})",
    )


def import_bounded(
    spec: str, app_dir: str, timeout_s: float
) -> Callable[[Any, Any, Any], Awaitable[None]]:
    """The app, imported on this thread as uvicorn does (an app may expect the main
    thread), with a watchdog: an import still running after `timeout_s` cannot be
    stopped, so the process ends with one line, exit 2. UsageError when it fails."""
    module = spec.partition(":")[0]
    timer = threading.Timer(
        timeout_s,
        _give_up,
        args=(f"importing {module!r} did not finish within {timeout_s:g} s (--startup-timeout)",),
    )
    timer.daemon = True
    timer.start()
    try:
        return import_app(spec, app_dir)
    except AppImportError as exc:
        raise UsageError(str(exc)) from None
    finally:
        timer.cancel()


def _give_up(message: str) -> None:
    # Python cannot stop the importing thread (the main one): only the process can end.
    # The process's own stderr: `audit` sends the app's output (sys.stderr too) to its log.
    stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
    stream.write(f"loopscope: error: {message}\n")
    stream.flush()
    os._exit(EXIT_BAD_ARGUMENTS)


def check_route_known(app: object, request: RouteRequest, option: str = "--route") -> None:
    """UsageError unless `request` names a route of `app` (a concrete path such as
    /items/1 matches its template /items/{id}, as the app's own router decides). An app
    whose routes cannot be read (a bare ASGI callable, a mounted sub-app) is let by."""
    routes = getattr(app, "routes", None)
    if not routes:
        return
    path = unquote(request.path)  # the app's router sees the decoded path, as ASGI gives it
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "path_params": {}}
    if match_route(app, request.method, path) is not None or _opaque_mount(routes, scope):
        return
    others = [m for m in _METHODS if m != request.method and match_route(app, m, path)]
    if others:
        raise UsageError(
            f"{option} {request.method} {request.path}: the app takes {'/'.join(others)} "
            f"there, not {request.method}"
        )
    raise UsageError(f"{option} {request.method} {request.path} is not a route of the app")


def _opaque_mount(routes: object, scope: dict[str, Any]) -> bool:
    """True when the request of `scope` goes into a mounted app whose routes are not
    known (static files, a mounted ASGI app): it may well serve it."""
    from starlette.routing import Match, Mount

    for route in routes if isinstance(routes, list) else ():
        if not isinstance(route, Mount):
            continue
        match, child = route.matches(scope)
        if match == Match.FULL:
            sub_routes = route.routes
            return not sub_routes or _opaque_mount(sub_routes, {**scope, **child})
    return False
