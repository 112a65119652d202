"""`loopscope run`: its arguments, the report (measurement beside theory) and its exports."""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

from loopscope.embedded_server import MAX_BLOCKING_DELAY_MS, SCENARIOS
from loopscope.loadgen import (
    ERROR_ABANDONED,
    ERROR_REDIRECT,
    ERROR_TLS,
    LATE_THRESHOLD_S,
    MAX_IN_FLIGHT,
    MAX_RATE,
    MAX_USERS,
    RouteRequest,
    RunResult,
    RunSettings,
    TargetError,
    check_demo_target,
    run_load,
)
from loopscope.loadgen.advice import advice
from loopscope.loadgen.audit import AppOutput
from loopscope.loadgen.export import flat_record, write_json, write_run_csv
from loopscope.loadgen.trace import RunTrace, write_trace

from ._app_checks import check_route_known, import_bounded
from ._app_output import AppOutputLog
from ._figures import error_counts, error_rate, fmt, percent, ratio
from ._interrupt import report_interrupted, run_interruptible
from ._options import (
    EXIT_FAILED,
    EXIT_OK,
    MAX_DURATION_S,
    UsageError,
    add_bounded_float,
    add_bounded_int,
    add_workload_options,
    check_measured_period,
    check_output_paths,
    workload_from,
    write_outputs,
)
from ._route_options import add_route_options, route_from, uses_route
from ._tls_options import tls_from


def add_run_parser(commands: Any) -> None:
    """Add `run` to the subcommands (`commands` is argparse's subparsers action)."""
    run = commands.add_parser(
        "run", help="run one load test headless: closed loop, or open loop with --rate"
    )
    add_run_options(run)
    run.add_argument(
        "--trace",
        type=Path,
        default=None,
        metavar="FILE",
        help="write each request's timeline (waiting, working, on the wire) as Chrome "
        "trace-event JSON here: open it in ui.perfetto.dev or chrome://tracing",
    )


def add_run_options(run: argparse.ArgumentParser) -> None:
    """What a run loads and how: `run`'s options, shared with `export-locust`."""
    run.add_argument(
        "--scenario",
        default=None,
        choices=SCENARIOS,
        metavar="NAME",
        help=f"a demo route, one of: {', '.join(SCENARIOS)} (or --app/--url: your own)",
    )
    add_bounded_int(
        run,
        "--concurrency",
        1,
        MAX_IN_FLIGHT,
        default=None,
        help=f"closed loop: users (1-{MAX_USERS}, default 10), each waiting for its answer "
        f"before the next request; open loop: the most requests in flight (connections; "
        f"default: twice what the rate needs in theory, at least 10)",
    )
    add_bounded_float(
        run,
        "--duration",
        0,
        MAX_DURATION_S,
        open_low=True,
        default=10.0,
        help="seconds of load, warm-up included",
    )
    add_bounded_float(
        run,
        "--rate",
        0,
        MAX_RATE,
        open_low=True,
        default=None,
        help="open loop: start this many requests per second whatever the answers do; "
        "latency counts from each one's intended start",
    )
    run.add_argument(
        "--target",
        default=None,
        help="a server on this machine to load instead of the embedded one",
    )
    add_workload_options(run, per_step=False)
    add_route_options(run)


def _theory_ms(value: float) -> str:
    return "unbounded" if math.isinf(value) else fmt(value)


def failure(result: RunResult, max_error_rate: float) -> str | None:
    """What went wrong with a run, in a few words; None when its figures can be trusted
    (at most `max_error_rate` of its requests failed: see `error_rate`)."""
    summary = result.summary
    if summary.requests == 0:
        return f"no request completed in the {summary.duration_s:.1f} s measured"
    rate = error_rate(summary.ok, summary.errors)
    if rate <= max_error_rate:
        return None
    return f"{percent(rate)} of requests failed ({error_counts(summary.errors)})"


def format_summary(result: RunResult, *, failed: str | None = None) -> str:
    """The `run` report: the measurement beside the theory. Its first line says first what
    went wrong (`failed`) or that the result is partial (interrupted)."""
    body = _format_open_summary(result) if result.open_loop else _format_closed_summary(result)
    s = result.settings
    if result.partial:
        measured = result.summary.duration_s
        return (
            f"LoopScope run INTERRUPTED ({result.interrupted or 'stopped'}): partial result, "
            f"{measured:.1f} s measured of the {s.duration_s - s.effective_warmup_s:g} s "
            f"asked\n{body}"
        )
    if failed is not None:
        return f"LoopScope run FAILED: {failed}\n{body}"
    return body


