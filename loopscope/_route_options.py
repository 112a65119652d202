"""The options that point `run` at a route of the user's own app: `--app` or `--url`."""

from __future__ import annotations

import argparse
import json
import re
from urllib.parse import parse_qsl, urlsplit

from loopscope.loadgen import (
    MAX_ROUTE_BODY_BYTES,
    ROUTE_METHODS,
    RouteRequest,
    check_loopback_target,
    check_remote_target,
    check_target,
)

from ._app_checks import add_startup_timeout_option
from ._app_output import add_app_log_option
from ._options import UsageError
from ._tls_options import add_tls_options

# An HTTP header name is one RFC 7230 token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def add_route_options(parser: argparse.ArgumentParser, *, sweep: bool = False) -> None:
    """--app and its route (`sweep`: several --route, no --url), or --url (`run`)."""
    group = parser.add_argument_group(
        "your own app (instead of --scenario" + ("s)" if sweep else ")"),
        "Load a route of your FastAPI/Starlette app, served on LoopScope's embedded server "
        "(--app, every probe works on it)"
        + ("." if sweep else ", or of a server already running (--url)."),
    )
    group.add_argument("--app", metavar="MODULE:APP", help="e.g. main:app, as uvicorn takes it")
    group.add_argument("--app-dir", default=".", metavar="DIR", help="import --app from here")
    add_startup_timeout_option(group)  # type: ignore[arg-type]
    if sweep:
        group.add_argument(
            "--route",
            action="append",
            default=None,
            metavar='"[METHOD] /path?query"',
            help='with --app: a route to sweep, e.g. "GET /items?limit=10" (repeat for several)',
        )
    else:
        group.add_argument(
            "--route",
            metavar='"[METHOD] /path?query"',
            help='with --app: the request to repeat, e.g. "GET /items?limit=10"',
        )
        group.add_argument(
            "--url", metavar="URL", help="a server already running: the whole URL to repeat"
        )
        group.add_argument(
            "--allow-remote",
            action="store_true",
            help="let --url name a host that is not this machine (a load can harm a server "
            "that is not yours: only your own, with its owner's consent)",
        )
        add_tls_options(group)
        # `sweep` does not keep the app's output apart (yet): no --app-log there.
        add_app_log_option(group)  # type: ignore[arg-type]
    group.add_argument("--method", default=None, choices=ROUTE_METHODS, metavar="METHOD")
    group.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"Name: value"',
        help="a request header (repeat for several)",
    )
    group.add_argument(
        "--body",
        default=None,
        metavar="TEXT",
        help="a request body: JSON, checked before the load, unless --body-type (or a "
        "Content-Type --header) names another type",
    )
    group.add_argument(
        "--body-type",
        default=None,
        metavar="TYPE",
        help="the Content-Type of a --body that is not JSON, e.g. text/plain",
    )


def uses_route(args: argparse.Namespace) -> bool:
    return args.app is not None or getattr(args, "url", None) is not None


def _headers(raw: list[str]) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for item in raw:
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip(" \t")
        if not sep or not name:
            raise UsageError(f'--header is "Name: value", got {item!r}')
        check_header(name, value, "--header")
        headers.append((name, value))
    return tuple(headers)


def check_header(name: str, value: str, what: str) -> None:
    """UsageError unless `name: value` goes on the wire as one well-formed header line."""
    if not _TOKEN.fullmatch(name):
        raise UsageError(
            f"{what} name {name!r} is not an HTTP header name (letters, digits and "
            "!#$%&'*+-.^_`|~ only)"
        )
    if any(c in value for c in "\r\n\0"):
        # Sent as is, a line break would start a header (or a request) of its own.
        raise UsageError(f"{what} {name}: the value contains a line break or NUL")
    if not value.isascii():
        raise UsageError(
            f"{what} {name}: the value must be ASCII (HTTP sends header values as bytes; "
            "encode other characters as the server expects, e.g. percent-encoding)"
        )
    if any((ord(c) < 0x20 and c != "\t") or c == "\x7f" for c in value):
        raise UsageError(f"{what} {name}: the value contains a control character")


