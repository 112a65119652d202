"""Exports: a run's windows and a sweep's steps as CSV, results as JSON.

CSV cells are plain numbers (milliseconds, requests per second); an empty cell means
nothing was measured (e.g. a window with no completed request).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from ._recorder import LatencySummary
from ._runner import RunResult

Cell = str | int | float | None

WINDOW_COLUMNS = (
    "scenario",
    "t_s",
    "warmup",
    "ok",
    "errors",
    "throughput_rps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "latency_uncorrected_p50_ms",
    "latency_uncorrected_p99_ms",
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
    "ok",
    "errors",
    "throughput_rps",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "latency_mean_ms",
    "latency_uncorrected_p50_ms",
    "latency_uncorrected_p99_ms",
    "late_starts",
    "theory_throughput_rps",
    "theory_latency_ms",
)


def _num(value: float, digits: int = 3) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, digits)


def window_rows(result: RunResult) -> list[dict[str, Cell]]:
    """One row per closed 1 s window of the run; `warmup` is 1 for windows it overlaps."""
    warmup_s = result.settings.effective_warmup_s
    rows: list[dict[str, Cell]] = []
    for window in result.windows:
        rows.append(
            {
                "scenario": result.settings.scenario,
                "t_s": _num(window.start_s),
                "warmup": int(window.start_s < warmup_s),
                "ok": window.ok,
                "errors": window.errors,
                "throughput_rps": _num(window.throughput_rps),
                "latency_p50_ms": _num(window.latency.p50),
                "latency_p90_ms": _num(window.latency.p90),
                "latency_p99_ms": _num(window.latency.p99),
                "latency_max_ms": _num(window.latency.max),
                "latency_uncorrected_p50_ms": _num(window.latency_uncorrected.p50),
                "latency_uncorrected_p99_ms": _num(window.latency_uncorrected.p99),
            }
        )
    return rows


def _latency_cells(prefix: str, latency: LatencySummary) -> dict[str, Cell]:
    return {
        f"{prefix}_p50_ms": _num(latency.p50),
        f"{prefix}_p90_ms": _num(latency.p90),
        f"{prefix}_p99_ms": _num(latency.p99),
        f"{prefix}_max_ms": _num(latency.max),
        f"{prefix}_mean_ms": _num(latency.mean),
    }


def step_row(result: RunResult) -> dict[str, Cell]:
    """A run (or one sweep step) as one row: its summary beside the theory."""
    s, summary = result.settings, result.summary
    uncorrected = summary.latency_uncorrected
    row: dict[str, Cell] = {
        "scenario": s.scenario,
        "mode": "open" if result.open_loop else "closed",
        "concurrency": result.max_in_flight if result.open_loop else s.concurrency,
        "rate": s.rate,
        "delay_ms": s.delay_ms,
        "threads": result.threads,
        "duration_s": s.duration_s,
        "warmup_s": s.effective_warmup_s,
        "requests": summary.requests,
        "ok": summary.ok,
        "errors": sum(summary.errors.values()),
        "throughput_rps": _num(summary.throughput_rps),
        **_latency_cells("latency", summary.latency),
        "latency_uncorrected_p50_ms": _num(uncorrected.p50),
        "latency_uncorrected_p99_ms": _num(uncorrected.p99),
        "late_starts": None if result.schedule is None else result.schedule.late,
        "theory_throughput_rps": _num(result.prediction.throughput_rps),
        # Empty when theory says the latency grows without bound.
        "theory_latency_ms": _num(result.prediction.latency_ms),
    }
    return {column: row[column] for column in STEP_COLUMNS}


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Cell]]) -> str:
    """CSV text with a header line; None becomes an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row[column] for column in columns])
    return out.getvalue()


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
    """`run --csv`: one row per 1 s window (warm-up windows flagged, not dropped)."""
    _write_text(path, to_csv(WINDOW_COLUMNS, window_rows(result)))


def write_sweep_csv(path: Path, results: Sequence[RunResult]) -> None:
    """`sweep --csv`: one row per step."""
    _write_text(path, to_csv(STEP_COLUMNS, (step_row(result) for result in results)))