def _what(result: RunResult) -> str:
    s = result.settings
    if s.route is None:
        return s.scenario
    return (
        f"{s.scenario} of {s.app}" if s.app else f"{s.route.method} {result.target}{s.route.path}"
    )


def _workload(result: RunResult) -> str:
    """The demo routes' parameters (a route of the user's own has none of ours)."""
    s = result.settings
    if s.route is not None:
        return f", {result.threads} threads" if result.threads is not None else ""
    threads = f", {result.threads} threads" if s.scenario in ("sync", "cpu-sync") else ""
    if s.server_process:
        threads += f", server in its own process ({s.workers} worker{'s' if s.workers > 1 else ''})"
    return f", delay {s.delay_ms:g} ms{threads}"


def _format_closed_summary(result: RunResult) -> str:
    s, summary, p = result.settings, result.summary, result.prediction
    lines = [
        f"LoopScope run: {_what(result)}, {s.concurrency} users{_workload(result)}",
        f"  {s.duration_s:g} s of load against {result.target}; "
        f"the first {s.effective_warmup_s:g} s are warm-up, not counted",
        "",
        f"  {'':<20}{'measured':>12}{'theory':>12}{'ratio':>8}",
        f"  {'throughput (req/s)':<20}{fmt(summary.throughput_rps):>12}"
        f"{fmt(p.throughput_rps):>12}{ratio(summary.throughput_rps, p.throughput_rps):>8}",
        f"  {'latency p50 (ms)':<20}{fmt(summary.latency.p50):>12}"
        f"{fmt(p.latency_ms):>12}{ratio(summary.latency.p50, p.latency_ms):>8}",
    ]
    for name in ("p90", "p99", "max", "mean"):
        value = getattr(summary.latency, name)
        lines.append(f"  {'latency ' + name + ' (ms)':<20}{fmt(value):>12}")
    lines += ["", *_requests_lines(result)]
    return "\n".join(lines)


def _wrapped(text: str) -> str:
    """A report line of at most 92 characters, continued with a deeper indent."""
    return textwrap.fill(text, width=92, initial_indent="  ", subsequent_indent="    ")


def _requests_lines(result: RunResult) -> list[str]:
    summary, p = result.summary, result.prediction
    errors = error_counts(summary.errors)
    server = []
    if not math.isnan(summary.server_wait_ms_mean):  # only LoopScope's routes report it
        server = [
            f"  server: waited {fmt(summary.server_wait_ms_mean)} ms for a thread or the loop, "
            f"worked {fmt(summary.server_work_ms_mean)} ms (means)"
        ]
    return [
        f"  requests: {summary.requests:,} ({summary.ok:,} ok); errors: {errors or 'none'}",
        *_answer_lines(result),
        *server,
        *_abandoned_lines(result),
        *_drained_lines(result),
        *_blocking_lines(result),
        _wrapped(f"theory: {p.explanation}"),
        *_health_lines(result),
    ]


def _answer_lines(result: RunResult) -> list[str]:
    """Final answers by status class, and the first redirect's Location (when any)."""
    classes = ", ".join(
        f"{name} {count:,}" for name, count in result.summary.status_classes.items() if count
    )
    lines = [f"  answers by status: {classes}"] if classes else []
    if result.first_redirect is not None:
        status, location = result.first_redirect
        followed = (
            "followed on the same server"
            if result.settings.follow_redirects
            else "not followed (--follow-redirects follows it)"
        )
        lines.append(
            _wrapped(f"redirect: HTTP {status} to {location or '(no Location)'}, {followed}")
        )
    return lines


def _abandoned_lines(result: RunResult) -> list[str]:
    abandoned = result.summary.errors.get(ERROR_ABANDONED, 0)
    if not abandoned or result.summary.ok == 0:
        return []
    return [
        _wrapped(
            f"abandoned: {abandoned:,} requests were still unanswered when the load ended "
            "and were cut off; latency counts only the answered ones (a longer --duration "
            "shows more)"
        )
    ]