def route_from(args: argparse.Namespace) -> tuple[RouteRequest, str | None]:
    """The request `run` repeats, and the target's base URL (None: the app, embedded).
    UsageError (one line) for anything inconsistent."""
    if args.scenario is not None and uses_route(args):
        raise UsageError("give either --scenario or --app/--url, not both")
    if args.app is not None and args.url is not None:
        raise UsageError("give either --app (served here) or --url (already running), not both")
    if args.target is not None:
        raise UsageError("--target is for LoopScope's demo server; with your own use --url")
    if args.app is not None:
        if args.route is None:
            raise UsageError('--app needs --route, e.g. --route "GET /items"')
        return parse_route(args.route, args), None
    if args.route is not None:
        raise UsageError("--route goes with --app; with --url the URL names the route")
    check = check_remote_target if args.allow_remote else check_loopback_target
    parts = urlsplit(args.url)
    try:
        base = check(f"{parts.scheme}://{parts.netloc}")
    except ValueError as exc:
        message = str(exc)
        if not args.allow_remote and "on this machine" in message:
            message += "; --allow-remote loads another host (only a server that is yours)"
        raise UsageError(message) from None
    return _request(None, url_target(args.url), args), base


def url_target(url: str) -> str:
    """The path and query of `url` exactly as written ("/" when it has none); its
    fragment is never sent."""
    rest = url.split("#", 1)[0].split("://", 1)[-1]
    start = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    target = rest[start:]
    return target if target.startswith("/") else "/" + target


def parse_route(text: str, args: argparse.Namespace) -> RouteRequest:
    """`"[METHOD] /path?query"` with the --method, --header and --body of `args`."""
    first, _, rest = text.strip().partition(" ")
    method, target = (first.upper(), rest.strip()) if rest else (None, first)
    if method is not None and method not in ROUTE_METHODS:
        raise UsageError(f"--route starts with an HTTP method or a /path, got {text!r}")
    return _request(method, target, args)


def _request(method: str | None, target: str, args: argparse.Namespace) -> RouteRequest:
    if method is not None and args.method is not None and method != args.method:
        raise UsageError(f"--route says {method} and --method says {args.method}")
    method = method or args.method or ("POST" if args.body is not None else "GET")
    if not target.startswith("/"):
        raise UsageError(f"a route's path starts with /, got {target!r}")
    try:
        check_target(target, "--url" if getattr(args, "url", None) else "--route")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    path, _, query = target.partition("?")
    headers = _headers(args.header) + _body_type(args)
    body = None
    if args.body is not None:
        body = args.body.encode()
        if len(body) > MAX_ROUTE_BODY_BYTES:
            raise UsageError(f"--body is limited to {MAX_ROUTE_BODY_BYTES:,} bytes")
        if not any(name.lower() == "content-type" for name, _ in headers):
            _check_json(args.body)
            headers += (("Content-Type", "application/json"),)
    elif getattr(args, "body_type", None) is not None:
        raise UsageError("--body-type goes with --body")
    return RouteRequest(
        scenario=f"{method} {path}",
        method=method,
        path=path,
        # The pairs only describe the query; `target` is what is sent, byte for byte.
        query=tuple(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        body=body,
        target=target,
    )


def _body_type(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    given = getattr(args, "body_type", None)  # `audit` has no --body-type
    if given is None:
        return ()
    if any(item.partition(":")[0].strip().lower() == "content-type" for item in args.header):
        raise UsageError("give either --body-type or a Content-Type --header, not both")
    body_type = given.strip()
    type_, slash, subtype = body_type.partition(";")[0].strip().partition("/")
    if not (slash and _TOKEN.fullmatch(type_) and _TOKEN.fullmatch(subtype)):
        raise UsageError(f"--body-type is a media type like text/plain, got {given!r}")
    check_header("Content-Type", body_type, "--body-type")
    return (("Content-Type", body_type),)


def _check_json(body: str) -> None:
    try:
        json.loads(body)
    except ValueError as exc:
        raise UsageError(
            f"--body is not JSON ({exc}); for another content type give --body-type TYPE"
        ) from None
