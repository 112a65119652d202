"""The `loopscope` command: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from loopscope.cli import main

BAD_ARGUMENTS = [
    ["run"],
    ["run", "--scenario", "nope"],
    ["run", "--scenario", "async", "--concurrency", "0"],
    ["run", "--scenario", "async", "--concurrency", "1001"],
    ["run", "--scenario", "async", "--concurrency", "many"],
    ["run", "--scenario", "async", "--delay-ms", "-3"],
    ["run", "--scenario", "async", "--delay-ms", "nan"],
    ["run", "--scenario", "blocking", "--delay-ms", "5000"],
    ["run", "--scenario", "async", "--duration", "0"],
    ["run", "--scenario", "async", "--duration", "2", "--warmup", "3"],
    ["run", "--scenario", "sync", "--threads", "0"],
    ["run", "--scenario", "async", "--target", "http://example.com"],
    ["run", "--scenario", "async", "--target", "ftp://127.0.0.1"],
    ["run", "--scenario", "async", "--bogus"],
    ["run", "--scenario", "async", "--rate", "0"],
    ["run", "--scenario", "async", "--rate", "-5"],
    ["run", "--scenario", "async", "--rate", "100001"],
    ["run", "--scenario", "async", "--rate", "fast"],
    ["run", "--scenario", "async", "--rate", "10", "--concurrency", "10001"],
    ["fly"],
    # Nothing can be measured: refused up front, not blamed on a target after the run.
    ["run", "--scenario", "async", "--duration", "1e-9"],
    ["run", "--scenario", "async", "--rate", "1e-9"],
    ["run", "--scenario", "async", "--warmup", "1.99", "--duration", "2"],
    ["sweep", "--scenarios", "async", "--rates", "0.01", "--step-duration", "5"],
    # Targets: this machine's IPv4 loopback, a valid port, no tricks.
    ["run", "--scenario", "async", "--target", "http://127.0.0.1:99999"],
    ["run", "--scenario", "async", "--target", "http://127.0.0.1:65536"],
    ["run", "--scenario", "async", "--target", "http://127.0.0.1:0"],
    ["run", "--scenario", "async", "--target", "https://127.0.0.1:8000"],
    ["run", "--scenario", "async", "--target", "http://[::1]:8000"],
    ["run", "--scenario", "async", "--target", "http://10.1.2.3\\@127.0.0.1:8000"],
    ["run", "--scenario", "async", "--target", "http://user:pw@127.0.0.1:8000"],
    ["run", "--scenario", "async", "--target", "http://127.0.0.1:8000/scenario/async"],
    ["run", "--scenario", "async", "--target", "ftp://127.0.0.1:8000"],
    # Outputs are checked before any load starts.
    ["run", "--scenario", "async", "--json", "/proc/loopscope.json"],
    ["run", "--scenario", "async", "--csv", "/"],
    ["run", "--scenario", "async", "--json", "/tmp/same.out", "--csv", "/tmp/same.out"],
    ["sweep", "--scenarios", "async", "--concurrency", "1", "--png", "/proc/loopscope.png"],
]


SWEEP = ["sweep", "--scenarios", "async,sync"]
SWEEP_BAD_ARGUMENTS = [
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


@pytest.mark.parametrize("argv", BAD_ARGUMENTS + SWEEP_BAD_ARGUMENTS, ids=" ".join)
def test_bad_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("loopscope: error: ")
    assert "Traceback" not in captured.err
    assert captured.out == ""  # no report: the load never started


def test_run_writes_the_json_of_the_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    csv_out = tmp_path / "out.csv"
    argv = [
        "run",
        "--scenario",
        "sync",
        "--concurrency",
        "4",
        "--delay-ms",
        "50",
        "--duration",
        "1.5",
        "--threads",
        "2",
        "--json",
        str(out),
        "--csv",
        str(csv_out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "throughput (req/s)" in printed and "theory" in printed
    result = json.loads(out.read_text())
    for key in (
        "scenario",
        "concurrency",
        "rate",
        "delay_ms",
        "threads",
        "duration_s",
        "requests",
        "errors",
        "throughput_rps",
        "latency_ms",
        "theory",
    ):
        assert key in result
    assert result["scenario"] == "sync"
    assert result["concurrency"] == 4
    assert result["threads"] == 2
    assert result["rate"] is None
    assert result["errors"] == {}
    assert result["requests"] > 0
    assert set(result["latency_ms"]) >= {"p50", "p90", "p99", "max", "mean"}
    assert set(result["theory"]) >= {"throughput_rps", "latency_ms"}
    # 2 threads, 50 ms: theory says 40 req/s and 100 ms.
    assert result["theory"]["throughput_rps"] == pytest.approx(40)
    assert 20 < result["throughput_rps"] < 48
    # One row per closed 1 s window: 1.5 s of load closes one.
    header, *rows = csv_out.read_text().splitlines()
    assert header.startswith("scenario,t_s,warmup,ok,errors,throughput_rps,latency_p50_ms")
    assert rows and all(row.startswith("sync,") for row in rows)


def test_open_loop_run_writes_its_json_and_one_csv_row_per_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, csv_out = tmp_path / "open.json", tmp_path / "open.csv"
    argv = ["run", "--scenario", "async", "--rate", "50", "--delay-ms", "20"]
    argv += ["--duration", "3.5", "--warmup", "1", "--json", str(out), "--csv", str(csv_out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "open loop at 50 req/s" in printed and "uncorrected" in printed
    result = json.loads(out.read_text())
    assert result["mode"] == "open"
    assert result["rate"] == 50
    assert result["concurrency"] == 10  # the most in flight: sized for the rate, at least 10
    assert isinstance(result["late_starts"], int)
    assert set(result["latency_uncorrected_ms"]) == {"p50", "p90", "p99", "max", "mean"}
    assert result["theory"]["throughput_rps"] == 50
    assert 40 <= result["throughput_rps"] <= 60
    lines = csv_out.read_text().splitlines()
    columns = lines[0].split(",")
    assert columns[:6] == ["scenario", "t_s", "warmup", "ok", "errors", "throughput_rps"]
    assert {"latency_p90_ms", "latency_p99_ms", "latency_max_ms"} <= set(columns)
    rows = [dict(zip(columns, line.split(","), strict=True)) for line in lines[1:]]
    assert [float(row["t_s"]) for row in rows] == [0.0, 1.0, 2.0]
    assert [row["warmup"] for row in rows] == ["1", "0", "0"]
    for row in rows[1:]:
        assert 40 <= float(row["throughput_rps"]) <= 60
        assert 15 <= float(row["latency_p50_ms"]) <= 80


def test_serve_on_a_busy_port_exits_1_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "loopscope", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"loopscope: cannot start the server: 127.0.0.1:{port} is already in use"
    )


def test_the_console_script_runs_headless_without_qt(tmp_path: Path) -> None:
    # A real process: the command must work and must not import Qt to do so.
    code = (
        "import sys; from loopscope.cli import main; rc = main(sys.argv[1:]); "
        "assert not any(m.startswith(('PySide6', 'pyqtgraph', 'qasync')) for m in sys.modules), "
        "'Qt was imported'; sys.exit(rc)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            "--scenario",
            "async",
            "--concurrency",
            "3",
            "--delay-ms",
            "20",
            "--duration",
            "1",
            "--json",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert json.loads((tmp_path / "r.json").read_text())["scenario"] == "async"