def _drained_lines(result: RunResult) -> list[str]:
    """The requests of the measured interval wherever they ended: shown when they tell
    more than the completed-only figures (an open loop, or a tail the end cut off)."""
    drained, summary = result.drained, result.summary
    if drained is None:
        return []
    latency = drained.latency
    differs = not math.isclose(latency.p99, summary.latency.p99, rel_tol=0.02)
    if not (result.open_loop or drained.censored or differs):
        return []
    whose = "intended" if result.open_loop else "started"
    bound = "at least " if drained.censored else ""
    text = (
        f"drained: every request {whose} in the measured interval, awaited for "
        f"{drained.drain_s:.1f} s after it: p50 {bound}{fmt(latency.p50, 0)} ms, p99 "
        f"{bound}{fmt(latency.p99, 0)} ms, max {bound}{fmt(latency.max, 0)} ms "
        f"({drained.answered:,} answered"
    )
    if drained.censored:
        text += (
            f", {drained.censored:,} censored: still owed when the drain's limit (--drain) "
            f"cut it, each at least {fmt(drained.censored_min_ms, 0)} ms"
        )
    return [_wrapped(text + ")")]


def _blocking_lines(result: RunResult) -> list[str]:
    """Where the user's app held the event loop (--app), worst first; what it raised."""
    lines = [
        _wrapped(f"your app raised {what} - {count:,} times")
        for what, count in result.app_exceptions
    ]
    if result.turned_away:
        lines.append(
            _wrapped(
                f"turned away: {result.turned_away:,} requests that reached your app after "
                "the load ended were answered 503 without running it (the end of a run stays "
                "bounded whatever the app does)"
            )
        )
    if not result.blocking:
        return lines
    lines += ["  your code held the event loop (every request waited meanwhile):"]
    for site in result.blocking:
        kind = "computing" if site.computing else "waiting"
        lines.append(
            _wrapped(
                f"  {site.site.where} in {site.site.function}(): {site.site.code} - "
                f"{site.stalls:,} times, {site.total_s:.1f} s in all, longest "
                f"{site.max_s * 1000:.0f} ms, {kind}; {advice(site)}"
            )
        )
    return lines


def _health_lines(result: RunResult) -> list[str]:
    """The generator's own state: a warning when it, not the server, may be the limit."""
    health = result.health
    if health is None:
        return []
    lag = f"loop lag p99 {health.loop_lag_p99_ms:.0f} ms"
    if result.blocking and (health.generator_limited or health.lag_cause):
        # The lag is the app's own (named above), not the generator's.
        return [f"  generator: the {lag} comes from your code holding the loop (above)"]
    if health.lag_cause and not health.generator_limited:
        return [
            f"  generator: not the limit ({health.cpu_fraction:.0%} of a core); the {lag} "
            f"comes from {health.lag_cause}"
        ]
    if not health.generator_limited:
        waited = ""
        if health.cpu_demand is not None and health.cpu_demand - health.cpu_fraction >= 0.05:
            waited = f", wanted {health.cpu_demand:.0%}"
        return [
            f"  generator: healthy ({health.cpu_fraction:.0%} of a core{waited}, "
            f"loop lag p99 {health.loop_lag_p99_ms:.0f} ms)"
        ]
    return [_wrapped(f"WARNING, generator-limited: {warning}") for warning in health.warnings]


