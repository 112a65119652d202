"""`loopscope audit module:app`: what kind of route is each one, and does any block the loop?

Exit status: 0 when no route blocks the event loop, 1 when one does (so it can fail a CI
pipeline), 2 for bad arguments (an app that does not import, an unknown route).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from loopscope.embedded_server import (
    MAX_THREADS,
    Operation,
    Parameter,
    ProbedApp,
    match_route,
    operations,
    routes_not_loaded,
)
from loopscope.loadgen._preflight import preflight
from loopscope.loadgen.audit import (
    MAX_LEVEL_S,
    AuditReport,
    AuditSettings,
    audit_routes,
    default_operations,
)

from ._app_checks import add_startup_timeout_option, import_bounded
from ._app_output import AppOutputLog, add_app_log_option
from ._audit_png import render_audit_png
from ._interrupt import report_interrupted, run_interruptible
from ._options import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_bounded_float,
    add_bounded_int,
    bounded_int,
    check_output_paths,
    comma_list,
    write_outputs,
)
from ._route_options import _headers, parse_route
from ._sweep_png import drew_png

MAX_AUDIT_USERS = 200
MAX_AUDIT_DURATION_S = 60.0


def add_audit_parser(commands: Any) -> None:
    """Add `audit` to the subcommands (`commands` is argparse's subparsers action)."""
    audit = commands.add_parser(
        "audit",
        help="load each route of your FastAPI app and say which ones block the event loop",
        description="Serve your ASGI app (FastAPI, Starlette) on LoopScope's embedded server, "
        "load each route at a few levels, and give a verdict per route: async non-blocking, "
        "thread pool (def), blocks the event loop (at file:line), CPU-bound. Exit status 1 "
        "when a route blocks the loop.",
    )
    audit.add_argument("app", metavar="MODULE:APP", help="e.g. main:app, as uvicorn takes it")
    audit.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="import the app from this folder (default: the current one)",
    )
    add_startup_timeout_option(audit)
    audit.add_argument(
        "--route",
        action="append",
        default=None,
        metavar='"METHOD /path"',
        help='a route to load, as the report names it ("GET /items/{item_id}": its values '
        'from the schema) or as a request ("GET /items/1?q=x": sent as typed); repeat for '
        "several (default: every GET that can be sent)",
    )
    audit.add_argument(
        "--header",
        action="append",
        default=[],
        metavar='"Name: value"',
        help="a header on every request, e.g. a token (repeat for several)",
    )
    audit.add_argument(
        "--body",
        default=None,
        metavar="TEXT",
        help="the body for routes that need one; JSON unless --header says",
    )
    audit.add_argument(
        "--levels",
        type=comma_list(bounded_int(1, MAX_AUDIT_USERS, "--levels"), "--levels"),
        default=(1, 8, 32),
        help="users at each level (default 1,8,32)",
    )
    add_bounded_float(
        audit,
        "--duration",
        0.5,
        MAX_AUDIT_DURATION_S,
        default=2.0,
        help="seconds of load per level (default 2, the first half second a warm-up)",
    )
    add_bounded_int(
        audit,
        "--threads",
        1,
        MAX_THREADS,
        default=40,
        help="the thread pool's size for def routes (default 40, as anyio's)",
    )
    add_app_log_option(audit)
    audit.add_argument("--json", type=Path, default=None, metavar="PATH", help="write JSON here")
    audit.add_argument(
        "--markdown", type=Path, default=None, metavar="PATH", help="write the report here too"
    )
    audit.add_argument(
        "--png",
        type=Path,
        default=None,
        metavar="PATH",
        help="draw throughput and latency per route at each level here",
    )


def _choose(app: object, args: argparse.Namespace) -> tuple[list[Operation], list[tuple[str, str]]]:
    """The operations to audit, each fixed to a request the app accepts, and those left out
    with why. Every chosen route is sent once first (the pre-flight)."""
    given = argparse.Namespace(method=None, header=args.header, body=args.body)
    plain_headers = _headers(args.header)
    with_body = parse_route("/", given)  # the --body's bytes and Content-Type, checked
    found = [
        replace(
            operation,
            headers=with_body.headers if operation.has_body else plain_headers,
            body=with_body.body if operation.has_body else None,
        )
        for operation in operations(app)
    ]
    if args.route:
        chosen = [_wanted(app, found, label, given) for label in args.route]
        skipped: list[tuple[str, str]] = []
    else:
        chosen, skipped = default_operations(found)
        skipped += routes_not_loaded(app)
    # The app's own prints while it answers go to stderr, not into the report on stdout.
    with contextlib.redirect_stdout(sys.stderr):
        chosen, refused = asyncio.run(
            preflight(app, chosen, startup_timeout_s=args.startup_timeout_s)  # type: ignore[arg-type]
        )
    if args.route and refused:
        route, why = refused[0]
        raise UsageError(f"--route {route!r}: {why}")
    skipped += refused
    if not chosen:
        why = "; ".join(f"{route}: {reason}" for route, reason in skipped[:3]) or "no routes"
        raise UsageError(
            f"the app has no GET route the audit can send ({why}); name one with --route"
        )
    return chosen, skipped


