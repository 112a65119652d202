"""The `loopscope` command: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopscope._interrupt import Aborted, run_interruptible
from loopscope.cli import main
from tests._helpers import refused_in_one_line, start_loopscope

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
    refused_in_one_line(argv, capsys)  # and no report: the load never started


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
        # About 50 a window: a busy machine's stall moves answers into the next window.
        assert 30 <= float(row["throughput_rps"]) <= 70
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


# -- never hang, never lose a finished result -------------------------------------------------


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET at once (HTTP/1.0: one connection per request, so closing the
    server refuses the next request); no PUT: a server that is not LoopScope's."""

    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.count += 1  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass


class CountingServer:
    """A real HTTP server on 127.0.0.1 port 0, in a thread, counting the GETs it answers."""

    def __init__(self) -> None:
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
        self._server.daemon_threads = True
        self._server.lock = threading.Lock()  # type: ignore[attr-defined]
        self._server.count = 0  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._open = True

    @property
    def count(self) -> int:
        return int(self._server.count)  # type: ignore[attr-defined]

    def wait_for(self, requests: int, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count < requests:
            assert time.monotonic() < deadline, f"only {self.count} requests arrived"
            time.sleep(0.02)  # polling a condition, with a deadline

    def close(self) -> None:
        if self._open:
            self._open = False
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


class FrozenTarget:
    """A listener that accepts connections, holds them, and never reads a byte."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(100)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        try:
            while True:
                self.accepted.append(self._listener.accept()[0])
        except OSError:
            pass  # closed

    def wait_for_connection(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.accepted:
            assert time.monotonic() < deadline, "nobody connected"
            time.sleep(0.02)  # polling a condition, with a deadline

    def close(self) -> None:
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def frozen() -> Iterator[FrozenTarget]:
    target = FrozenTarget()
    yield target
    target.close()


@pytest.fixture
def frozen_target(frozen: FrozenTarget) -> str:
    return frozen.url


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return start_loopscope(*argv)


def _wait_for_line(process: subprocess.Popen[str], needle: str, timeout_s: float = 60) -> None:
    """Read stderr until a line holds `needle` (the sweep's progress bar, one line a step)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], 0.2)
        if ready:
            line = process.stderr.readline()
            if needle in line:
                return
            assert line, "the process ended before its progress said " + needle
    pytest.fail(f"no {needle!r} on stderr within {timeout_s} s")


SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]


@pytest.mark.parametrize(("sig", "status"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_writes_its_partial_result(
    sig: signal.Signals, status: int, counting_server: CountingServer, tmp_path: Path
) -> None:
    out, csv_out = tmp_path / "run.json", tmp_path / "run.csv"
    process = _start(
        [
            "run",
            "--scenario",
            "async",
            "--concurrency",
            "4",
            "--duration",
            "60",
            "--warmup",
            "0",
            "--target",
            counting_server.url,
            "--json",
            str(out),
            "--csv",
            str(csv_out),
        ]
    )
    counting_server.wait_for(20)
    process.send_signal(sig)
    sent = time.monotonic()
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 5, "an interrupt must end the run within seconds"
    assert process.returncode == status, stderr
    assert stderr.splitlines() == [stderr.splitlines()[0]] and stderr.startswith(
        f"loopscope: interrupted by {sig.name}: partial result of "
    ), stderr
    assert "wrote --json and --csv" in stderr
    assert stdout.startswith(f"LoopScope run INTERRUPTED ({sig.name}): partial result")
    result = json.loads(out.read_text())
    assert result["partial"] is True and result["interrupted"] == sig.name
    assert result["duration_s"] == 60 and result["requests"] > 0 and result["ok"] > 0
    header, *rows = csv_out.read_text().splitlines()
    assert header.endswith(",interrupted")
    assert all(row.endswith("," + sig.name) for row in rows)


@pytest.mark.parametrize(("sig", "status"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_sweep_keeps_its_finished_steps(
    sig: signal.Signals, status: int, tmp_path: Path
) -> None:
    out, csv_out, png = tmp_path / "s.json", tmp_path / "s.csv", tmp_path / "s.png"
    argv = ["sweep", "--scenarios", "async,sync", "--concurrency", "2,4", "--delay-ms", "20"]
    argv += ["--step-duration", "1.5", "--json", str(out), "--csv", str(csv_out)]
    if sig == signal.SIGTERM:  # the PNG is drawn once: its child must not outlive us either
        argv += ["--png", str(png)]
    process = _start(argv)
    _wait_for_line(process, " 2/4 ")  # the first step has finished
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert "Traceback" not in stderr
    assert stderr.splitlines()[-1].startswith(
        f"loopscope: interrupted by {sig.name}: kept the 1 finished of 4 steps; wrote --json"
    )
    assert stdout.startswith(f"LoopScope sweep INTERRUPTED ({sig.name}): 1 of 4 steps")
    steps = json.loads(out.read_text())
    assert [(s["scenario"], s["concurrency"]) for s in steps] == [("async", 2)]
    assert steps[0]["interrupted"] == sig.name and steps[0]["partial"] is False
    assert steps[0]["ok"] > 0
    header, *rows = csv_out.read_text().splitlines()
    assert header.endswith(",interrupted") and len(rows) == 1
    assert rows[0].startswith("async,closed,2,") and rows[0].endswith("," + sig.name)
    if sig == signal.SIGTERM:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


@pytest.mark.parametrize("second", [True, False], ids=["second SIGINT", "SIGTERM"])
def test_a_signal_while_the_png_is_drawn_ends_the_drawing_too(second: bool, tmp_path: Path) -> None:
    argv = ["sweep", "--scenarios", "async", "--concurrency", "2,4", "--delay-ms", "20"]
    argv += ["--step-duration", "1", "--png", str(tmp_path / "s.png")]
    process = _start(argv)
    if second:
        # Ctrl+C once: the sweep stops and draws its finished step; Ctrl+C again: out now.
        _wait_for_line(process, " 2/2 ")
        process.send_signal(signal.SIGINT)
    assert process.stdout is not None
    assert process.stdout.readline().startswith("LoopScope sweep")  # the table: then the PNG
    deadline = time.monotonic() + 30
    while not _children(process.pid):
        assert time.monotonic() < deadline, "the PNG was never drawn"
        time.sleep(0.02)  # polling a condition, with a deadline
    (renderer,) = _children(process.pid)
    sig = signal.SIGINT if second else signal.SIGTERM
    process.send_signal(sig)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=15)
    assert time.monotonic() - sent < 3
    assert process.returncode == 128 + int(sig)
    assert stderr.splitlines()[-1] == f"loopscope: interrupted by {sig.name}", stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 5
    while _alive(renderer):
        assert time.monotonic() < deadline, "the PNG renderer outlived the command"
        time.sleep(0.02)


def test_a_second_signal_stops_the_load_at_once_and_still_closes() -> None:
    # In this process: two signals must reach the loop one after the other (the kernel
    # merges a signal sent while the same one is pending).
    closed = []

    async def stubborn(stop: asyncio.Event) -> None:
        await stop.wait()  # would go on cleaning up for a minute
        try:
            await asyncio.sleep(60)
        finally:
            closed.append(True)

    async def first_then_second(stop: asyncio.Event) -> None:
        work = asyncio.ensure_future(stubborn(stop))
        os.kill(os.getpid(), signal.SIGINT)
        await stop.wait()
        os.kill(os.getpid(), signal.SIGINT)
        await work

    before = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    with pytest.raises(Aborted) as raised:
        run_interruptible(first_then_second)
    assert raised.value.signal == signal.SIGINT
    assert time.monotonic() - started < 5
    assert closed == [True]
    # The handlers are the ones from before again.
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("target", ["frozen_target", "closed_port"])
def test_a_run_against_a_dead_target_ends_in_time_and_counts_its_requests(
    target: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue(target)
    out = tmp_path / "r.json"
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopscope",
            "run",
            "--scenario",
            "async",
            "--concurrency",
            "5",
            "--delay-ms",
            "10",
            "--duration",
            "2",
            "--target",
            url,
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # 2 s of load, a drain of 2 s + twice the delay, and the interpreter's start-up.
    assert time.monotonic() - started < 2 + 2.1 + 5
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith("LoopScope run FAILED: 100 % of requests failed (")
    result = json.loads(out.read_text())
    assert result["requests"] > 0 and result["ok"] == 0
    if target == "frozen_target":
        # Never answered, cut off at the end: counted, not dropped.
        assert result["errors"] == {"abandoned": 5}
    else:
        assert result["errors"]["connect"] == result["requests"]


@pytest.mark.parametrize(("max_rate", "status"), [(None, 1), ("1", 0)], ids=["default", "1"])
def test_a_target_killed_mid_run_fails_the_run(
    max_rate: str | None, status: int, counting_server: CountingServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    argv = ["run", "--scenario", "async", "--concurrency", "4", "--duration", "4"]
    argv += ["--warmup", "0", "--target", counting_server.url, "--json", str(out)]
    if max_rate is not None:
        argv += ["--max-error-rate", max_rate]
    process = _start(argv)
    counting_server.wait_for(20)
    counting_server.close()
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    result = json.loads(out.read_text())
    assert result["ok"] >= 1 and result["errors"]["connect"] > result["ok"]
    if status == 1:
        assert stdout.startswith("LoopScope run FAILED: ")
        assert "% of requests failed (connect: " in stdout.splitlines()[0]
        assert (
            stderr.strip().splitlines() == [stderr.strip()]
            and "more than --max-error-rate 0.1 allows" in stderr
        )
    else:
        assert stdout.startswith("LoopScope run: async")


@pytest.mark.parametrize(
    ("target", "status", "message"),
    [
        ("closed_port", 1, "nothing is listening there"),
        ("frozen_target", 1, "no answer within 5 s"),
        ("counting_server", 2, "--threads needs a LoopScope server"),
    ],
)
def test_threads_on_a_target_that_cannot_take_them_is_one_line(
    target: str,
    status: int,
    message: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = request.getfixturevalue(target)
    url = value.url if isinstance(value, CountingServer) else value
    argv = ["run", "--scenario", "sync", "--threads", "10", "--duration", "2", "--target", url]
    assert main(argv) == status
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err
    assert f"cannot set --threads 10 on {url}" in captured.err and message in captured.err
    assert captured.out == ""
