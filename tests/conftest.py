from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable

import pytest

from loopscope.embedded_server import EmbeddedServer, ServerSettings, create_app

# GUI tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


async def wait_until(
    condition: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "condition"
) -> float:
    """Await a condition on the running loop (a poll, not a fixed sleep); returns when
    (perf_counter) it was first seen true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.perf_counter()


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    embedded = EmbeddedServer(create_app(ServerSettings(threads=40)))
    await embedded.start()
    try:
        yield embedded
    finally:
        await embedded.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A GUI test that fails before closing its window leaves the embedded server's anyio
    # worker threads (not daemons) waiting for work: the interpreter would then wait for
    # them forever at exit, and a failing run would look like a hung one. Leave at once,
    # with pytest's status, after its report (config cleanups run last).
    main = threading.main_thread()
    if any(not t.daemon and t is not main for t in threading.enumerate()):
        session.config.add_cleanup(lambda: _exit_now(int(exitstatus)))


def _exit_now(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
