"""`loopscope sweep`: its arguments, progress bar, report table and exports."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from loopscope.embedded_server import SCENARIOS
from loopscope.loadgen import MAX_IN_FLIGHT, MAX_RATE, MAX_USERS, RouteRequest, RunResult
from loopscope.loadgen.export import write_json, write_sweep_csv
from loopscope.loadgen.sweep import (
    MAX_STEP_S,
    SweepProgress,
    SweepSettings,
    run_sweep,
    step_label,
)

from ._app_checks import check_route_known, import_bounded
from ._figures import error_counts, error_rate, fmt, percent, ratio
from ._interrupt import report_interrupted, run_interruptible
from ._options import (
    EXIT_FAILED,
    EXIT_OK,
    UsageError,
    add_bounded_float,
    add_bounded_int,
    add_workload_options,
    bounded_float,
    bounded_int,
    check_measured_period,
    check_output_paths,
    comma_list,
    workload_from,
    write_outputs,
)
from ._route_options import add_route_options, parse_route
from ._sweep_png import drew_png, render_sweep_png

_BAR_WIDTH = 20


def add_sweep_parser(commands: Any) -> None:
    """Add `sweep` to the subcommands (`commands` is argparse's subparsers action)."""
    sweep = commands.add_parser(
        "sweep", help="run every scenario at every load level, one step each, headless"
    )
    sweep.add_argument(
        "--scenarios",
        default=None,
        type=comma_list(str, "--scenarios"),
        metavar="A,B",
        help=f"comma-separated, from: {', '.join(SCENARIOS)} (or --app and --route: your own)",
    )
    levels = sweep.add_mutually_exclusive_group(required=True)
    levels.add_argument(
        "--concurrency",
        type=comma_list(bounded_int(1, MAX_USERS, "--concurrency"), "--concurrency"),
        metavar="N,M",
        help="closed loop: users per step, e.g. 1,10,50,100",
    )
    levels.add_argument(
        "--rates",
        type=comma_list(bounded_float(0, MAX_RATE, "--rates", open_low=True), "--rates"),
        metavar="R,S",
        help="open loop: requests per second per step, e.g. 10,50,100",
    )
    add_bounded_int(
        sweep,
        "--max-in-flight",
        1,
        MAX_IN_FLIGHT,
        default=None,
        help="open loop: the most requests in flight (default: twice what each rate needs)",
    )
    add_bounded_float(
        sweep,
        "--step-duration",
        0,
        MAX_STEP_S,
        open_low=True,
        default=5.0,
        help="seconds of load per step, warm-up included",
    )
    add_workload_options(sweep, per_step=True)
    sweep.add_argument(
        "--png", type=Path, default=None, help="draw throughput and latency against the level"
    )
    add_route_options(sweep, sweep=True)


def settings_from(args: argparse.Namespace) -> SweepSettings:
    """The sweep the arguments ask for; UsageError (one line) when it makes no sense."""
    routes: tuple[RouteRequest, ...] = ()
    if args.app is not None:
        if args.scenarios is not None:
            raise UsageError("give either --scenarios or --app with --route, not both")
        if not args.route:
            raise UsageError('--app needs at least one --route, e.g. --route "GET /items"')
        routes = tuple(parse_route(text, args) for text in args.route)
        # Before any load: an app that does not import, or a route it lacks, is a bad argument.
        app = import_bounded(args.app, args.app_dir, args.startup_timeout_s)
        for route in routes:
            check_route_known(app, route)
    elif args.route:
        raise UsageError("--route goes with --app")
    elif args.scenarios is None:
        raise UsageError("give --scenarios A,B, or --app with --route for routes of your own")
    workload = workload_from(args, elsewhere=args.app is not None, max_in_flight=args.max_in_flight)
    try:
        return SweepSettings(
            **workload.workload_keywords(),
            scenarios=args.scenarios or tuple(route.scenario for route in routes),
            routes=routes,
            concurrency=args.concurrency or (),
            rates=args.rates or (),
            step_duration_s=args.step_duration,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


class ProgressBar:
    """`[#####.....] 5/10 sync c=50` on stderr: redrawn in place on a terminal, one line
    per step otherwise (a log then still shows where a long sweep is)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._width = 0
        self._open_line = False  # a terminal line drawn without its newline yet

    def close_line(self) -> None:
        """End a bar left open on a terminal (an interrupted sweep), so the next message
        starts on its own line."""
        if self._open_line:
            self._stream.write("\n")
            self._stream.flush()
            self._open_line = False

    def __call__(self, progress: SweepProgress) -> None:
        filled = round(_BAR_WIDTH * progress.done / max(1, progress.total))
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        if progress.step is None:
            text = f"[{bar}] {progress.total}/{progress.total} done in {progress.elapsed_s:.0f} s"
        else:
            text = f"[{bar}] {progress.done + 1}/{progress.total} {step_label(progress.step)}"
            if progress.done:
                left = progress.elapsed_s / progress.done * (progress.total - progress.done)
                text += f" (~{left:.0f} s left)"
        if self._tty:
            padding = " " * max(0, self._width - len(text))
            self._width = len(text)
            end = "\n" if progress.step is None else ""
            self._stream.write(f"\r{text}{padding}{end}")
            self._open_line = progress.step is not None
        else:
            self._stream.write(text + "\n")
        self._stream.flush()


def failed_steps(results: list[RunResult], max_error_rate: float) -> list[str]:
    """e.g. ["sync c=100: 35 % (connect: 700)"]: the steps where more than
    `max_error_rate` of the requests failed (or none completed)."""
    failed = []
    for result in results:
        summary = result.summary
        rate = error_rate(summary.ok, summary.errors)
        if rate > max_error_rate:
            why = error_counts(summary.errors) or "no request completed"
            failed.append(f"{step_label(result.settings)}: {percent(rate)} ({why})")
    return failed


def _placement(settings: SweepSettings) -> str:
    if not settings.server_process:
        return ""
    workers = settings.workers
    return f", server in its own process ({workers} worker{'s' if workers > 1 else ''})"


def format_sweep(
    settings: SweepSettings, results: list[RunResult], *, failed: list[str] | None = None
) -> str:
    """The sweep report: one line per step, measured beside theory. Its first line says
    first that the sweep was interrupted, or which steps failed."""
    kind = "open loop" if settings.open_loop else "closed loop"
    warmup = results[0].settings.effective_warmup_s if results else 0.0
    lines = []
    interrupted = results[0].interrupted if results else None
    total = len(settings.steps())
    if interrupted is not None or len(results) < total:
        lines.append(
            f"LoopScope sweep INTERRUPTED ({interrupted or 'stopped'}): "
            f"{len(results)} of {total} steps finished; the table shows those"
        )
    elif failed:
        lines.append(
            f"LoopScope sweep FAILED: {len(failed)} of {total} steps had too many errors: "
            + "; ".join(failed)
        )
    lines += [
        f"LoopScope sweep: {', '.join(settings.scenarios)}"
        + (f" of {settings.app}" if settings.app else "")
        + f"; {kind}"
        + ("" if settings.routes else f", delay {settings.delay_ms:g} ms")
        + f", {settings.effective_threads} threads"
        + _placement(settings),
        f"  {len(results)} steps of {settings.step_duration_s:g} s; the first {warmup:g} s "
        f"of each are warm-up, not counted",
        "",
    ]
    level = "rate" if settings.open_loop else "users"
    head = (
        f"  {'scenario':<18}{level:>7}{'req/s':>10}{'theory':>9}{'ratio':>7}"
        f"{'p50 ms':>10}{'theory':>11}{'p99 ms':>10}"
    )
    if settings.open_loop:
        head += f"{'uncorr p50':>12}{'late':>7}"
    lines.append(head + f"{'errors':>8}")
    for result in results:
        s, summary, p = result.settings, result.summary, result.prediction
        theory_ms = "unbounded" if p.latency_ms == float("inf") else fmt(p.latency_ms)
        row = (
            f"  {s.scenario:<18}{result.level:>7g}{fmt(summary.throughput_rps):>10}"
            f"{fmt(p.throughput_rps):>9}{ratio(summary.throughput_rps, p.throughput_rps):>7}"
            f"{fmt(summary.latency.p50):>10}{theory_ms:>11}{fmt(summary.latency.p99):>10}"
        )
        if settings.open_loop:
            late = result.schedule.late if result.schedule is not None else 0
            row += f"{fmt(summary.latency_uncorrected.p50):>12}{late:>7,}"
        # "!" marks a step where the generator itself may have been the limit.
        mark = "  ! generator-limited" if result.generator_limited else ""
        lines.append(row + f"{sum(summary.errors.values()):>8,}{mark}")
    turned_away = [
        f"{step_label(result.settings)}: {result.turned_away:,}"
        for result in results
        if result.turned_away
    ]
    if turned_away:
        lines += [
            "",
            "  turned away (answered 503 without running your app: they reached it after the",
            "  step's load ended, so each step's end stays bounded whatever the app does):",
            "    " + "; ".join(turned_away),
        ]
    if any(result.generator_limited for result in results):
        lines += [
            "",
            "  ! generator-limited: the LoopScope process (client and, here, server too) was",
            "    near one full core or its loop lagged; these steps measure the client too",
        ]
    if settings.open_loop:
        lines += [
            "",
            "  latency counts from each request's intended start; 'uncorr' from its actual",
            "  send; 'late' counts starts over 10 ms behind schedule",
        ]
    return "\n".join(lines)


def command_sweep(args: argparse.Namespace) -> int:
    """Run the sweep, print its table, write what was asked; the exit status."""
    settings = settings_from(args)
    lowest_rate = min(settings.rates) if settings.rates else None
    check_measured_period(
        settings.step_duration_s, settings.warmup_s, lowest_rate, duration_option="--step-duration"
    )
    check_output_paths({"--json": args.json, "--csv": args.csv, "--png": args.png})
    bar = ProgressBar(sys.stderr)
    results, interrupted = run_interruptible(
        lambda stop: run_sweep(settings, progress=bar, stop=stop)
    )
    bar.close_line()
    if interrupted is not None:
        results = [replace(result, interrupted=interrupted.name) for result in results]
    failed = failed_steps(results, args.max_error_rate)
    print(format_sweep(settings, results, failed=failed), flush=True)
    written = write_outputs(
        {
            "--json": (args.json, lambda path: write_json(path, [r.to_json() for r in results])),
            "--csv": (args.csv, lambda path: write_sweep_csv(path, results)),
        }
    )
    if args.png is not None and results:
        png = args.png
        written = drew_png(lambda: render_sweep_png(results, png)) and written
    if interrupted is not None:
        outputs = [
            option
            for option, path in (("--json", args.json), ("--csv", args.csv), ("--png", args.png))
            # No PNG is drawn of no step.
            if path is not None and (results or option != "--png")
        ]
        where = f"; wrote {', '.join(outputs)}" if outputs and written else ""
        return report_interrupted(
            interrupted,
            f"kept the {len(results)} finished of {len(settings.steps())} steps{where}",
        )
    if not any(result.summary.ok for result in results):
        print("loopscope: no request succeeded in any step", file=sys.stderr)
        return EXIT_FAILED
    if failed:
        print(
            f"loopscope: {len(failed)} steps had more errors than --max-error-rate "
            f"{args.max_error_rate:g} allows",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK if written else EXIT_FAILED
