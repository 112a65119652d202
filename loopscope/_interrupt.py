"""Ctrl+C and SIGTERM during `run` and `sweep`: keep what is complete, then exit 130/143.

The first signal sets a stop event the load watches: the load stops (a short drain), the
command writes what it has, marked partial, and exits 128 + the signal's number. A second
signal cancels the command's task: it exits at once, its `finally` blocks still closing
the server and the connections, and writes nothing. Outside the event loop (parsing,
writing files, drawing the PNG in a child process) SIGTERM raises `Terminated`, as
SIGINT raises KeyboardInterrupt, so that cleanup (e.g. ending the PNG child) runs too.

A signal that comes while a user's app is still starting ends the start-up (nothing is
measured yet: exit 130/143 with one line). When the app's start-up holds the loop (a
`time.sleep` in its lifespan), no handler on the loop can run: a watchdog thread, woken by
the signal itself, ends the process after a second.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

from loopscope.embedded_server import ServerStartError

from ._compat import uvicorn_lifespan_code

T = TypeVar("T")

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_status(sig: signal.Signals) -> int:
    """The shell's convention: 128 + the signal's number (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(sig)


def report_interrupted(sig: signal.Signals, kept: str) -> int:
    """Say on stderr, in one line, that the first `sig` stopped the command and what it
    `kept`; the exit status (`exit_status`)."""
    print(f"loopscope: interrupted by {sig.name}: {kept}", file=sys.stderr)
    return exit_status(sig)


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
    Aborted when a second signal came first; KeyboardInterrupt or `Terminated` when the
    signal came while the server was still starting (nothing measured yet).
    """
    received: list[signal.Signals] = []
    watchdog = _Watchdog()

    async def main() -> T:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(sig: signal.Signals) -> None:
            watchdog.handled += 1
            received.append(sig)
            if len(received) == 1:
                stop.set()
            else:
                task.cancel()

        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        for sig in SIGNALS:
            loop.add_signal_handler(sig, on_signal, sig)
            # The loop still learns of the signal (its wakeup fd); this handler runs even
            # while the app holds the loop, and lets the watchdog see it.
            signal.signal(sig, watchdog.on_signal)
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
    except ServerStartError:
        if received:  # interrupted during the start-up: an interruption, not a failure
            raise KeyboardInterrupt if received[0] == signal.SIGINT else Terminated from None
        raise
    finally:
        watchdog.done.set()
    return result, (received[0] if received else None)


# How long a signal may wait for a loop that the app holds before the watchdog acts.
_PATIENCE_S = 1.0


class _Watchdog:
    """Ends the process when the event loop cannot take a signal: the user's app holds it
    (`time.sleep` in its start-up, say). The first signal ends a start-up held so at once
    (nothing is measured yet); a second signal ends any held loop (as it would a free one:
    at once, nothing written)."""

    def __init__(self) -> None:
        self.handled = 0  # signals the loop has taken (written on the loop only)
        self.done = threading.Event()
        self._signals: list[tuple[signal.Signals, float]] = []
        self._thread: threading.Thread | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append((signal.Signals(signum), time.monotonic()))
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="loopscope-watchdog")
            self._thread.daemon = True
            self._thread.start()

    def _watch(self) -> None:
        while not self.done.wait(0.1):
            signals = list(self._signals)
            if len(signals) <= self.handled:
                continue
            first, since = signals[self.handled]
            if time.monotonic() - since < _PATIENCE_S:
                continue
            if len(signals) > 1:
                why = f"interrupted twice ({signals[0][0].name}) while your app held the event loop"
                self._exit(f"{why}: stopped at once, nothing written", signals[0][0])
            elif _in_lifespan(threading.main_thread()):
                self._exit(
                    f"interrupted by {first.name} while your app's start-up held the event "
                    "loop: stopped, nothing measured",
                    first,
                )

    def _exit(self, message: str, sig: signal.Signals) -> None:
        # The process's own stderr: `run --app` and `audit` send the app's output (sys.stderr
        # too) to its log file.
        stream = sys.__stderr__ if sys.__stderr__ is not None else sys.stderr
        stream.write(f"loopscope: {message}\n")
        stream.flush()
        os._exit(exit_status(sig))


def _in_lifespan(thread: threading.Thread) -> bool:
    """True when `thread` runs the app's lifespan (its start-up or shutdown) right now."""
    lifespan = uvicorn_lifespan_code()
    if lifespan is None:  # another uvicorn: never end a run on a guess
        return False
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code is lifespan:
            return True
        frame = frame.f_back
    return False
