"""The `loopscope` command, the application's entry point: `run`, `sweep` and `serve` headless,
the desktop app otherwise (`python -m loopscope`, the console script and the bundle)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from loopscope.embedded_server import (
    MAX_THREADS,
    EmbeddedServer,
    ServerSettings,
    ServerStartError,
    create_app,
    serve_on_fd,
)
from loopscope.loadgen import gc_tuned_for_load

from ._app_checks import add_startup_timeout_option, import_bounded
from ._audit_command import add_audit_parser, command_audit
from ._audit_png import RENDER_AUDIT_PNG_COMMAND
from ._interrupt import Aborted, Terminated, exit_status, terminate_raises
from ._locust_command import add_locust_parser, command_export_locust
from ._options import (
    EXIT_BAD_ARGUMENTS,
    EXIT_FAILED,
    EXIT_OK,
    MAX_DURATION_S,
    Parser,
    UsageError,
    add_bounded_float,
    add_bounded_int,
    add_placement_options,
    check_output_paths,
    fields_from,
    placement_from,
)
from ._run_command import add_run_parser, command_run
from ._sweep_command import add_sweep_parser, command_sweep
from ._sweep_png import RENDER_SWEEP_PNG_COMMAND

__all__ = ["EXIT_BAD_ARGUMENTS", "EXIT_FAILED", "EXIT_OK", "UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="loopscope",
        description="See what async def and def mean for a FastAPI server under load.",
    )
    commands = parser.add_subparsers(dest="command", parser_class=Parser)

    add_run_parser(commands)
    add_sweep_parser(commands)
    add_audit_parser(commands)
    add_locust_parser(commands)

    serve = commands.add_parser(
        "serve", help="run the demo server alone, for curl, wrk or a browser"
    )
    add_bounded_int(serve, "--port", 0, 65535, default=8000)
    add_bounded_int(serve, "--threads", 1, MAX_THREADS, default=40)
    # Internal: serve on a socket LoopScope bound (ServerProcess), not on --port.
    # Twice: the port the workers share, then this worker's own (its probes).
    serve.add_argument("--fd", type=int, action="append", default=None, help=argparse.SUPPRESS)

    gui = commands.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("--preset", default=None, help='a lesson, e.g. "Sync vs async"')
    add_bounded_float(
        gui,
        "--autorun",
        0,
        MAX_DURATION_S,
        open_low=True,
        dest="autorun_s",
        default=None,
        metavar="SECONDS",
        help="run the preset this long, save what was asked, and exit",
    )
    gui.add_argument(
        "--screenshot",
        type=Path,
        default=None,
        metavar="PNG",
        help="with --autorun: save a picture of the window here",
    )
    gui.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        default=None,
        metavar="PATH",
        help="with --autorun: save the figures per endpoint here",
    )
    gui.add_argument(
        "--app",
        default=None,
        metavar="MODULE:APP",
        help="load your FastAPI/Starlette app into the window (e.g. main:app)",
    )
    gui.add_argument("--app-dir", default=".", metavar="DIR", help="import --app from here")
    add_startup_timeout_option(gui)
    gui.add_argument(
        "--route",
        default=None,
        metavar='"[METHOD] /path?query"',
        help="with --app: put this route under load beside the lesson's endpoints "
        "(--autorun without it: the app's first route that can be sent as it is)",
    )
    gui.add_argument(
        "--size",
        type=window_size,
        default=None,
        metavar="WxH",
        help="open the window at this size in pixels, e.g. 1280x720 (a projector's), for "
        "this launch only",
    )
    gui.add_argument(
        "--presentation",
        action="store_true",
        help="start in presentation mode: large fonts, thick lines (full screen, or at --size)",
    )
    gui.add_argument(
        "--theme",
        choices=("light", "dark"),
        default=None,
        help="the colours, for this launch only (default: as last chosen in the window)",
    )
    add_placement_options(gui)
    return parser


# The smallest window the lessons are laid out for, and the largest screen there is.
MIN_WINDOW = (960, 540)
MAX_WINDOW = (7680, 4320)


def window_size(text: str) -> tuple[int, int]:
    """An argparse type: "WxH" in pixels, within MIN_WINDOW and MAX_WINDOW."""
    width_text, x, height_text = text.strip().lower().partition("x")
    if not x or not width_text.isdigit() or not height_text.isdigit():
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT, e.g. 1280x720, got {text!r}")
    width, height = int(width_text), int(height_text)
    if not (MIN_WINDOW[0] <= width <= MAX_WINDOW[0] and MIN_WINDOW[1] <= height <= MAX_WINDOW[1]):
        low, high = "x".join(map(str, MIN_WINDOW)), "x".join(map(str, MAX_WINDOW))
        raise argparse.ArgumentTypeError(f"--size {text}: from {low} to {high}")
    return width, height


async def _serve(port: int, threads: int) -> None:
    server = EmbeddedServer(create_app(ServerSettings(threads=threads)), port=port)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"LoopScope demo server on {server.url}  (scenarios under /scenario/, "
        f"probes at /stats, docs at /docs); Ctrl+C stops it",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.stop()


# The GuiOptions fields the `gui` options set as they are (`fields_from`); the placement
# is worked out.
_GUI_OPTIONS = (
    "preset",
    "autorun_s",
    "screenshot",
    "json_path",
    "app",
    "app_dir",
    "route",
    "size",
    "presentation",
    "theme",
)


def _command_gui(args: argparse.Namespace) -> int:
    if (args.screenshot or args.json_path) and args.autorun_s is None:
        raise UsageError("--screenshot and --json need --autorun SECONDS")
    # Before the window and its load start: an unwritable output is exit 2, not a lost run.
    check_output_paths({"--screenshot": args.screenshot, "--json": args.json_path})
    if args.route is not None and args.app is None:
        raise UsageError('--route goes with --app, e.g. --app main:app --route "GET /items"')
    # Your app is served on the window's loop: a server process serves the demo's routes.
    server_process, workers = placement_from(args, elsewhere=args.app is not None)
    if args.app is not None:
        # Imported here as well as in the window: a module that does not import is a bad
        # argument (exit 2, one line) before any window opens.
        import_bounded(args.app, args.app_dir, args.startup_timeout_s)
    try:
        from loopscope.desktop_app.app import DisplayError, GuiOptions, run_gui
    except ImportError as exc:
        print(f"loopscope: the desktop app cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    options = GuiOptions(
        **fields_from(args, _GUI_OPTIONS), server_process=server_process, workers=workers
    )
    try:
        return run_gui(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except DisplayError as exc:
        print(f"loopscope: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _check_listening_sockets(fds: Sequence[int]) -> None:
    """`serve --fd` (a worker of a server process): every descriptor is a listening TCP
    socket its parent bound. UsageError (one line) otherwise."""
    for fd in fds:
        try:
            mode = os.fstat(fd).st_mode
        except (OSError, OverflowError) as exc:
            raise UsageError(f"--fd {fd}: {getattr(exc, 'strerror', None) or exc}") from None
        if not stat.S_ISSOCK(mode):
            raise UsageError(f"--fd {fd} is not a socket")
        with socket.socket(fileno=os.dup(fd)) as sock:
            listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            if sock.type != socket.SOCK_STREAM or not listening:
                raise UsageError(f"--fd {fd} is not a listening TCP socket")


def _command_headless(args: argparse.Namespace) -> int:
    if args.command == "serve":
        if args.fd:
            _check_listening_sockets(args.fd)
            asyncio.run(serve_on_fd(args.fd, args.threads))
            return EXIT_OK
        asyncio.run(_serve(args.port, args.threads))
        return EXIT_OK
    with terminate_raises():
        if args.command == "sweep":
            return command_sweep(args)
        if args.command == "audit":
            return command_audit(args)
        if args.command == "export-locust":
            return command_export_locust(args)
        return command_run(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [RENDER_SWEEP_PNG_COMMAND]:
        # Internal: the bundled executable drawing a sweep PNG for its parent process.
        from loopscope.desktop_app.sweep_png import main as render_main

        return render_main(argv[1:])
    if argv[:1] == [RENDER_AUDIT_PNG_COMMAND]:
        # Internal: the bundled executable drawing an audit PNG for its parent process.
        from loopscope.desktop_app.audit_png import main as render_audit_main

        return render_audit_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args(["gui"])
        if args.command == "gui":
            return _command_gui(args)  # the window paces collection on its own thread
        # Up to 1000 requests in flight on one loop (loadgen/_gc_policy.py).
        with gc_tuned_for_load(freeze=True, paced=True):
            return _command_headless(args)
    except UsageError as exc:
        print(f"loopscope: error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    except ServerStartError as exc:
        print(f"loopscope: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Aborted as exc:
        print(
            f"loopscope: interrupted twice ({exc.signal.name}): stopped at once, nothing written",
            file=sys.stderr,
        )
        return exit_status(exc.signal)
    except KeyboardInterrupt:
        # Outside the load (e.g. while the results were being written or drawn).
        print("loopscope: interrupted by SIGINT", file=sys.stderr)
        return exit_status(signal.SIGINT)
    except Terminated:
        print("loopscope: interrupted by SIGTERM", file=sys.stderr)
        return exit_status(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
