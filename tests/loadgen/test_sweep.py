"""`loopscope sweep`: arguments, the JSON/CSV shape, the PNG, and no Qt in the command."""

from __future__ import annotations

import csv
import json
import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from loopscope.cli import main
from loopscope.loadgen import (
    LatencySummary,
    RunResult,
    RunSettings,
    Summary,
    SweepSettings,
    open_loop_theory,
    theory,
)
from loopscope.loadgen.export import STEP_COLUMNS

SWEEP = ["sweep", "--scenarios", "async,sync"]

BAD_ARGUMENTS = [
    ["sweep"],
    ["sweep", "--concurrency", "1,10"],
    ["sweep", "--scenarios", "async"],
    ["sweep", "--scenarios", "nope", "--concurrency", "1"],
    ["sweep", "--scenarios", "async,async", "--concurrency", "1"],
    ["sweep", "--scenarios", "async,", "--concurrency", "1"],
    [*SWEEP, "--concurrency", "1,,10"],
    [*SWEEP, "--concurrency", "0,10"],
    [*SWEEP, "--concurrency", "1001"],
    [*SWEEP, "--concurrency", "ten"],
    [*SWEEP, "--rates", "0,10"],
    [*SWEEP, "--concurrency", "1", "--rates", "10"],
    [*SWEEP, "--concurrency", "1", "--step-duration", "0"],
    [*SWEEP, "--concurrency", "1", "--step-duration", "2", "--warmup", "2"],
    [*SWEEP, "--concurrency", "1", "--threads", "0"],
    [*SWEEP, "--concurrency", "1,2,3,4", "--step-duration", "600"],  # 80 min: too long
    ["sweep", "--scenarios", "blocking", "--concurrency", "1", "--delay-ms", "5000"],
    [*SWEEP, "--concurrency", "1", "--bogus"],
]


@pytest.mark.parametrize("argv", BAD_ARGUMENTS, ids=" ".join)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("loopscope: error: ")
    assert captured.out == ""


def test_the_whole_sweep_is_bounded() -> None:
    with pytest.raises(ValueError, match="limit is 3,600 s"):
        SweepSettings(scenarios=("async", "sync"), concurrency=(1, 2, 3, 4), step_duration_s=600)
    settings = SweepSettings(scenarios=("async", "sync"), rates=(5, 10), step_duration_s=2)
    assert [(s.scenario, s.rate) for s in settings.steps()] == [
        ("async", 5),
        ("async", 10),
        ("sync", 5),
        ("sync", 10),
    ]
    assert settings.load_s == 8