def _format_open_summary(result: RunResult) -> str:
    s, summary, p = result.settings, result.summary, result.prediction
    assert s.rate is not None
    corrected, uncorrected = summary.latency, summary.latency_uncorrected
    lines = [
        f"LoopScope run: {_what(result)}, open loop at {s.rate:g} req/s{_workload(result)}",
        f"  {s.duration_s:g} s of load against {result.target}; "
        f"the first {s.effective_warmup_s:g} s are warm-up, not counted",
        textwrap.fill(
            f"at most {result.max_in_flight} requests in flight (connections): one that "
            "finds them all busy waits and starts late. Latency counts from each request's "
            "intended start (corrected for coordinated omission); 'uncorrected' counts "
            "from its actual send, as a naive tool would.",
            width=92,
            initial_indent="  ",
            subsequent_indent="  ",
        ),
        "",
        f"  {'':<20}{'measured':>12}{'uncorrected':>13}{'theory':>12}{'ratio':>8}",
        f"  {'throughput (req/s)':<20}{fmt(summary.throughput_rps):>12}{'':>13}"
        f"{fmt(p.throughput_rps):>12}{ratio(summary.throughput_rps, p.throughput_rps):>8}",
        f"  {'latency p50 (ms)':<20}{fmt(corrected.p50):>12}{fmt(uncorrected.p50):>13}"
        f"{_theory_ms(p.latency_ms):>12}{ratio(corrected.p50, p.latency_ms):>8}",
    ]
    for name in ("p90", "p99", "max", "mean"):
        label = f"latency {name} (ms)"
        lines.append(
            f"  {label:<20}{fmt(getattr(corrected, name)):>12}{fmt(getattr(uncorrected, name)):>13}"
        )
    lines += ["", *_requests_lines(result)]
    schedule = result.schedule
    if schedule is not None:
        threshold_ms = LATE_THRESHOLD_S * 1000
        text = (
            f"schedule: {schedule.due:,} starts due, {schedule.started:,} started, "
            f"{schedule.late:,} late (> {threshold_ms:g} ms behind), "
            f"{schedule.backlog:,} still waiting at the end"
        )
        if schedule.late:
            text += (
                f"; of the late ones {schedule.late_pool_full:,} waited for a free "
                f"connection (answers came back slower than the rate needs), "
                f"{schedule.late_loop:,} were late because the client's own loop was busy"
            )
        lines.append(_wrapped(text))
    return "\n".join(lines)


def _app_output_line(output: AppOutput) -> str:
    shown = "; ".join(f"{count:,} x {text!r}" for text, count in output.messages[:3])
    return _wrapped(
        f"your app wrote {output.lines:,} lines (its prints, uvicorn's error log) to "
        f"{output.path}: {shown}"
    )


def _trace_settings(result: RunResult) -> dict[str, object]:
    """The trace's `otherData`: the run's record flattened (settings and figures)."""
    return {"command": "loopscope run", **flat_record(result.to_json())}


def _trace_line(trace: RunTrace, timeline: dict[str, object]) -> str:
    """What --trace holds, in one line: how many requests, and which side of them."""
    data = timeline["otherData"]
    assert isinstance(data, dict)
    if trace.phases is not None:
        side = "the server's phases and the time on the wire"
    else:
        side = f"client side only (send to answer): {trace.client_only}"
    cut = f"; {data['cut']}" if data["cut"] else ""
    return _wrapped(f"trace: {data['requests exported']:,} requests, {side}{cut}")


def _no_success_hint(result: RunResult) -> str:
    """What to look at when no request succeeded, fitting the target: the failure of the
    most frequent error kind in words (a TLS failure named), a redirect's Location, or,
    for --target (meant to be LoopScope's demo server), whether it is one."""
    s, errors = result.settings, result.summary.errors
    examples = dict(result.error_examples)
    kind = max(errors, key=lambda k: errors[k]) if errors else None
    if kind == ERROR_REDIRECT and result.first_redirect is not None:
        status, location = result.first_redirect
        return f"; HTTP {status} to {location or 'no Location'} (--follow-redirects follows it)"
    if kind is not None and kind in examples:
        example = examples[kind]
        if kind == ERROR_TLS:
            if "verify failed" in example:
                example += " (--ca-cert FILE trusts its CA; --insecure verifies nothing)"
            return f"; {example}"
        if s.route is not None:
            return f"; first {kind} error: {example}"
    if s.route is None and s.target is not None:
        # --target names LoopScope's own demo server: another server has no /scenario.
        return "; is the target a LoopScope server?"
    return ""


