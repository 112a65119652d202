from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import pytest

from loopscope.embedded_server import EmbeddedServer, ServerSettings, create_app

# GUI tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


async def wait_until(
    condition: Callable[[], bool], *, timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Await a condition on the running loop (a poll, not a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    embedded = EmbeddedServer(create_app(ServerSettings(threads=40)))
    await embedded.start()
    try:
        yield embedded
    finally:
        await embedded.stop()
