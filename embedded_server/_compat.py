"""Every private name of another library that the server package reads, checked at start-up.

The stall watch (`_blockwatch.py`) looks at the event loop from another thread. Two things it
needs have no public API:
- which task the loop runs right now: `asyncio.current_task(loop)` answers on the loop's
  own thread only, so the watch reads the dictionary behind it, `asyncio.tasks._current_tasks`;
- which frames are the loop's own machinery (`Handle._run`, `BaseEventLoop._run_once`,
  `run_forever`): the outermost frames of every stack it samples.

Written for CPython 3.11 (tested with the Python in constraints.txt's header); 3.12 and 3.13
keep both. CPython 3.14 keeps the running task per thread instead of in that dictionary:
`check()` then refuses in one line rather than let every stall go unrouted.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import functools
import platform
import threading
from types import CodeType

# (owner, attribute) of the loop's own frames.
_LOOP_RUNNERS = (
    (asyncio.events.Handle, "_run"),
    (asyncio.base_events.BaseEventLoop, "_run_once"),
    (asyncio.base_events.BaseEventLoop, "run_forever"),
)


def _code(owner: type, name: str) -> CodeType | None:
    code = getattr(getattr(owner, name, None), "__code__", None)
    return code if isinstance(code, CodeType) else None


# The loop's own frames: what lies outward of them is the program that started the loop
# (asyncio.run in a script), never what holds it. Empty where asyncio renamed them (check()
# then refuses), so that importing this package never fails.
LOOP_RUNNER_CODES = frozenset(
    code for owner, name in _LOOP_RUNNERS if (code := _code(owner, name)) is not None
)


def current_task_of(loop: asyncio.AbstractEventLoop) -> object:
    """The task `loop` runs right now (None between tasks), read from any thread: a dict
    read, which the GIL makes safe."""
    tasks = getattr(asyncio.tasks, "_current_tasks", None)
    return tasks.get(loop) if isinstance(tasks, dict) else None


def _current_task_is_readable() -> bool:
    """Run one task on a fresh loop (in a thread of its own, so that a loop running here
    does not stand in the way) and see whether the dictionary names it."""
    seen: list[bool] = []

    def probe() -> None:
        loop = asyncio.new_event_loop()

        async def look() -> bool:
            return current_task_of(loop) is asyncio.current_task() is not None

        try:
            seen.append(loop.run_until_complete(look()))
        finally:
            loop.close()

    thread = threading.Thread(target=probe, name="loopscope-compat-check")
    thread.start()
    thread.join()
    return seen == [True]


@functools.cache
def check() -> None:
    """Raise ServerStartError (one line) unless this Python's asyncio still has the private
    names above, doing what they did: the server cannot watch its loop, so it does not
    start, and the command line and the window say so in one line as for any other cause."""
    from ._server import ServerStartError  # here: _server imports the watch, which imports us

    missing = [
        f"{owner.__name__}.{name}" for owner, name in _LOOP_RUNNERS if _code(owner, name) is None
    ]
    if not _current_task_is_readable():
        missing.append("asyncio.tasks._current_tasks")
    if missing:
        raise ServerStartError(
            f"Python {platform.python_version()}'s asyncio lacks {', '.join(missing)}, which "
            "LoopScope's stall watch reads; use Python 3.11 to 3.13"
        )