def settings_from(args: argparse.Namespace) -> RunSettings:
    """The run `run`'s (and `export-locust`'s) arguments ask for; UsageError (one line)
    for anything inconsistent. Checks nothing about output files."""
    if args.rate is None and args.concurrency is not None and args.concurrency > MAX_USERS:
        raise UsageError(
            f"--concurrency must be between 1 and {MAX_USERS} without --rate, "
            f"got {args.concurrency}"
        )
    if args.scenario == "blocking" and args.delay_ms > MAX_BLOCKING_DELAY_MS:
        raise UsageError(f"--delay-ms for blocking must be at most {MAX_BLOCKING_DELAY_MS}")
    check_measured_period(args.duration, args.warmup_s, args.rate, duration_option="--duration")
    route: RouteRequest | None = None
    base: str | None = None
    if uses_route(args) or args.scenario is None:
        if not uses_route(args):
            raise UsageError("give --scenario NAME, or --app/--url for a route of your own")
        route, base = route_from(args)
        if args.app is not None:  # before any load: an app that does not import, or
            # a route it does not have, is a bad argument
            check_route_known(import_bounded(args.app, args.app_dir, args.startup_timeout_s), route)
        if base is not None:
            if args.threads is not None:
                raise UsageError("--threads sets the embedded server's pool: use it with --app")
            args.target = base
    elif args.target is not None:
        try:
            check_demo_target(args.target)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    ca_cert, insecure = tls_from(args, base)
    open_loop = args.rate is not None
    workload = workload_from(
        args,
        elsewhere=args.target is not None or route is not None,
        max_in_flight=args.concurrency if open_loop else None,
    )
    return RunSettings(
        **workload.workload_keywords(),
        scenario=args.scenario if route is None else route.scenario,
        concurrency=10 if open_loop or args.concurrency is None else args.concurrency,
        rate=args.rate,
        duration_s=args.duration,
        target=args.target,
        route=route,
        allow_remote=args.allow_remote,
        ca_cert=ca_cert,
        insecure=insecure,
        follow_redirects=getattr(args, "follow_redirects", False),
    )


def _notes_before_the_load(settings: RunSettings) -> None:
    if settings.allow_remote:
        print(f"loopscope: loading {settings.target}, a server you said is yours", file=sys.stderr)
    if settings.insecure:
        print(
            f"loopscope: --insecure: the certificate of {settings.target} is not verified",
            file=sys.stderr,
        )


def command_run(args: argparse.Namespace) -> int:
    """Run the load, print the report, write what was asked; the exit status."""
    # A user's app (--app): its prints (at import too) and uvicorn's error log go to a
    # file, not the report. Only --url and --target runs print notes before the load.
    if args.app_log is not None and args.app is None:
        raise UsageError("--app-log goes with --app (the output of your app served here)")
    # Before the log is opened (a FIFO would block) and before any load.
    check_output_paths(
        {"--app-log": args.app_log, "--json": args.json, "--csv": args.csv, "--trace": args.trace}
    )
    trace = RunTrace() if args.trace is not None else None
    app_log = AppOutputLog(args.app_log) if args.app is not None else None
    try:
        with app_log if app_log is not None else contextlib.nullcontext():
            settings = settings_from(args)
            _notes_before_the_load(settings)
            result, interrupted = run_interruptible(
                lambda stop: run_load(settings, stop=stop, trace=trace)
            )
    except TargetError as exc:
        if exc.bad_argument:
            raise UsageError(str(exc)) from None
        print(f"loopscope: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if interrupted is not None:
        result = replace(result, interrupted=interrupted.name)
    failed = None if result.partial else failure(result, args.max_error_rate)
    print(format_summary(result, failed=failed), flush=True)
    output = app_log.summary() if app_log is not None else None
    if output is not None:
        print(_app_output_line(output), flush=True)
    timeline = None
    if trace is not None:
        timeline = trace.trace(_trace_settings(result))
        print(_trace_line(trace, timeline), flush=True)
    written = write_outputs(
        {
            "--json": (args.json, lambda path: write_json(path, result.to_json())),
            "--csv": (args.csv, lambda path: write_run_csv(path, result)),
            "--trace": (args.trace, lambda path: write_trace(path, timeline or {})),
        }
    )
    if interrupted is not None:
        outputs = (("--json", args.json), ("--csv", args.csv), ("--trace", args.trace))
        saved = [option for option, path in outputs if path]
        where = f"; wrote {' and '.join(saved)}" if saved and written else ""
        return report_interrupted(
            interrupted, f"partial result of {result.summary.duration_s:.1f} s measured{where}"
        )
    if result.summary.ok == 0:
        errors = error_counts(result.summary.errors)
        why = f" ({errors})" if errors else ""
        print(f"loopscope: no request succeeded{why}{_no_success_hint(result)}", file=sys.stderr)
        return EXIT_FAILED
    if failed is not None:
        print(
            f"loopscope: {failed}: more than --max-error-rate {args.max_error_rate:g} allows",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK if written else EXIT_FAILED
