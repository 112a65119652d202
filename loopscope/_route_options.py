"""The options that point `run` at a route of the user's own app: `--app` or `--url`."""

from __future__ import annotations

import argparse
from urllib.parse import urlsplit

from loopscope.loadgen import RouteRequest, check_loopback_target, check_remote_target

from ._options import UsageError
from ._tls_options import add_tls_options

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_BODY_BYTES = 1_000_000


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
    group.add_argument("--method", default=None, choices=METHODS, metavar="METHOD")
    group.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"Name: value"',
        help="a request header (repeat for several)",
    )
    group.add_argument(
        "--body", default=None, metavar="TEXT", help="a request body; JSON unless --header says"
    )


def uses_route(args: argparse.Namespace) -> bool:
    return args.app is not None or getattr(args, "url", None) is not None


def _headers(raw: list[str]) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for item in raw:
        name, sep, value = item.partition(":")
        if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
            raise UsageError(f'--header is "Name: value", got {item!r}')
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


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
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _request(None, target, args), base


def parse_route(text: str, args: argparse.Namespace) -> RouteRequest:
    """`"[METHOD] /path?query"` with the --method, --header and --body of `args`."""
    first, _, rest = text.strip().partition(" ")
    method, target = (first.upper(), rest.strip()) if rest else (None, first)
    if method is not None and method not in METHODS:
        raise UsageError(f"--route starts with an HTTP method or a /path, got {text!r}")
    return _request(method, target, args)


def _request(method: str | None, target: str, args: argparse.Namespace) -> RouteRequest:
    if method is not None and args.method is not None and method != args.method:
        raise UsageError(f"--route says {method} and --method says {args.method}")
    method = method or args.method or ("POST" if args.body is not None else "GET")
    path, _, query = target.partition("?")
    if not path.startswith("/"):
        raise UsageError(f"a route's path starts with /, got {target!r}")
    headers = _headers(args.header)
    body = None
    if args.body is not None:
        body = args.body.encode()
        if len(body) > MAX_BODY_BYTES:
            raise UsageError(f"--body is limited to {MAX_BODY_BYTES:,} bytes")
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers += (("Content-Type", "application/json"),)
    pairs = tuple(
        (name, value)
        for name, _, value in (item.partition("=") for item in query.split("&") if item)
    )
    return RouteRequest(
        scenario=f"{method} {path}",
        method=method,
        path=path,
        query=pairs,
        headers=headers,
        body=body,
    )
