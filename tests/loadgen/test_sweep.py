"""`loopscope sweep`: arguments, the JSON/CSV shape, the PNG, and no Qt in the command;
the sweep engine (`sweep_steps`) that it and the desktop window share."""

from __future__ import annotations

import asyncio
import csv
import json
import math
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loopscope.cli import main
from loopscope.embedded_server import EmbeddedServer
from loopscope.loadgen import (
    LatencySummary,
    RequestRecord,
    RunResult,
    RunSettings,
    Summary,
    SweepProgress,
    SweepSettings,
    WindowStats,
    Workload,
    open_loop_theory,
    sweep_steps,
    theory,
)
from loopscope.loadgen.export import (
    STEP_COLUMNS,
    WINDOW_COLUMNS,
    run_record,
    step_row,
    window_rows,
)
from tests.conftest import wait_until

SWEEP = ["sweep", "--scenarios", "async,sync"]


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


def test_a_sweep_and_each_of_its_steps_have_one_workload() -> None:
    settings = SweepSettings(
        scenarios=("sync", "cpu-sync"),
        concurrency=(2, 4),
        delay_ms=50,
        threads=3,
        drain_s=1.0,
        iterations=500,
        step_duration_s=2,
    )
    workload = Workload(**settings.workload_keywords())
    assert workload.delay_ms == 50 and workload.drain_s == 1.0
    for step in settings.steps():
        assert isinstance(step, Workload)
        assert Workload(**step.workload_keywords()) == workload
        assert step.duration_s == 2


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


def _fake_run(
    scenario: str, level: float, *, open_loop: bool, errors: dict[str, int] | None = None
) -> RunResult:
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
    summary = Summary(scenario, 4.0, ok, errors or {}, latency, math.nan, math.nan, uncorrected)
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


def _steps(
    users: tuple[int, ...], *, delay_ms: float, duration_s: float, warmup_s: float | None = None
) -> list[tuple[RunSettings, ...]]:
    """A step per level: async and sync at once, as the desktop window sweeps."""
    return [
        tuple(
            RunSettings(
                scenario=name,
                concurrency=n,
                delay_ms=delay_ms,
                duration_s=duration_s,
                warmup_s=warmup_s,
            )
            for name in ("async", "sync")
        )
        for n in users
    ]


async def test_the_engine_runs_each_steps_runs_at_once(server: EmbeddedServer) -> None:
    seen: list[SweepProgress] = []
    records: list[RequestRecord] = []
    server.probes.set_thread_tokens(2)  # whatever the pool was, each step starts from `threads`
    steps = _steps((2, 6), delay_ms=50, duration_s=1.2, warmup_s=0.2)
    results = await sweep_steps(server, steps, threads=4, progress=seen.append, sink=records.append)
    assert [(r.settings.scenario, r.settings.concurrency) for r in results] == [
        ("async", 2),
        ("sync", 2),
        ("async", 6),
        ("sync", 6),
    ]
    # Before each step (its runs), then at the end; each report carries the step just ended.
    assert [(p.done, p.total, len(p.runs), len(p.finished)) for p in seen] == [
        (0, 2, 2, 0),
        (1, 2, 2, 2),
        (2, 2, 0, 2),
    ]
    assert seen[1].finished == tuple(results[:2]) and seen[2].finished == tuple(results[2:])
    assert seen[1].step == steps[1][0] and seen[2].step is None
    # Side by side: two steps of 1.2 s, not four (four would take at least 4.8 s).
    assert seen[-1].elapsed_s < 4 * 1.2
    assert server.probes.threadpool().total == 4
    assert {record.scenario for record in records} == {"async", "sync"}
    assert len(records) >= sum(r.summary.requests for r in results)
    for result in results:
        assert result.summary.errors == {}
        # sync at 6 users: 4 threads / 50 ms = 80 req/s at most.
        assert result.summary.throughput_rps == pytest.approx(
            result.prediction.throughput_rps, rel=0.35
        )


async def test_cancelling_the_engine_cuts_its_load_at_once(server: EmbeddedServer) -> None:
    steps = _steps((20,), delay_ms=3000, duration_s=60)
    sweep = asyncio.get_running_loop().create_task(sweep_steps(server, steps, threads=40))
    probes = server.probes
    await wait_until(
        lambda: probes.in_flight()["async"] == 20 and probes.in_flight()["sync"] == 20,
        what="the step's load",
    )
    started = time.perf_counter()
    sweep.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sweep
    assert time.perf_counter() - started < 2.0  # cut, not awaited: the requests take 3 s
    left = [
        t
        for t in asyncio.all_tasks()
        if t.get_name().startswith(("loopscope-user", "loopscope-sweep"))
    ]
    assert left == []


@pytest.mark.parametrize("open_loop", [False, True], ids=["closed", "open"])
def test_json_and_csv_are_one_record(open_loop: bool) -> None:
    # Open loop past capacity (sync: 4 threads / 100 ms = 40 req/s): theory has no latency.
    result = _fake_run("sync", 60 if open_loop else 16, open_loop=open_loop, errors={"timeout": 2})
    assert result.to_json() == run_record(result)
    record = json.loads(json.dumps(result.to_json()))
    assert set(record) >= {
        "scenario", "concurrency", "rate", "delay_ms", "threads", "duration_s", "requests",
        "errors", "throughput_rps", "latency_ms", "theory",
    }  # fmt: skip
    assert set(record["latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
    assert record["theory"]["latency_unbounded"] is open_loop
    row = step_row(result)
    assert tuple(row) == STEP_COLUMNS
    for column in ("scenario", "mode", "concurrency", "rate", "requests", "throughput_rps"):
        assert row[column] == record[column]
    assert row["errors"] == 2 and record["errors"] == {"timeout": 2}
    for name in ("p50", "p90", "p99", "max", "mean"):
        assert row[f"latency_{name}_ms"] == record["latency_ms"][name]
    assert row["latency_uncorrected_p99_ms"] == record["latency_uncorrected_ms"]["p99"]
    assert row["theory_throughput_rps"] == record["theory"]["throughput_rps"]
    assert row["theory_latency_ms"] == record["theory"]["latency_ms"]
    assert (row["theory_latency_ms"] is None) is open_loop


def test_window_rows_flag_the_warm_up() -> None:
    latency = LatencySummary(p50=10.0, p90=12.0, p99=15.0, max=20.0, mean=11.0)
    windows = [WindowStats(float(t), 1.0, 50, 1, latency) for t in range(3)]
    rows = window_rows("async", windows, warmup_s=1.0)
    assert [tuple(row) for row in rows] == [WINDOW_COLUMNS] * 3
    assert [row["warmup"] for row in rows] == [1, 0, 0]
    assert rows[2] == {
        "scenario": "async",
        "t_s": 2.0,
        "warmup": 0,
        "ok": 50,
        "errors": 1,
        "throughput_rps": 50.0,
        "latency_p50_ms": 10.0,
        "latency_p90_ms": 12.0,
        "latency_p99_ms": 15.0,
        "latency_max_ms": 20.0,
        "latency_uncorrected_p50_ms": None,  # nothing measured from the actual send
        "latency_uncorrected_p99_ms": None,
        # WindowStats made without status counts: every class 0.
        **{f"status_classes_{n}xx": 0 for n in range(1, 6)},
    }
