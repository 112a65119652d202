"""Which route of an app a concrete request path belongs to, by Starlette's own router.

`match_route(app, "GET", "/items/1")` -> `"GET /items/{item_id}"`: each route's `matches(scope)`
decides, as it does when the app serves the request, walking `Mount`s into sub-apps. Labels
use the OpenAPI spelling of a path (`{file_path}`, not Starlette's `{file_path:path}`), so
they are the labels `operations()` lists.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# "{name:convertor}" -> "{name}": how FastAPI writes a Starlette path in its OpenAPI schema.
_CONVERTOR = re.compile(r"\{([^{}:]+):[^{}]+\}")


def openapi_path(starlette_path: str) -> str:
    """A Starlette route path as OpenAPI spells it: `/files/{p:path}` -> `/files/{p}`."""
    return _CONVERTOR.sub(r"{\1}", starlette_path)


def match_route(app: object, method: str, path: str) -> str | None:
    """The label ("METHOD /template") of the HTTP route of `app` that serves `method path`,
    or None when none does (no route, another method, a mount without routes)."""
    routes = getattr(app, "routes", None)
    if routes is None:
        return None
    scope: dict[str, Any] = {
        "type": "http",
        "method": method.upper(),
        "path": path,
        "root_path": "",
        "path_params": {},
        "headers": [],
        "query_string": b"",
    }
    template = _match(routes, scope, "")
    return None if template is None else f"{method.upper()} {template}"


def _match(routes: Iterable[object], scope: dict[str, Any], prefix: str) -> str | None:
    from starlette.routing import Match, Mount

    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        try:
            match, child = matches(scope)
        except Exception:  # a route type that cannot judge a made-up scope
            continue
        if match != Match.FULL:
            continue
        if isinstance(route, Mount):
            sub_routes = route.routes
            if not sub_routes:
                return None  # static files, a mounted ASGI app: no route to name
            # The router hands the request to the first full match: a mount that matches
            # answers it, with a route of its own or a 404.
            return _match(sub_routes, {**scope, **child}, prefix + openapi_path(route.path))
        template = getattr(route, "path", None)
        if isinstance(template, str):
            return prefix + openapi_path(template)
    return None