def _wanted(
    app: object, found: list[Operation], label: str, given: argparse.Namespace
) -> Operation:
    """The operation `--route` names: a route as the report names it ("GET /items/{item_id}"),
    whose values the pre-flight fills, or a concrete request ("GET /items/1?q=x"), matched to
    its route by the app's own router and sent exactly as typed."""
    request = parse_route(label, given)
    by_label = {operation.label: operation for operation in found}
    typed_query = "?" in label
    operation = by_label.get(f"{request.method} {request.path}")
    if operation is None:
        template = match_route(app, request.method, request.path)
        if template is None:
            known = ", ".join(sorted(by_label)) or "none (the app has no routes to list)"
            raise UsageError(f"--route {label!r} is not a route of the app; its routes: {known}")
        method, _, path = template.partition(" ")
        operation = by_label.get(template) or Operation(method=method, path=path, summary="")
        typed_query = True  # a concrete path: the whole request as typed
    if operation.has_body and request.body is None:
        raise UsageError(f"--route {label!r} needs a request body (give --body)")
    if typed_query:
        return replace(
            operation,
            sent_path=request.path,
            sent_query=request.query,
            headers=request.headers,
            body=request.body,
        )
    missing = operation.missing()
    if missing is not None:
        raise UsageError(
            f"--route {label!r}: no value for the required {missing.location} parameter "
            f"{missing.name!r}; type one, e.g. {_example_target(operation, missing)}"
        )
    return operation


def _example_target(operation: Operation, missing: Parameter) -> str:
    if missing.location == "path":
        path = operation.path.replace("{" + missing.name + "}", "VALUE")
        return f'--route "{operation.method} {path}"'
    if missing.location == "query":
        return f'--route "{operation.label}?{missing.name}=VALUE"'
    return f'--header "{missing.name}: VALUE"'


def command_audit(args: argparse.Namespace) -> int:
    check_output_paths(
        {
            "--app-log": args.app_log,
            "--json": args.json,
            "--markdown": args.markdown,
            "--png": args.png,
        }
    )
    # The app's prints and uvicorn's error log go to a file from its import on: stdout
    # carries the report alone.
    with AppOutputLog(args.app_log) as app_log:
        app = import_bounded(args.app, args.app_dir, args.startup_timeout_s)  # UsageError
        chosen, skipped = _choose(app, args)
        settings = AuditSettings(
            levels=args.levels,
            duration_s=args.duration,
            warmup_s=min(0.5, args.duration / 4),
            threads=args.threads,
            max_level_s=max(MAX_LEVEL_S, args.duration),
            startup_timeout_s=args.startup_timeout_s,
        )
        probed = ProbedApp(app, threads=args.threads)

        def progress(what: str) -> None:
            print(f"loopscope: auditing {what}", file=app_log.real_stderr, flush=True)

        report, interrupted = run_interruptible(
            lambda stop: audit_routes(
                probed, args.app, chosen, settings, skipped=skipped, progress=progress, stop=stop
            )
        )
    report = replace(
        report,
        interrupted=None if interrupted is None else interrupted.name,
        app_output=app_log.summary(),
    )
    text = report.to_markdown()
    print(text, end="")
    written = write_outputs(
        {
            "--json": (args.json, lambda path: _write_json(path, report)),
            "--markdown": (args.markdown, lambda path: _write_text(path, text)),
        }
    )
    if args.png is not None and report.routes:  # nothing measured, nothing to draw
        png = args.png
        written = drew_png(lambda: render_audit_png(report, png)) and written
    if interrupted is not None:
        verdict = "a route blocks the loop" if report.blocks_loop else "verdict unknown"
        return report_interrupted(
            interrupted, f"{verdict}; wrote the {len(report.routes)} routes audited so far"
        )
    if report.blocks_loop:
        return EXIT_FAILED
    return EXIT_OK if written else EXIT_FAILED


def _write_json(path: Path, report: AuditReport) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
