"""asyncio's private names the stall watch reads: checked when a watch is made, one line."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator

import pytest

from loopscope.embedded_server import BlockWatch, ServerStartError
from loopscope.embedded_server._compat import LOOP_RUNNER_CODES, check, current_task_of


@pytest.fixture
def fresh_check() -> Iterator[None]:
    check.cache_clear()
    yield
    check.cache_clear()


async def test_the_installed_python_passes(fresh_check: None) -> None:
    check()  # also from inside a running loop: the probe runs its own in a thread
    assert current_task_of(asyncio.get_running_loop()) is asyncio.current_task()
    assert len(LOOP_RUNNER_CODES) == 3


def test_an_asyncio_that_keeps_the_running_task_elsewhere_is_refused_in_one_line(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As CPython 3.14 does: the dictionary is there, and no longer says anything.
    monkeypatch.setattr(asyncio.tasks, "_current_tasks", {})
    with pytest.raises(ServerStartError) as raised:
        BlockWatch()
    message = str(raised.value)
    assert "\n" not in message
    assert f"Python {platform.python_version()}'s asyncio lacks" in message
    assert "asyncio.tasks._current_tasks" in message
