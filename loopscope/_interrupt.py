"""Ctrl+C and SIGTERM during `run` and `sweep`: keep what is complete, then exit 130/143.

The first signal sets a stop event the load watches: the load stops (a short drain), the
command writes what it has, marked partial, and exits 128 + the signal's number. A second
signal cancels the command's task: it exits at once, its `finally` blocks still closing
the server and the connections, and writes nothing. Outside the event loop (parsing,
writing files, drawing the PNG in a child process) SIGTERM raises `Terminated`, as
SIGINT raises KeyboardInterrupt, so that cleanup (e.g. ending the PNG child) runs too.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_status(sig: signal.Signals) -> int:
    """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(sig)


class Terminated(BaseException):
    """SIGTERM outside the event loop. A BaseException, so `except Exception` lets it by."""


class Aborted(BaseException):
    """A second signal: the command stopped at once, without writing results."""

    def __init__(self, sig: signal.Signals) -> None:
        super().__init__(sig.name)
        self.signal = sig


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def terminate_raises() -> Iterator[None]:
    """While inside: SIGTERM raises `Terminated` (the default would kill the process
    without any cleanup, leaving e.g. the PNG renderer running)."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_interruptible(
    work: Callable[[asyncio.Event], Coroutine[Any, Any, T]],
) -> tuple[T, signal.Signals | None]:
    """Run `work(stop)` on a new event loop; returns its result and the first signal
    received (None if none). `work` must end soon after `stop` is set, with what it has.
    Aborted when a second signal came first.
    """
    received: list[signal.Signals] = []

    async def main() -> T:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(sig: signal.Signals) -> None:
            received.append(sig)
            if len(received) == 1:
                stop.set()
            else:
                task.cancel()

        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            return await work(stop)
        finally:
            for sig in SIGNALS:
                loop.remove_signal_handler(sig)
                # remove_signal_handler resets to the default; put back what was there.
                signal.signal(sig, previous[sig])

    try:
        result = asyncio.run(main())
    except asyncio.CancelledError:
        if len(received) > 1:
            raise Aborted(received[0]) from None
        raise
    return result, (received[0] if received else None)
