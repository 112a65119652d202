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
import asyncio
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# Measure the code in this checkout, whatever `loadgen` an (older) install would resolve to.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loopscope import loadgen
from loopscope.embedded_server import DEFAULT_FANOUT

WARMUP_S = 1.0
TOLERANCE = 0.10
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "core_fidelity.json"


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
        return within(self.throughput_ratio) and within(self.latency_ratio)

    def to_json(self) -> dict[str, object]:
        row = self.result.to_json()
        row["throughput_ratio"] = _round(self.throughput_ratio)
        row["latency_p50_ratio"] = _round(self.latency_ratio)
        row["within_tolerance"] = self.ok
        return row


def ratio(measured: float, predicted: float) -> float:
    if math.isnan(measured) or math.isnan(predicted) or predicted <= 0 or math.isinf(predicted):
        return math.nan
    return measured / predicted


def within(value: float) -> bool:
    # NaN compares False, so a run without a measurement is never "ok".
    return 1 - TOLERANCE <= value <= 1 + TOLERANCE


def _round(value: float, digits: int = 3) -> float | None:
    return None if math.isnan(value) else round(value, digits)


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
    result = asyncio.run(loadgen.run_load(settings_for(case, duration_s)))
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


def _num(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


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
            _num(summary.throughput_rps),
            _num(p.throughput_rps),
            _num(row.throughput_ratio, 2),
            _num(summary.latency.p50),
            _num(p.latency_ms),
            _num(row.latency_ratio, 2),
            "ok" if row.ok else "OFF",
        ]
    )


def write_json(path: Path, rows: Sequence[Row], duration_s: float) -> None:
    payload = {
        "benchmark": "core_fidelity",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "duration_s": duration_s,
        "warmup_s": WARMUP_S,
        "tolerance": TOLERANCE,
        "all_within_tolerance": all(row.ok for row in rows),
        "rows": [row.to_json() for row in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


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

    write_json(args.out, rows, args.duration)
    off = [row for row in rows if not row.ok]
    print(f"\n{len(rows) - len(off)} of {len(rows)} rows within {TOLERANCE:.0%}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
