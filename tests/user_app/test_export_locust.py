"""`export-locust`: the exported file, run by a Locust master and worker, loads as `run` does."""

from __future__ import annotations

import csv
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopscope.cli import main
from tests._helpers import refused_in_one_line

REPO = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).parent / "locust"


@pytest.fixture
def demo_server() -> Iterator[str]:
    """`loopscope serve` in its own process (Locust must not share our loop): its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "loopscope", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server says where it listens
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found, line
        yield found.group(0)
    finally:
        process.terminate()
        process.communicate(timeout=10)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_locustfile_says_what_run_would_send(tmp_path: Path) -> None:
    out = tmp_path / "shop_locustfile.py"
    argv = ["export-locust", "--app", "examples.shop.app:app", "--route", "POST /orders"]
    body = ["--body", '{"product": "tea"}', "--rate", "40", "--concurrency", "8"]
    assert main([*argv, *body, "-o", str(out)]) == 0
    text = out.read_text()
    compile(text, str(out), "exec")
    assert "host = 'http://127.0.0.1:8000'" in text
    assert "constant_throughput(5)  # 40 req/s over 8 users" in text
    assert "'POST',\n            '/orders'" in text
    assert "headers={'Content-Type': 'application/json'}" in text
    assert "locust -f shop_locustfile.py --headless -u 8" in text


def test_a_remote_host_needs_allow_remote_even_for_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "locustfile.py"
    refused_in_one_line(
        ["export-locust", "--url", "http://10.0.0.9:8000/x", "-o", str(out)], capsys
    )
    assert not out.exists()


@pytest.mark.slow
def test_locust_master_and_worker_run_the_export_at_the_expected_rate(
    tmp_path: Path, demo_server: str
) -> None:
    assert LOCUST.exists(), "locust is a test dependency: pip install -e '.[test]'"
    locustfile = tmp_path / "locustfile.py"
    argv = ["export-locust", "--scenario", "async", "--concurrency", "10", "--delay-ms", "200"]
    assert main([*argv, "--host", demo_server, "-o", str(locustfile)]) == 0
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    common = ["-f", str(locustfile)]
    port = _free_port()
    master = subprocess.Popen(
        [
            str(LOCUST),
            *common,
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--headless",
            "-u",
            "10",
            "-r",
            "100",
            "-t",
            "5s",
            "--expect-workers",
            "1",
            "--csv",
            str(tmp_path / "out"),
            "--only-summary",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    worker: subprocess.Popen[str] | None = None
    try:
        worker = subprocess.Popen(
            [
                str(LOCUST),
                *common,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=tmp_path,
            env=env,
        )
        output, _ = master.communicate(timeout=60)
    finally:
        for process in (master, worker):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert master.returncode == 0, output[-2000:]
    with (tmp_path / "out_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    rate = float(rows["async"]["Requests/s"])
    assert int(rows["async"]["Failure Count"]) == 0
    # 10 users x one answer per 200 ms: 50 req/s, as `loopscope run` measures.
    assert 42.5 <= rate <= 57.5, f"{rate:.1f} req/s"
