"""`loopscope audit module:app`: what kind of route is each one, and does any block the loop?

Exit status: 0 when no route blocks the event loop, 1 when one does (so it can fail a CI
pipeline), 2 for bad arguments (an app that does not import, an unknown route).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from loopscope.embedded_server import (
    MAX_THREADS,
    AppImportError,
    Operation,
    ProbedApp,
    operations,
)
from loopscope.loadgen.audit import AuditReport, AuditSettings, audit_routes, default_operations

from ._app_checks import add_startup_timeout_option, import_bounded
from ._audit_png import render_audit_png
from ._interrupt import exit_status, run_interruptible
from ._options import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    bounded_float,
    bounded_int,
    check_output_paths,
    comma_list,
    write_outputs,
)
from ._sweep_png import SweepPngError

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
        help="a route to load, as the report names it (repeat for several; default: every GET "
        "that needs no parameter without an example)",
    )
    audit.add_argument(
        "--levels",
        type=comma_list(bounded_int(1, MAX_AUDIT_USERS, "--levels"), "--levels"),
        default=(1, 8, 32),
        help="users at each level (default 1,8,32)",
    )
    audit.add_argument(
        "--duration",
        type=bounded_float(0.5, MAX_AUDIT_DURATION_S, "--duration"),
        default=2.0,
        help="seconds of load per level (default 2, the first half second a warm-up)",
    )
    audit.add_argument(
        "--threads",
        type=bounded_int(1, MAX_THREADS, "--threads"),
        default=40,
        help="the thread pool's size for def routes (default 40, as anyio's)",
    )
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


def _choose(
    found: list[Operation], wanted: list[str] | None
) -> tuple[list[Operation], list[tuple[str, str]]]:
    if not wanted:
        chosen, skipped = default_operations(found)
        if not chosen:
            raise UsageError(
                "the app has no GET route that can be sent as it is; name one with --route"
            )
        return chosen, skipped
    by_label = {operation.label: operation for operation in found}
    chosen = []
    for label in wanted:
        normalised = " ".join(label.split())
        method, _, path = normalised.partition(" ")
        operation = by_label.get(f"{method.upper()} {path}")
        if operation is None:
            known = ", ".join(sorted(by_label)) or "none (the app has no OpenAPI schema)"
            raise UsageError(f"--route {label!r} is not a route of the app; its routes: {known}")
        if not operation.ready:
            raise UsageError(
                f"--route {label!r} needs a body or a parameter without an example; "
                "the audit cannot send it yet"
            )
        chosen.append(operation)
    return chosen, []


def command_audit(args: argparse.Namespace) -> int:
    check_output_paths({"--json": args.json, "--markdown": args.markdown, "--png": args.png})
    try:
        app = import_bounded(args.app, args.app_dir, args.startup_timeout)
    except AppImportError as exc:
        raise UsageError(str(exc)) from None
    chosen, skipped = _choose(operations(app), args.route)
    settings = AuditSettings(
        levels=args.levels,
        duration_s=args.duration,
        warmup_s=min(0.5, args.duration / 4),
        threads=args.threads,
    )
    probed = ProbedApp(app, threads=args.threads)

    def progress(what: str) -> None:
        print(f"loopscope: auditing {what}", file=sys.stderr, flush=True)

    report, interrupted = run_interruptible(
        lambda stop: audit_routes(
            probed, args.app, chosen, settings, skipped=skipped, progress=progress, stop=stop
        )
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
        try:
            render_audit_png(report, args.png)
        except SweepPngError as exc:
            print(f"loopscope: {exc}", file=sys.stderr)
            written = False
    if interrupted is not None:
        print(
            f"loopscope: interrupted by {interrupted.name}: wrote the {len(report.routes)} "
            "routes audited so far",
            file=sys.stderr,
        )
        return exit_status(interrupted)
    if report.blocks_loop:
        return EXIT_FAILED
    return EXIT_OK if written else EXIT_FAILED


def _write_json(path: Path, report: AuditReport) -> None:
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
