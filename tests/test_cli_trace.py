"""`loopscope run --trace FILE`: the per-request timeline as a Chrome trace, written at the
end of a run and after an interrupt; a path that cannot be written is refused before any
load."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopscope.loadgen.trace import REQUEST, WAITING, WORKING
from tests._helpers import refused_in_one_line, start_loopscope
from tests.test_cli import CountingServer
from tests.trace_checks import checked_trace


@pytest.fixture
def counting_server() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def test_run_writes_the_trace_of_the_embedded_server(tmp_path: Path) -> None:
    out = tmp_path / "run.trace.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopscope",
            "run",
            "--scenario",
            "sync",
            "--threads",
            "2",
            "--concurrency",
            "4",
            "--delay-ms",
            "50",
            "--duration",
            "1",
            "--trace",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    line = next(s for s in done.stdout.splitlines() if "trace:" in s)
    assert "requests, the server's phases and the time on the wire" in line
    trace = checked_trace(out.read_text())
    data = trace["otherData"]
    assert data["side"] == "client and server"
    assert (data["scenario"], data["threads"], data["concurrency"]) == ("sync", 2, 4)
    cats = {e["cat"] for e in trace["traceEvents"] if e["ph"] == "X"}
    assert {REQUEST, WAITING, WORKING} <= cats
    # 4 users: 4 lanes at most.
    assert {e["tid"] for e in trace["traceEvents"] if e["ph"] == "X"} <= {1, 2, 3, 4}


def test_an_unwritable_trace_path_is_refused_before_any_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    refused_in_one_line(
        ["run", "--scenario", "async", "--duration", "30", "--trace", str(a_file / "t.json")],
        capsys,
        says="--trace: cannot write",
    )


def test_an_interrupted_run_writes_the_client_side_of_a_server_elsewhere(
    counting_server: CountingServer, tmp_path: Path
) -> None:
    out = tmp_path / "run.trace.json"
    process = start_loopscope(
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
        "--trace",
        str(out),
    )
    counting_server.wait_for(20)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    stdout, stderr = process.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert process.returncode == 130, stderr
    assert "wrote --trace" in stderr
    line = next(s for s in stdout.splitlines() if "trace:" in s)
    assert "client side only (send to answer)" in line
    trace = checked_trace(out.read_text())
    data = trace["otherData"]
    assert data["side"].startswith("client only") and data["interrupted"] == "SIGINT"
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert len(slices) == data["requests exported"] >= 20
    assert {e["cat"] for e in slices} == {REQUEST}
