"""Before the audit loads a route: send it once, and find values the app accepts.

The schema's first values are sent (`Operation.first_choice`); on a 422 the parameters the
app's answer names move on to their next value (any other 422 steps through the
combinations in order), at most `MAX_TRIES` requests per route. A route still refused is
left out, with the parameter and the app's own message as the reason. Any answer other
than 422 (a 404, a 500, a timeout) is not a verdict on the values: the audit measures it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from loopscope.embedded_server import ASGIApp, EmbeddedServer, Operation, Parameter, ProbedApp

# Requests per route at most: a few values for each of a few parameters.
MAX_TRIES = 8
# A route slower than this is measured by the audit, not judged here.
TIMEOUT_S = 10.0
# Enough of a 422 body to read FastAPI's `detail` list.
_MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    where: tuple[str, str] | None  # (location, name) the app named, if it did
    message: str


async def preflight(
    app: ASGIApp,
    chosen: Sequence[Operation],
    *,
    tries: int = MAX_TRIES,
    timeout_s: float = TIMEOUT_S,
    startup_timeout_s: float = 30.0,
) -> tuple[list[Operation], list[tuple[str, str]]]:
    """Each of `chosen` fixed to values the app accepts, and those it refused with why.

    An operation whose request is already fixed (`sent_path`, typed by the user) is kept
    as it is. The app is served on the embedded server with its probes, lifespan and all,
    as the audit will serve it; ServerStartError when its start-up fails or outlasts
    `startup_timeout_s`.
    """
    kept: list[Operation] = []
    refused: list[tuple[str, str]] = []
    todo = [operation for operation in chosen if operation.sent_path is None]
    if not todo:
        return list(chosen), []
    settled: dict[int, Operation | str] = {}
    server = EmbeddedServer(ProbedApp(app))
    await server.start(startup_timeout_s)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=timeout_s) as client:
            for operation in todo:
                settled[id(operation)] = await _settle(client, operation, tries)
    finally:
        await server.stop()
    for operation in chosen:
        result = settled.get(id(operation), operation)
        if isinstance(result, str):
            refused.append((operation.label, result))
        else:
            kept.append(result)
    return kept, refused


async def _settle(client: httpx.AsyncClient, operation: Operation, tries: int) -> Operation | str:
    """The operation with values the app accepts, or why there are none."""
    sent = [p for p in operation.parameters if p.sent]
    index = {(p.location, p.name): 0 for p in sent}
    by_key = {(p.location, p.name): p for p in sent}
    refusal: _Refusal | None = None
    for _ in range(max(1, tries)):
        choice = {key: by_key[key].values[i] for key, i in index.items()}
        fixed = operation.with_choice(choice)
        refusal = await _send(client, fixed)
        if refusal is None:
            return fixed
        if not _next(index, by_key, refusal.where):
            break
    assert refusal is not None
    return _reason(refusal, by_key)


def _next(
    index: dict[tuple[str, str], int],
    by_key: dict[tuple[str, str], Parameter],
    named: tuple[str, str] | None,
) -> bool:
    """Move to the next combination; False when there is none left worth sending."""
    if named is not None and named in index:
        if index[named] + 1 < len(by_key[named].values):
            index[named] += 1
            return True
        return False  # the parameter the app refuses has no other value
    # The app named nothing we send: the next combination, as an odometer counts.
    for key in index:
        if index[key] + 1 < len(by_key[key].values):
            index[key] += 1
            return True
        index[key] = 0
    return False


async def _send(client: httpx.AsyncClient, operation: Operation) -> _Refusal | None:
    """Send once; a `_Refusal` for a 422, None for anything else (the audit measures it)."""
    try:
        async with client.stream(
            operation.method,
            operation.concrete_path(),
            params=list(operation.query().items()),
            headers=list(operation.headers),
            content=operation.body,
        ) as response:
            if response.status_code != 422:
                return None  # its body is not needed: a stream may never end
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) >= _MAX_BODY:
                    break
    except httpx.HTTPError:
        return None  # slow, or closed: the audit's to measure and report
    return _refusal(body[:_MAX_BODY])


def _refusal(body: bytes) -> _Refusal:
    """What a 422 says, read as FastAPI writes it: `{"detail": [{"loc": [...], "msg": ...}]}`."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        loc = first.get("loc")
        where = None
        if isinstance(loc, list) and len(loc) >= 2 and all(isinstance(x, str | int) for x in loc):
            where = (str(loc[0]), str(loc[1]))
        return _Refusal(422, where, str(first.get("msg", ""))[:200])
    text = body.decode("utf-8", "replace").strip()
    return _Refusal(422, None, " ".join(text.split())[:200])


def _reason(refusal: _Refusal, by_key: dict[tuple[str, str], Parameter]) -> str:
    reason = f"every value tried was refused: {refusal.status}"
    if refusal.where is not None:
        location, name = refusal.where
        reason += f" for the {location} parameter {name!r}"
        parameter = by_key.get(refusal.where)
        if parameter is not None:
            reason += f" (tried {', '.join(repr(v) for v in parameter.values)})"
    if refusal.message:
        reason += f": {refusal.message}"
    return reason
