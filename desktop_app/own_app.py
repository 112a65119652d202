"""The user's own app in the window, with no Qt in it: what the "Your app" panel drives.

`OwnTarget.open_app("main:app")` imports the app (uvicorn's way), wraps it in the probes
(`ProbedApp`) and serves it on an embedded server of its own; `OwnTarget.for_url(url)` points
at a server already running. Either way `operations` lists what the route picker offers and
`request(...)` turns what the user typed ("GET", "/items?limit=10") into the `RouteRequest`
the generator repeats. Every failure is a `ValueError` whose message is one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from loopscope.embedded_server import (
    DEFAULT_THREADS,
    AppImportError,
    BlockSite,
    EmbeddedServer,
    Operation,
    ProbedApp,
    ServerStartError,
    import_app,
    operations,
)
from loopscope.loadgen import (
    MAX_ROUTE_BODY_BYTES,
    ROUTE_METHODS,
    RouteRequest,
    check_loopback_target,
    check_remote_target,
)


class RemoteHostError(ValueError):
    """The URL names a host that is not this machine: it needs the user's explicit yes."""


def operation_target(operation: Operation) -> str:
    """The path and query the picker fills in for `operation`, examples and defaults filled."""
    query = "&".join(f"{name}={value}" for name, value in operation.query().items())
    return operation.concrete_path() + (f"?{query}" if query else "")


def split_url(url: str, *, allow_remote: bool) -> tuple[str, str]:
    """(base URL, "/path?query") of a whole URL typed in the window. ValueError (one line)
    when it is not an http(s) URL; RemoteHostError when its host is not this machine and
    `allow_remote` is False (the same checks as `run --url`)."""
    parts = urlsplit(url.strip())
    base = f"{parts.scheme}://{parts.netloc}"
    try:
        checked = check_remote_target(base)
    except ValueError as exc:
        raise ValueError(f"not a server's URL: {exc}") from None
    if not allow_remote:
        try:
            checked = check_loopback_target(base)
        except ValueError as exc:
            raise RemoteHostError(f"{parts.hostname} is not this machine ({exc})") from None
    return checked, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """ "Name: value; Other: value" as header pairs. ValueError (one line) when a part is
    not "Name: value"."""
    headers: list[tuple[str, str]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise ValueError(f'a header is "Name: value" (several: separated by ;), got {part!r}')
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


def fits(template: str, path: str) -> bool:
    """Does `path` ("/items/3") fit the route `template` ("/items/{item_id}")?"""
    pattern = "".join(
        "[^/]+" if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]*\})", template)
    )
    return re.fullmatch(pattern, path) is not None


def route_request(
    method: str,
    target: str,
    body: str = "",
    headers: tuple[tuple[str, str], ...] = (),
    *,
    operation: Operation | None = None,
) -> RouteRequest:
    """The request for `method` and `target` ("/path?query"); a non-empty body is sent as
    JSON. Its label is `operation`'s ("GET /items/{item_id}") when the request fits it: the
    label the server's in-flight probe counts it under. ValueError (one line) for what
    cannot be sent."""
    method = method.upper()
    if method not in ROUTE_METHODS:
        raise ValueError(f"the method is one of {', '.join(ROUTE_METHODS)}, got {method!r}")
    target = target.strip()
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        raise ValueError(f"a route's path starts with /, got {target!r}")
    if any(c.isspace() for c in target) or "{" in path:
        # "{id}" left in the path: the schema had no example for it; the user must type one.
        raise ValueError(f"fill in the path's parameters (no spaces, no braces): {target!r}")
    data = body.strip().encode() or None
    if data is not None:
        if len(data) > MAX_ROUTE_BODY_BYTES:
            raise ValueError(f"the body is limited to {MAX_ROUTE_BODY_BYTES:,} bytes")
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers += (("Content-Type", "application/json"),)
    pairs = tuple(
        (name, value)
        for name, _, value in (item.partition("=") for item in query.split("&") if item)
    )
    label = f"{method} {path}"
    if operation is not None and operation.method == method and fits(operation.path, path):
        label = operation.label
    return RouteRequest(
        scenario=label,
        method=method,
        path=path,
        query=pairs,
        headers=headers,
        body=data,
    )


@dataclass(slots=True)
class OwnTarget:
    """Where the user's routes are served: their app on an embedded server of its own
    (`probed`, `server`), or a server already running (`url` only)."""

    name: str  # "examples.shop.app:app", or the URL's base
    url: str  # where requests go
    operations: list[Operation] = field(default_factory=list)
    probed: ProbedApp | None = None
    server: EmbeddedServer | None = None
    remote: bool = False  # a host that is not this machine (the user confirmed it)

    @classmethod
    async def open_app(
        cls, spec: str, app_dir: str | Path | None = ".", *, threads: int = DEFAULT_THREADS
    ) -> OwnTarget:
        """Import `spec`, run its lifespan and serve it on 127.0.0.1, port 0.

        A second embedded server rather than the demo's: the demo app keeps serving (its
        lessons keep working beside the user's routes), and an app whose start-up fails
        cannot take the demo down with it. Both run on the one loop, so the loop lag and
        anyio's thread limiter (one per loop) are shared, as they would be in one uvicorn.
        """
        spec = spec.strip()
        try:
            app = import_app(spec, app_dir or ".")
        except AppImportError as exc:
            raise ValueError(str(exc)) from None
        probed = ProbedApp(app, threads=threads)
        server = EmbeddedServer(probed)
        try:
            await server.start()
        except ServerStartError as exc:
            raise ValueError(str(exc)) from None
        return cls(
            name=spec, url=server.url, operations=operations(app), probed=probed, server=server
        )

    @classmethod
    def for_url(cls, base: str, *, remote: bool) -> OwnTarget:
        """A server already running at `base` (checked by `split_url`): no probes there."""
        return cls(name=base, url=base, remote=remote)

    def block_sites(self) -> list[BlockSite]:
        """Where the app's code held the event loop, longest total first (none for a URL)."""
        return [] if self.probed is None else self.probed.block_watch.sites()

    def in_flight(self) -> dict[str, int]:
        """Requests in flight per route label, server side (none known for a URL)."""
        return {} if self.probed is None else self.probed.probes.in_flight()

    async def close(self) -> None:
        """Stop the app's server: its lifespan's shutdown runs, its probes detach."""
        if self.server is not None:
            await self.server.stop()
            self.server = None
