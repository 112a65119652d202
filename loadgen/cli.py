"""The `loopscope` command: `run` and `serve` headless, and the desktop app with no arguments."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from embedded_server import (
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    MAX_BLOCKING_DELAY_MS,
    MAX_CPU_ITERATIONS,
    MAX_DELAY_MS,
    MAX_FANOUT,
    MAX_THREADS,
    SCENARIOS,
    EmbeddedServer,
    ServerSettings,
    ServerStartError,
    create_app,
)

from ._generator import MAX_USERS
from ._runner import RunResult, RunSettings, check_loopback_target, run_load

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_ARGUMENTS = 2
MAX_DURATION_S = 3600.0


class UsageError(Exception):
    """Bad arguments: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One readable line instead of argparse's usage block.
        raise UsageError(message)


def _bounded_int(low: int, high: int, what: str) -> type[int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number, got {text!r}"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low} and {high}, got {value}"
            )
        return value

    return parse  # type: ignore[return-value]


def _bounded_float(low: float, high: float, what: str, *, open_low: bool = False) -> type[float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        too_low = value <= low if open_low else value < low
        if math.isnan(value) or too_low or value > high:
            raise argparse.ArgumentTypeError(
                f"{what} must be between {low:g} and {high:g}, got {text}"
            )
        return value

    return parse  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="loopscope",
        description="See what async def and def mean for a FastAPI server under load.",
    )
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    run = commands.add_parser("run", help="run one closed-loop load test headless")
    run.add_argument(
        "--scenario",
        required=True,
        choices=SCENARIOS,
        metavar="NAME",
        help=f"one of: {', '.join(SCENARIOS)}",
    )
    run.add_argument(
        "--concurrency",
        type=_bounded_int(1, MAX_USERS, "--concurrency"),
        default=10,
        help="users, each waiting for its answer before the next request",
    )
    run.add_argument(
        "--delay-ms",
        type=_bounded_float(0, MAX_DELAY_MS, "--delay-ms"),
        default=200.0,
        help="simulated I/O time per request, in milliseconds",
    )
    run.add_argument(
        "--duration",
        type=_bounded_float(0, MAX_DURATION_S, "--duration", open_low=True),
        default=10.0,
        help="seconds of load, warm-up included",
    )
    run.add_argument(
        "--warmup",
        type=_bounded_float(0, MAX_DURATION_S, "--warmup"),
        default=None,
        help="seconds excluded from the summary (default: min(1, duration/5))",
    )
    run.add_argument(
        "--threads",
        type=_bounded_int(1, MAX_THREADS, "--threads"),
        default=None,
        help="thread-pool tokens for def routes (FastAPI's default: 40)",
    )
    run.add_argument(
        "--iterations",
        type=_bounded_int(1, MAX_CPU_ITERATIONS, "--iterations"),
        default=DEFAULT_CPU_ITERATIONS,
        help="CPU work per request (cpu-* scenarios)",
    )
    run.add_argument(
        "--fanout",
        type=_bounded_int(1, MAX_FANOUT, "--fanout"),
        default=DEFAULT_FANOUT,
        help="downstream calls per request (fanout-*)",
    )
    run.add_argument(
        "--rate",
        type=_bounded_float(0, 100_000, "--rate", open_low=True),
        default=None,
        help="open loop: requests per second (not available yet)",
    )
    run.add_argument(
        "--target",
        default=None,
        help="a server on this machine to load instead of the embedded one",
    )
    run.add_argument("--json", type=Path, default=None, help="write the result as JSON here")
    run.add_argument("--csv", type=Path, default=None, help="write the result as CSV here")

    serve = commands.add_parser(
        "serve", help="run the demo server alone, for curl, wrk or a browser"
    )
    serve.add_argument("--port", type=_bounded_int(0, 65535, "--port"), default=8000)
    serve.add_argument("--threads", type=_bounded_int(1, MAX_THREADS, "--threads"), default=40)

    gui = commands.add_parser("gui", help="open the desktop app (the default)")
    gui.add_argument("--preset", default=None, help='a lesson, e.g. "Sync vs async"')
    gui.add_argument(
        "--autorun",
        type=_bounded_float(0, MAX_DURATION_S, "--autorun", open_low=True),
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
        type=Path,
        default=None,
        metavar="PATH",
        help="with --autorun: save the figures per endpoint here",
    )
    return parser


def _fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def _ratio(measured: float, predicted: float) -> str:
    if math.isnan(measured) or predicted <= 0 or math.isinf(predicted):
        return "-"
    return f"{measured / predicted:.2f}"


