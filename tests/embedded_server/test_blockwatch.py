"""`BlockWatch` blames the user's code, never LoopScope's own entry script, and tells computing
from waiting on every platform."""

from __future__ import annotations

import asyncio
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from loopscope.embedded_server import BlockSite, BlockWatch
from loopscope.embedded_server.platform_support import FORCE_FALLBACKS_VARIABLE

# A request that holds the loop, as a route whose code lies in a given file would.
_HOLDER = "import time\n\nasync def request():\n    time.sleep(0.15)\n"


async def _sites_after_a_hold_in(filename: str) -> list[str]:
    """Hold the loop 150 ms in a function whose code says it lies in `filename`."""
    namespace: dict[str, Any] = {}
    exec(compile(_HOLDER, filename, "exec"), namespace)
    watch = BlockWatch()
    watch.start()
    try:
        await asyncio.create_task(namespace["request"]())
        await watch.caught_up(timeout_s=2.0)
        return [site.site.file for site in watch.sites()]
    finally:
        await watch.stop()


async def test_a_hold_in_the_users_code_is_named(tmp_path: Path) -> None:
    assert await _sites_after_a_hold_in(str(tmp_path / "main.py")) != []


async def test_the_entry_script_is_never_the_users_code() -> None:
    # The console script `loopscope` lies in the environment's scripts folder; in the window
    # it is outward of every stall Qt's painting causes.
    entry = str(Path(sysconfig.get_paths()["scripts"]) / "loopscope")
    assert await _sites_after_a_hold_in(entry) == []


_SLEEPER = "import time\n\nasync def request():\n    time.sleep(0.15)\n"
_COMPUTER = (
    "import time\n\nasync def request():\n"
    "    end = time.perf_counter() + 0.15\n    while time.perf_counter() < end:\n        pass\n"
)


async def _site_after(source: str, filename: str) -> BlockSite:
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    watch = BlockWatch()
    watch.start()
    try:
        await asyncio.create_task(namespace["request"]())
        await watch.caught_up(timeout_s=2.0)
    finally:
        await watch.stop()
    (site,) = watch.sites()
    return site


@pytest.mark.parametrize("forced", [False, True], ids=["system", "fallback"])
async def test_a_computing_stall_and_a_waiting_one_are_told_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forced: bool
) -> None:
    """With the loop thread's CPU clock read from the watch (Linux) and, where no thread can
    read another's, from the loop thread's own CPU time at the heartbeats around a stall."""
    if forced:
        monkeypatch.setenv(FORCE_FALLBACKS_VARIABLE, "1")
    waiting = await _site_after(_SLEEPER, str(tmp_path / "sleeper.py"))
    computing = await _site_after(_COMPUTER, str(tmp_path / "computer.py"))
    # An ordering with a wide margin: a busy machine takes the CPU from a computing thread
    # (0.9 of the stall alone, under 0.3 beside other work), a sleeping one uses ~0.
    assert 5 * waiting.cpu_share < computing.cpu_share, (waiting, computing)
