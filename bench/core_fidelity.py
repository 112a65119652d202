"""How closely LoopScope's measurements match queueing theory, scenario by scenario.

Runs a fixed set of closed-loop load runs against the embedded demo server, one after the
other (each under its own `asyncio.run`, as `loopscope run` does), and compares the
measured throughput and p50 latency with what Little's law predicts (`loadgen.theory`).
A row is "ok" when both measured/theory ratios lie within 10 % (0.9 to 1.1), "OFF"
otherwise. Prints a table and writes every row as JSON (default
`bench/results/core_fidelity.json`).

This is a benchmark, not part of the tests: it takes about 75 s with the default 8 s per
run, and its numbers depend on the machine, so keep the machine otherwise quiet.

    python bench/core_fidelity.py [--duration 8] [--out PATH]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _support import (
    RESULTS,
    machine_info,
    nan_none,
    ratio,
    require_this_checkout,
    run_load_measured,
    theory_cells,
    within,
    write_json,
)

from loopscope import loadgen
from loopscope.embedded_server import DEFAULT_FANOUT

WARMUP_S = 1.0
TOLERANCE = 0.10
DEFAULT_OUT = RESULTS / "core_fidelity.json"


@dataclass(frozen=True, slots=True)
class Case:
    scenario: str
    users: int
    delay_ms: float
    threads: int | None = None  # None: FastAPI's default thread pool (40)
    fanout: int | None = None  # None: the server's default


CASES: tuple[Case, ...] = (
    Case("async", 50, 200),
    Case("sync", 100, 200),
    Case("sync", 100, 200, threads=10),
    Case("sync", 100, 200, threads=20),
    Case("sync", 100, 200, threads=80),
    Case("blocking", 5, 100),
    Case("fanout-sequential", 10, 200, fanout=3),
    Case("fanout-gather", 10, 200, fanout=3),
)


@dataclass(frozen=True, slots=True)
class Row:
    result: loadgen.RunResult
    throughput_ratio: float
    latency_ratio: float

    @property
    def ok(self) -> bool:
        return within(self.throughput_ratio, TOLERANCE) and within(self.latency_ratio, TOLERANCE)

    def to_json(self) -> dict[str, object]:
        row = self.result.to_json()
        row["throughput_ratio"] = nan_none(self.throughput_ratio, 3)
        row["latency_p50_ratio"] = nan_none(self.latency_ratio, 3)
        row["within_tolerance"] = self.ok
        return row


def settings_for(case: Case, duration_s: float) -> loadgen.RunSettings:
    return loadgen.RunSettings(
        scenario=case.scenario,
        concurrency=case.users,
        delay_ms=case.delay_ms,
        duration_s=duration_s,
        warmup_s=WARMUP_S,
        threads=case.threads,
        fanout=DEFAULT_FANOUT if case.fanout is None else case.fanout,
    )


def measure(case: Case, duration_s: float) -> Row:
    result = run_load_measured(settings_for(case, duration_s)).result
    summary, prediction = result.summary, result.prediction
    return Row(
        result,
        ratio(summary.throughput_rps, prediction.throughput_rps),
        ratio(summary.latency.p50, prediction.latency_ms),
    )


_COLUMNS: tuple[tuple[str, int, str], ...] = (
    # (title, width, alignment)
    ("scenario", 18, "<"),
    ("users", 5, ">"),
    ("threads", 7, ">"),
    ("delay", 6, ">"),
    ("X meas", 8, ">"),
    ("X theory", 8, ">"),
    ("ratio", 5, ">"),
    ("p50 meas", 8, ">"),
    ("R theory", 8, ">"),
    ("ratio", 5, ">"),
    ("", 3, "<"),
)


def _line(cells: Sequence[str]) -> str:
    return "  ".join(
        f"{cell:{align}{width}}" for cell, (_, width, align) in zip(cells, _COLUMNS, strict=True)
    ).rstrip()


def header() -> str:
    titles = _line([title for title, _, _ in _COLUMNS])
    units = _line(["", "", "", "(ms)", "(req/s)", "(req/s)", "", "(ms)", "(ms)", "", ""])
    return f"{titles}\n{units}\n{'-' * len(titles)}"


def format_row(row: Row) -> str:
    result = row.result
    s, summary, p = result.settings, result.summary, result.prediction
    threads = "-"
    if s.scenario in ("sync", "cpu-sync") and result.threads is not None:
        threads = str(result.threads)
    return _line(
        [
            s.scenario,
            str(s.concurrency),
            threads,
            f"{s.delay_ms:g}",
            *theory_cells(
                summary.throughput_rps, p.throughput_rps, summary.latency.p50, p.latency_ms
            ),
            "ok" if row.ok else "OFF",
        ]
    )


def write_rows(path: Path, rows: Sequence[Row], duration_s: float) -> None:
    write_json(
        path,
        {
            "benchmark": "core_fidelity",
            **machine_info(),
            "duration_s": duration_s,
            "warmup_s": WARMUP_S,
            "tolerance": TOLERANCE,
            "all_within_tolerance": all(row.ok for row in rows),
            "rows": [row.to_json() for row in rows],
        },
    )


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if math.isnan(value) or value <= WARMUP_S:
        raise argparse.ArgumentTypeError(
            f"must be longer than the {WARMUP_S:g} s warm-up, got {text}"
        )
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare measured throughput and p50 latency with queueing theory."
    )
    parser.add_argument(
        "--duration",
        type=_duration,
        default=8.0,
        help=f"seconds of load per run, the {WARMUP_S:g} s warm-up included (default: 8)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where to write the JSON (default: {DEFAULT_OUT})",
    )
    args = parser.parse_args(argv)
    require_this_checkout()

    print(
        f"LoopScope core fidelity: {len(CASES)} closed-loop runs of {args.duration:g} s "
        f"(first {WARMUP_S:g} s warm-up); ok = both ratios within "
        f"{1 - TOLERANCE:.1f}-{1 + TOLERANCE:.1f}",
        flush=True,
    )
    print(header(), flush=True)
    rows: list[Row] = []
    for case in CASES:
        row = measure(case, args.duration)
        rows.append(row)
        print(format_row(row), flush=True)

    write_rows(args.out, rows, args.duration)
    off = [row for row in rows if not row.ok]
    print(f"\n{len(rows) - len(off)} of {len(rows)} rows within {TOLERANCE:.0%}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
