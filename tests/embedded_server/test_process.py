"""The demo server in processes of its own: it starts, serves, and is gone after stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from loopscope.cli import main
from loopscope.embedded_server import ServerProcess, WorkerProbes
from loopscope.loadgen import RunSettings, run_load
from loopscope.loadgen.sweep import SweepSettings, run_sweep
from tests._helpers import refused_in_one_line
from tests.conftest import wait_until
from tests.fallbacks import needs_linux

REPO = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


def _serving_processes() -> set[int]:
    """Every `loopscope serve --fd` worker on this machine (ours or orphaned)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in command and b"--fd" in command and _alive(int(entry.name)):
                found.add(int(entry.name))
    return found


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def test_two_workers_are_two_processes_that_serve_and_are_gone_after_stop() -> None:
    server = ServerProcess(workers=2, threads=5)
    await server.start()
    try:
        pids = server.worker_pids()
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        assert os.getpid() not in pids
        port = int(server.url.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=server.url) as client:
            stats = (await client.get("/stats")).json()
            assert stats["threadpool"]["total"] == 5  # --threads reached every worker
            answer = await client.get("/scenario/async", params={"delay_ms": 1})
            assert answer.status_code == 200
    finally:
        await server.stop()
    await wait_until(lambda: not any(_alive(pid) for pid in pids), what="workers gone")
    assert _port_is_free(port)


@pytest.mark.slow
@needs_linux("SO_REUSEPORT balancing (elsewhere the workers share one socket unevenly)")
async def test_workers_multiply_the_thread_pool() -> None:
    # 20 users on `def` routes of 200 ms, 5 threads per worker: 25 req/s with one worker,
    # 50 with two (theory says so, and the measurement must follow).
    settings = RunSettings(
        scenario="sync", concurrency=20, delay_ms=200, threads=5, duration_s=4.0, warmup_s=1.0
    )
    result = await run_load(replace(settings, server_process=True, workers=2))
    assert result.prediction.capacity == 10
    ratio = result.summary.throughput_rps / result.prediction.throughput_rps
    assert 0.75 <= ratio <= 1.15, f"{ratio:.2f} of theory ({result.summary.throughput_rps:.1f})"
    assert result.to_json()["workers"] == 2


@pytest.mark.slow
def test_an_interrupted_run_leaves_no_server_process_behind(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loopscope",
            "run",
            "--scenario",
            "async",
            "--workers",
            "2",
            "--duration",
            "30",
            "--json",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        # Both workers up: then interrupt the run as Ctrl+C would.
        deadline = time.monotonic() + 30
        while len(_our_children(process.pid)) < 2 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.05)  # the poll's interval: the condition is checked above
        workers = _our_children(process.pid)
        assert len(workers) == 2
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert json.loads(out.read_text())["partial"] is True
    # The run's own workers, not every worker on this machine (other runs may share it).
    assert not [pid for pid in workers if _alive(pid)]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--scenario", "async", "--workers", "0"],
        ["run", "--scenario", "async", "--workers", "17"],
        ["run", "--scenario", "async", "--workers", "two"],
        ["run", "--scenario", "async", "--workers", "2", "--target", "http://127.0.0.1:8000"],
        ["run", "--server-process", "--app", "examples.shop.app:app", "--route", "/products"],
        ["gui", "--workers", "0"],
        ["gui", "--workers", "17"],
        ["gui", "--server-process", "--app", "examples.shop.app:app"],
        ["sweep", "--scenarios", "async", "--concurrency", "1", "--workers", "0"],
        ["sweep", "--scenarios", "async", "--concurrency", "1", "--workers", "x"],
        ["sweep", "--scenarios", "async", "--concurrency", "1", "--workers", "17"],
        [
            "sweep",
            "--server-process",
            "--app",
            "examples.shop.app:app",
            "--route",
            "/products",
            "--concurrency",
            "1",
        ],
    ],
    ids=" ".join,
)
def test_bad_worker_arguments_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    refused_in_one_line(argv, capsys)


async def test_each_workers_probes_are_read_on_its_own_port() -> None:
    async with ServerProcess(workers=2, threads=3) as server:
        assert len(server.probe_urls) == 2 and server.url not in server.probe_urls
        async with WorkerProbes(server.probe_urls, threads=3, period_s=0.05) as probes:
            assert probes.answered == 2
            # Each worker has a pool of its own: two pools of 3.
            assert probes.threadpool().total == 6
            probes.set_thread_tokens(4)
            await wait_until(lambda: probes.threadpool().total == 8, what="pools resized")
            assert probes.in_flight()["async"] == 0
            assert probes.server_lag_ms() >= 0.0


def _our_children(parent: int | None = None) -> set[int]:
    """Serving workers started by `parent` (this test process by default): others' on this
    machine, another test run's say, do not count."""
    parent = os.getpid() if parent is None else parent
    ours = set()
    for pid in _serving_processes():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == parent:
            ours.add(pid)
    return ours


async def test_a_sweep_runs_against_a_server_process_and_leaves_nothing() -> None:
    settings = SweepSettings(
        scenarios=("sync",),
        concurrency=(4,),
        delay_ms=50,
        threads=2,
        step_duration_s=1.5,
        warmup_s=0.5,
        server_process=True,
        workers=2,
    )
    (result,) = await run_sweep(settings)
    # Two workers of 2 threads: capacity 4, as the theory of the step says.
    assert result.prediction.capacity == 4
    assert result.settings.workers == 2
    assert result.summary.ok > 0
    assert _our_children() == set()


def test_sweep_takes_workers_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep.json"
    argv = ["sweep", "--scenarios", "async", "--concurrency", "2", "--delay-ms", "20"]
    argv += ["--step-duration", "1", "--workers", "2", "--json", str(out)]
    assert main(argv) == 0
    assert "server in its own process (2 workers)" in capsys.readouterr().out
    (record,) = json.loads(out.read_text())
    assert record["server_process"] is True and record["workers"] == 2


async def test_a_worker_held_by_the_blocking_route_shows_in_its_probes_not_here() -> None:
    async with (
        ServerProcess(workers=1) as server,
        WorkerProbes(server.probe_urls, threads=40, period_s=0.05) as probes,
        httpx.AsyncClient(base_url=server.url, timeout=10) as client,
    ):
        # time.sleep on the worker's loop: its lag, read over HTTP, grows by about as much;
        # this loop, which only awaits the answer, is not held.
        answer = await client.get("/scenario/blocking", params={"delay_ms": 400})
        assert answer.status_code == 200
        await wait_until(lambda: probes.server_lag_ms() >= 250, what="the worker's lag")
