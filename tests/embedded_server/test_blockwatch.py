"""`BlockWatch` blames the user's code, never LoopScope's own entry script."""

from __future__ import annotations

import asyncio
import sysconfig
from pathlib import Path
from typing import Any

from loopscope.embedded_server import BlockWatch

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
