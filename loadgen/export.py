"""The one serialisation of runs, sweep steps and windows: records, JSON and CSV.

A *record* is a JSON-ready dict. `summary_record` holds what was measured beside what
theory says; every run, sweep step and window scenario (`gui --autorun --json`) is built on
it. `health_record` is the verdict on the generator that a run and an autorun carry.
`run_record` adds the run's settings: it is the `run --json` object (a sweep step is a
run). CSV rows are the same records flattened (`flat_record`): `latency_ms.p50` becomes
`latency_p50_ms`, `theory.throughput_rps` becomes `theory_throughput_rps`, errors by kind
their total. So JSON and CSV cannot disagree on a number or its rounding.

CSV cells are plain numbers (milliseconds, requests per second); an empty cell means
nothing was measured (e.g. a window with no completed request).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from loopscope.embedded_server import CPU_SCENARIOS

from . import theory
from ._open_loop import LATE_THRESHOLD_S
from ._recorder import Summary, WindowStats
from .health import HealthVerdict

if TYPE_CHECKING:  # _runner builds its `to_json` on this module: no import cycle at run time
    from ._runner import RunResult

Cell = str | int | float | None

# Final answers by status class, counted apart (an answer that is an error is counted in
# `errors` too: a 3xx as `redirect`, a 4xx as `http_4xx`).
STATUS_CLASS_COLUMNS = tuple(f"status_classes_{n}xx" for n in range(1, 6))

# What a window's row and a step's row both report, in this order.
_OUTCOME_COLUMNS = (
    "ok",
    "errors",
    "throughput_rps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
)

WINDOW_COLUMNS = (
    "scenario",
    "t_s",
    "warmup",
    *_OUTCOME_COLUMNS,
    "latency_uncorrected_p50_ms",
    "latency_uncorrected_p99_ms",
    *STATUS_CLASS_COLUMNS,
)

STEP_COLUMNS = (
    "scenario",
    "mode",
    "concurrency",
    "rate",
    "delay_ms",
    "threads",
    "duration_s",
    "warmup_s",
    "requests",
    *_OUTCOME_COLUMNS,
    "latency_mean_ms",
    "latency_uncorrected_p50_ms",
    "latency_uncorrected_p99_ms",
    "late_starts",
    "theory_throughput_rps",
    "theory_latency_ms",
    *STATUS_CLASS_COLUMNS,
    # Empty, or the signal that interrupted the sweep: its rows are then the finished steps.
    "interrupted",
)

# `run --csv`: the windows, and on every row the signal that interrupted the run, if any.
RUN_WINDOW_COLUMNS = (*WINDOW_COLUMNS, "interrupted")


def _num(value: float, digits: int = 3) -> float | None:
    """A measured number as it is written: rounded; None where nothing was measured."""
    return None if math.isnan(value) or math.isinf(value) else round(value, digits)


# -- records ---------------------------------------------------------------------------------


def _status_classes(counts: Mapping[str, int]) -> dict[str, int]:
    """Every class "1xx".."5xx", 0 where none came (a window with no answer has no counts)."""
    return {f"{n}xx": counts.get(f"{n}xx", 0) for n in range(1, 6)}


def theory_record(prediction: theory.Prediction) -> dict[str, object]:
    """Theory's figures; a latency of None with `latency_unbounded` true means it grows
    without bound (an open loop past capacity)."""
    record: dict[str, object] = dict(prediction.to_json())
    unbounded = math.isinf(prediction.latency_ms)
    if unbounded:
        record["latency_ms"] = None  # JSON has no infinity
    record["latency_unbounded"] = unbounded
    return record


def summary_record(summary: Summary, prediction: theory.Prediction) -> dict[str, object]:
    """What was measured over a measured interval (warm-up excluded), beside the theory.

    `latency_ms` counts from each request's intended start (corrected for coordinated
    omission), `latency_uncorrected_ms` from its actual send (equal in a closed loop).
    """
    return {
        "requests": summary.requests,
        "ok": summary.ok,
        "errors": dict(summary.errors),
        # Final answers by status class ("1xx".."5xx"; 1xx interim answers are skipped).
        "status_classes": _status_classes(summary.status_classes),
        "throughput_rps": _num(summary.throughput_rps),
        "error_rps": _num(summary.error_rps),
        "latency_ms": summary.latency.to_json(),
        "latency_uncorrected_ms": summary.latency_uncorrected.to_json(),
        "server_timing_ms": {
            "wait_mean": _num(summary.server_wait_ms_mean),
            "work_mean": _num(summary.server_work_ms_mean),
        },
        "theory": theory_record(prediction),
    }


def health_record(verdict: HealthVerdict | None) -> dict[str, object] | None:
    """The `generator_health` of a run and of `gui --autorun --json`: the verdict over the
    measured interval (None: none was judged)."""
    return None if verdict is None else verdict.to_json()


def run_record(result: RunResult) -> dict[str, object]:
    """A run (or one sweep step): the `run --json` object (docs/headless.md).

    Open loop: `mode` is "open", `rate` the requests per second asked for, and
    `concurrency` the most requests allowed in flight at once (the connections);
    `late_starts` counts requests started over 10 ms after their intended time.
    `partial`: the load stopped early (an interrupt), the figures cover the part measured;
    `interrupted`: the signal that stopped the command ("SIGINT", "SIGTERM"), else None.
    """
    s, summary, schedule = result.settings, result.summary, result.schedule
    return {
        "scenario": s.scenario,
        "mode": "open" if result.open_loop else "closed",
        "concurrency": result.max_in_flight if result.open_loop else s.concurrency,
        "rate": s.rate,
        "delay_ms": s.delay_ms,
        "threads": result.threads,
        # Where the demo server ran: this process's loop, or a process of its own.
        "server_process": s.server_process,
        "workers": s.workers,
        "iterations": s.iterations if s.scenario in CPU_SCENARIOS else None,
        "fanout": s.fanout if s.scenario.startswith("fanout") else None,
        "duration_s": s.duration_s,
        "warmup_s": s.effective_warmup_s,
        "measured_s": round(summary.duration_s, 3),
        "target": result.target,
        **summary_record(summary, result.prediction),
        "late_starts": None if schedule is None else schedule.late,
        "schedule": None
        if schedule is None
        else {
            "due": schedule.due,
            "started": schedule.started,
            "late": schedule.late,
            "late_pool_full": schedule.late_pool_full,
            "late_loop": schedule.late_loop,
            "skipped": schedule.skipped,
            "backlog_at_end": schedule.backlog,
            "late_threshold_ms": LATE_THRESHOLD_S * 1000,
        },
        "generator_health": health_record(result.health),
        "partial": result.partial,
        "interrupted": result.interrupted,
        # A route of the user's own app (--app, --url): the request, and what held the loop.
        "route": None
        if s.route is None
        else {"method": s.route.method, "path": s.route.path, "app": s.app},
        "blocking_sites": [site.to_json() for site in result.blocking],
        # Every request intended (open loop) or started (closed) in the measured interval,
        # answered during the run or the drain after it, or censored by the drain's limit.
        "drained": None if result.drained is None else result.drained.to_json(),
        "app_exceptions": [{"what": what, "count": count} for what, count in result.app_exceptions],
        # The first 3xx answer and its Location (not followed unless --follow-redirects).
        "redirect": None
        if result.first_redirect is None
        else {"status": result.first_redirect[0], "location": result.first_redirect[1]},
        # The first message of each error kind: what a `tls` or `connect` error was.
        "error_messages": dict(result.error_examples),
        # Every request of the run, warm-up and drain included (a server's own count).
        "whole_run": None if result.whole_run is None else result.whole_run.to_json(),
        # A user's app: requests answered 503 unrun after the load ended (its closing gate).
        "turned_away": result.turned_away,
    }


def window_record(
    scenario: str, window: WindowStats, *, warmup_s: float = 0.0
) -> dict[str, object]:
    """One closed 1 s window; `warmup` is 1 when the window starts inside the warm-up."""
    return {
        "scenario": scenario,
        "t_s": _num(window.start_s),
        "warmup": int(window.start_s < warmup_s),
        "ok": window.ok,
        "errors": window.errors,
        "status_classes": _status_classes(window.status_classes),
        "throughput_rps": _num(window.throughput_rps),
        "latency_ms": window.latency.to_json(),
        "latency_uncorrected_ms": window.latency_uncorrected.to_json(),
    }


def flat_record(record: Mapping[str, object]) -> dict[str, Cell]:
    """A record as CSV cells: a nested group becomes prefixed columns, its unit kept last
    (`latency_ms.p50` -> `latency_p50_ms`, `theory.latency_ms` -> `theory_latency_ms`);
    `errors` by kind becomes their total; lists (warnings) are left out."""
    flat: dict[str, Cell] = {}
    for key, value in record.items():
        if key == "errors" and isinstance(value, Mapping):
            flat[key] = sum(value.values())
        elif isinstance(value, Mapping):
            stem, unit = (key[: -len("_ms")], "_ms") if key.endswith("_ms") else (key, "")
            for inner, cell in flat_record(value).items():
                flat[f"{stem}_{inner}{unit}"] = cell
        elif value is None or isinstance(value, str | int | float):
            flat[key] = value
    return flat


# -- rows -------------------------------------------------------------------------------------


def window_rows(
    scenario: str, windows: Iterable[WindowStats], *, warmup_s: float = 0.0
) -> list[dict[str, Cell]]:
    """One CSV row per closed window (`run --csv` and the window's Export)."""
    return [
        _columns(WINDOW_COLUMNS, window_record(scenario, w, warmup_s=warmup_s)) for w in windows
    ]


def step_row(result: RunResult) -> dict[str, Cell]:
    """A run (or one sweep step) as one CSV row: its `run --json` record, flattened."""
    return _columns(STEP_COLUMNS, run_record(result))


def _columns(columns: Sequence[str], record: Mapping[str, object]) -> dict[str, Cell]:
    flat = flat_record(record)
    return {column: flat.get(column) for column in columns}


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Cell]]) -> str:
    """CSV text with a header line; None becomes an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row[column] for column in columns])
    return out.getvalue()


# -- files ------------------------------------------------------------------------------------


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def finite(payload: object) -> object:
    """`payload` with NaN and infinities as None: JSON has neither."""
    if isinstance(payload, float) and not math.isfinite(payload):
        return None
    if isinstance(payload, dict):
        return {key: finite(value) for key, value in payload.items()}
    if isinstance(payload, list | tuple):
        return [finite(value) for value in payload]
    return payload


def write_json(path: Path, payload: object) -> None:
    """Pretty JSON (NaN and infinities as null), creating the folder if needed."""
    _write_text(path, json.dumps(finite(payload), indent=2, allow_nan=False) + "\n")


def write_run_csv(path: Path, result: RunResult) -> None:
    """`run --csv`: one row per 1 s window (warm-up windows flagged, not dropped); an
    interrupted run's rows name the signal in `interrupted`."""
    rows = window_rows(
        result.settings.scenario, result.windows, warmup_s=result.settings.effective_warmup_s
    )
    for row in rows:
        row["interrupted"] = result.interrupted
    _write_text(path, to_csv(RUN_WINDOW_COLUMNS, rows))


def write_sweep_csv(path: Path, results: Sequence[RunResult]) -> None:
    """`sweep --csv`: one row per step."""
    _write_text(path, to_csv(STEP_COLUMNS, (step_row(result) for result in results)))
