"""Every Linux-only call has a fallback that says "unknown" rather than make a figure up, and
the features built on them still hold with every fallback forced (as on macOS or Windows)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from loopscope.embedded_server import ServerProcess, ServerStartError
from loopscope.embedded_server import platform_support as host
from loopscope.embedded_server.platform_support import FORCE_FALLBACKS_VARIABLE
from tests.conftest import wait_until
from tests.fallbacks import needs_linux

REPO = Path(__file__).resolve().parents[2]
BOTH = pytest.mark.parametrize("forced", [False, True], ids=["system", "fallback"])


def _other_thread_ident() -> int:
    parked = threading.Event()
    thread = threading.Thread(target=parked.wait, daemon=True)
    thread.start()
    assert thread.ident is not None
    return thread.ident


def test_forced_fallbacks_report_unknown_never_a_made_up_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(FORCE_FALLBACKS_VARIABLE, "1")
    assert host.fallbacks_forced()
    assert not host.has_death_signal() and host.die_with_parent() is None
    assert not host.reuse_port_balances()
    assert host.thread_cpu_times() is None
    assert not host.other_threads_cpu_readable()
    assert host.thread_cpu_s(_other_thread_ident()) is None
    own = host.thread_cpu_s(threading.get_ident())  # a thread's own clock reads everywhere
    assert own is not None and own > 0
    assert not host.has_heap_trim()
    host.set_heap_thresholds(1 << 20, 2 << 20)  # nothing happens, nothing fails
    host.trim_heap()


async def test_without_socket_passing_the_server_process_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(host, "hands_sockets_to_children", lambda: False)  # as on Windows
    with pytest.raises(ServerStartError, match=r"^the server in processes of its own needs"):
        await ServerProcess(workers=2).start()


def test_zero_is_not_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FORCE_FALLBACKS_VARIABLE, "0")
    assert not host.fallbacks_forced()


@needs_linux("prctl, SO_REUSEPORT, schedstat, per-thread clocks")
def test_on_linux_every_feature_is_there() -> None:
    assert host.has_death_signal() and host.die_with_parent() is not None
    assert host.reuse_port_balances()
    times = host.thread_cpu_times()
    assert times and all(key.startswith("self/") for key in times)
    cpu = host.thread_cpu_s(_other_thread_ident())
    assert cpu is not None and cpu >= 0


@BOTH
async def test_two_workers_serve_one_port_and_are_gone_after_stop(
    monkeypatch: pytest.MonkeyPatch, forced: bool
) -> None:
    """Reuse-port sockets, or (fallback) one socket both workers share."""
    if forced:
        monkeypatch.setenv(FORCE_FALLBACKS_VARIABLE, "1")
    async with ServerProcess(workers=2, threads=3) as server:
        pids = server.worker_pids()
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(4):
                answer = await client.get("/scenario/async", params={"delay_ms": 1})
                assert answer.status_code == 200
            for url in server.probe_urls:  # each worker answers on its own port too
                assert (await client.get(f"{url}/stats")).status_code == 200
    await wait_until(lambda: not any(_alive(pid) for pid in pids), what="workers gone")


def _alive(pid: int) -> bool:
    """Running, not a zombie nobody reaped (an orphan's new parent may not reap it at once)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_PARENT = """
import asyncio
from loopscope.embedded_server import ServerProcess, ServerStartError

async def main():
    server = ServerProcess(workers=1)
    await server.start()
    print(*server.worker_pids(), flush=True)
    await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to see the worker")
@BOTH
def test_a_worker_ends_when_its_parent_is_killed(forced: bool) -> None:
    """SIGKILL leaves the parent no time to stop its workers: the death signal (Linux) or
    the worker's own poll of its parent ends them."""
    env = dict(os.environ)
    env[FORCE_FALLBACKS_VARIABLE] = "1" if forced else "0"
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, cwd=REPO, env=env
    )
    try:
        assert parent.stdout is not None
        (worker,) = (int(pid) for pid in parent.stdout.readline().split())
        assert _alive(worker)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.communicate()  # and its pipe closed
    deadline = time.monotonic() + 15
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)  # the poll's interval: the condition is checked above
    if _alive(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail(f"worker {worker} outlived its parent by 15 s")