def test_sweep_writes_json_csv_and_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, csv_out, png = tmp_path / "s.json", tmp_path / "s.csv", tmp_path / "s.png"
    argv = [*SWEEP, "--concurrency", "2,8", "--delay-ms", "50", "--step-duration", "1.2"]
    argv += ["--warmup", "0.4", "--threads", "4"]
    argv += ["--json", str(out), "--csv", str(csv_out), "--png", str(png)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "LoopScope sweep: async, sync; closed loop" in captured.out
    # stderr is no terminal here: one progress line per step, then one for the end.
    progress = captured.err.strip().splitlines()
    assert progress[0] == "[....................] 1/4 async c=2"
    assert progress[3].startswith("[###############.....] 4/4 sync c=8")
    assert progress[4].startswith("[####################] 4/4 done in ")

    runs = json.loads(out.read_text())
    assert [(r["scenario"], r["concurrency"]) for r in runs] == [
        ("async", 2),
        ("async", 8),
        ("sync", 2),
        ("sync", 8),
    ]
    for run in runs:
        assert run["mode"] == "closed" and run["rate"] is None
        assert run["threads"] == 4 and run["delay_ms"] == 50
        assert run["errors"] == {} and run["requests"] > 0
        assert set(run["latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
        # A closed loop sends on time: uncorrected latency is the same histogram.
        assert run["latency_uncorrected_ms"] == run["latency_ms"]
    theories = [r["theory"]["throughput_rps"] for r in runs]
    assert theories == [40, 160, 40, 80]  # sync: 4 threads / 50 ms = 80 req/s at most
    for run in runs:
        assert run["throughput_rps"] == pytest.approx(run["theory"]["throughput_rps"], rel=0.35)

    with csv_out.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4
    assert tuple(rows[0]) == STEP_COLUMNS
    assert [row["scenario"] for row in rows] == ["async", "async", "sync", "sync"]
    assert [row["concurrency"] for row in rows] == ["2", "8", "2", "8"]
    assert float(rows[3]["theory_latency_ms"]) == pytest.approx(100)

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000


def test_sweep_runs_headless_without_qt(tmp_path: Path) -> None:
    # A real process: an open-loop sweep must not import Qt to do its work.
    code = (
        "import sys; from loopscope.cli import main; rc = main(sys.argv[1:]); "
        "assert not any(m.startswith(('PySide6', 'pyqtgraph', 'qasync')) for m in sys.modules), "
        "'Qt was imported'; sys.exit(rc)"
    )
    argv = ["sweep", "--scenarios", "async", "--rates", "20,40", "--delay-ms", "20"]
    argv += ["--step-duration", "1.2", "--warmup", "0.2", "--json", str(tmp_path / "o.json")]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    runs = json.loads((tmp_path / "o.json").read_text())
    assert [(r["mode"], r["rate"]) for r in runs] == [("open", 20), ("open", 40)]
    for run in runs:
        assert run["concurrency"] == 10  # the most in flight, sized for the rate
        assert run["throughput_rps"] == pytest.approx(run["rate"], rel=0.2)
        assert isinstance(run["late_starts"], int)


def _fake_run(scenario: str, level: float, *, open_loop: bool) -> RunResult:
    """A plausible step (no load), through the same to_json the sweep writes."""
    settings = RunSettings(
        scenario=scenario,
        concurrency=1 if open_loop else int(level),
        rate=level if open_loop else None,
        delay_ms=100,
        duration_s=5,
        threads=4,
    )
    if open_loop:
        prediction = open_loop_theory(scenario, rate=level, delay_s=0.1, threads=4)
    else:
        prediction = theory.closed_loop(scenario, users=int(level), delay_s=0.1, threads=4)
    p50 = prediction.latency_ms if math.isfinite(prediction.latency_ms) else 100 * level
    latency = LatencySummary(p50=p50, p90=p50 * 1.1, p99=p50 * 1.2, max=p50 * 1.3, mean=p50)
    uncorrected = LatencySummary(p50=min(p50, 400), p90=400, p99=450, max=500, mean=300)
    ok = int(prediction.throughput_rps * 4)
    summary = Summary(scenario, 4.0, ok, {}, latency, math.nan, math.nan, uncorrected)
    return RunResult(settings, summary, prediction, 4, "http://127.0.0.1:1", max_in_flight=10)


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


@pytest.mark.parametrize("open_loop", [False, True], ids=["closed", "open"])
def test_the_png_shows_each_scenario_in_its_colour(tmp_path: Path, open_loop: bool) -> None:
    levels = [5.0, 20.0, 60.0] if open_loop else [1.0, 4.0, 16.0]
    runs = [
        _fake_run(scenario, level, open_loop=open_loop).to_json()
        for scenario in ("async", "sync", "blocking")
        for level in levels
    ]
    data, png = tmp_path / "sweep.json", tmp_path / "out.png"
    data.write_text(json.dumps(runs))
    done = subprocess.run(
        [sys.executable, "-m", "loopscope.desktop_app.sweep_png", str(data), str(png)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.returncode == 0, done.stderr
    raw = png.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    assert _png_size(raw) == (1500, 620)

    from PySide6.QtGui import QColor, QImage  # only to read the pixels back

    image = QImage(str(png))
    counts: dict[str, int] = {}
    white = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            name = QColor(image.pixel(x, y)).name().upper()
            counts[name] = counts.get(name, 0) + 1
            white += name == "#FFFFFF"
    total = (image.width() // 2) * (image.height() // 2)
    assert white > 0.6 * total  # a white background
    for colour in ("#0072B2", "#E69F00", "#D55E00"):  # desktop_app/palette.py
        assert counts.get(colour, 0) > 200, colour