def format_summary(result: RunResult) -> str:
    s, summary, p = result.settings, result.summary, result.prediction
    threads = f", {result.threads} threads" if s.scenario in ("sync", "cpu-sync") else ""
    lines = [
        f"LoopScope run: {s.scenario}, {s.concurrency} users, delay {s.delay_ms:g} ms{threads}",
        f"  {s.duration_s:g} s of load against {result.target}; "
        f"the first {s.effective_warmup_s:g} s are warm-up, not counted",
        "",
        f"  {'':<20}{'measured':>12}{'theory':>12}{'ratio':>8}",
        f"  {'throughput (req/s)':<20}{_fmt(summary.throughput_rps):>12}"
        f"{_fmt(p.throughput_rps):>12}{_ratio(summary.throughput_rps, p.throughput_rps):>8}",
        f"  {'latency p50 (ms)':<20}{_fmt(summary.latency.p50):>12}"
        f"{_fmt(p.latency_ms):>12}{_ratio(summary.latency.p50, p.latency_ms):>8}",
    ]
    for name in ("p90", "p99", "max", "mean"):
        value = getattr(summary.latency, name)
        lines.append(f"  {'latency ' + name + ' (ms)':<20}{_fmt(value):>12}")
    errors = ", ".join(f"{kind}: {count}" for kind, count in sorted(summary.errors.items()))
    lines += [
        "",
        f"  requests: {summary.requests:,} ({summary.ok:,} ok); errors: {errors or 'none'}",
        f"  server: waited {_fmt(summary.server_wait_ms_mean)} ms for a thread or the loop, "
        f"worked {_fmt(summary.server_work_ms_mean)} ms (means)",
        f"  theory: {p.explanation}",
    ]
    return "\n".join(lines)


def _write_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def _write_run_csv(path: Path, result: RunResult) -> None:
    row = result.to_json()
    latency = row["latency_ms"]
    theory_row = row["theory"]
    assert isinstance(latency, dict) and isinstance(theory_row, dict)
    columns = {
        "scenario": row["scenario"],
        "concurrency": row["concurrency"],
        "delay_ms": row["delay_ms"],
        "threads": row["threads"],
        "duration_s": row["duration_s"],
        "requests": row["requests"],
        "errors": sum(result.summary.errors.values()),
        "throughput_rps": row["throughput_rps"],
        **{f"latency_{k}_ms": v for k, v in latency.items()},
        "theory_throughput_rps": theory_row["throughput_rps"],
        "theory_latency_ms": theory_row["latency_ms"],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(columns)
    values = ",".join("" if v is None else str(v) for v in columns.values())
    path.write_text(f"{header}\n{values}\n", encoding="utf-8")


def _command_run(args: argparse.Namespace) -> int:
    if args.rate is not None:
        raise UsageError("--rate (open loop) is not available yet; use --concurrency")
    if args.scenario == "blocking" and args.delay_ms > MAX_BLOCKING_DELAY_MS:
        raise UsageError(f"--delay-ms for blocking must be at most {MAX_BLOCKING_DELAY_MS}")
    if args.warmup is not None and args.warmup >= args.duration:
        raise UsageError("--warmup must be shorter than --duration")
    if args.target is not None:
        try:
            check_loopback_target(args.target)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    settings = RunSettings(
        scenario=args.scenario,
        concurrency=args.concurrency,
        delay_ms=args.delay_ms,
        duration_s=args.duration,
        warmup_s=args.warmup,
        threads=args.threads,
        iterations=args.iterations,
        fanout=args.fanout,
        target=args.target,
    )
    result = asyncio.run(run_load(settings))
    print(format_summary(result))
    if args.json is not None:
        _write_json(args.json, result.to_json())
    if args.csv is not None:
        _write_run_csv(args.csv, result)
    if result.summary.ok == 0:
        print("loopscope: no request succeeded; is the target a LoopScope server?", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


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


def _command_gui(args: argparse.Namespace) -> int:
    if (args.screenshot or args.json) and args.autorun is None:
        raise UsageError("--screenshot and --json need --autorun SECONDS")
    try:
        from desktop_app.main import DisplayError, GuiOptions, run_gui
    except ImportError as exc:
        print(f"loopscope: the desktop app cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    options = GuiOptions(
        preset=args.preset, autorun_s=args.autorun, screenshot=args.screenshot, json_path=args.json
    )
    try:
        return run_gui(options)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except DisplayError as exc:
        print(f"loopscope: {exc}", file=sys.stderr)
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            args = parser.parse_args(["gui"])
        if args.command == "gui":
            return _command_gui(args)
        if args.command == "serve":
            asyncio.run(_serve(args.port, args.threads))
            return EXIT_OK
        return _command_run(args)
    except UsageError as exc:
        print(f"loopscope: error: {exc}", file=sys.stderr)
        return EXIT_BAD_ARGUMENTS
    except ServerStartError as exc:
        print(f"loopscope: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
