"""LabEventLoop keeps asyncio's scheduling promises on Qt's event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from PySide6.QtWidgets import QApplication

from loopscope.desktop_app.event_loop import LabEventLoop

from .conftest import Runner


def test_callbacks_run_in_the_order_asyncio_promises(run_on_qt_loop: Runner[Any]) -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, LabEventLoop)
        order: list[str] = []
        done = loop.create_future()
        loop.call_later(0.03, order.append, "later 30 ms")
        loop.call_later(0.01, order.append, "later 10 ms")
        loop.call_at(loop.time() + 0.02, order.append, "at +20 ms")
        for name in ("soon 1", "soon 2", "soon 3"):
            loop.call_soon(order.append, name)
        cancelled = loop.call_later(0.015, order.append, "cancelled")
        cancelled.cancel()
        loop.call_later(0.05, done.set_result, None)
        await done
        return order

    assert run_on_qt_loop(scenario()) == [
        "soon 1",
        "soon 2",
        "soon 3",
        "later 10 ms",
        "at +20 ms",
        "later 30 ms",
    ]


def test_a_timer_never_fires_early(run_on_qt_loop: Runner[Any]) -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        late_by: list[float] = []
        for delay in (0.0005, 0.003, 0.02):
            started = loop.time()
            await asyncio.sleep(delay)
            late_by.append(loop.time() - started - delay)
        return late_by

    assert all(lateness >= 0 for lateness in run_on_qt_loop(scenario()))


def test_cancelled_timers_do_not_pile_up(run_on_qt_loop: Runner[Any]) -> None:
    """aiohttp sets a 60 s read timeout per request and cancels it at the answer: a loop
    that kept every cancelled one would hold 60 000 of them after a minute at 1000 req/s."""

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, LabEventLoop)
        for _ in range(5000):
            loop.call_later(60.0, lambda: None).cancel()
            await asyncio.sleep(0)
        return len(loop._lab_timers)

    assert run_on_qt_loop(scenario()) < 500


def test_threads_and_executors_reach_the_loop(run_on_qt_loop: Runner[Any]) -> None:
    async def scenario() -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        from_thread: asyncio.Future[str] = loop.create_future()
        threading.Thread(
            target=lambda: loop.call_soon_threadsafe(from_thread.set_result, "hello")
        ).start()
        in_executor = await loop.run_in_executor(None, sum, [1, 2, 3])
        return await asyncio.wait_for(from_thread, 5), in_executor

    assert run_on_qt_loop(scenario()) == ("hello", 6)


def test_qt_events_run_between_batches_of_callbacks(
    run_on_qt_loop: Runner[Any], qapp: QApplication
) -> None:
    """A task that never sleeps (only `await asyncio.sleep(0)`) must not starve Qt: the
    window's timers and input are served between two passes over the ready queue."""
    from PySide6.QtCore import QTimer

    async def scenario() -> int:
        fired: list[int] = []
        timer = QTimer()
        timer.setInterval(5)
        timer.timeout.connect(lambda: fired.append(1))
        timer.start()
        loop = asyncio.get_running_loop()
        end = loop.time() + 0.3
        while loop.time() < end:  # noqa: ASYNC110 (busy on purpose: the loop never idles)
            await asyncio.sleep(0)
        timer.stop()
        return len(fired)

    assert run_on_qt_loop(scenario()) >= 5


def test_a_thread_reporting_after_the_loop_closed_is_dropped_not_raised(
    qapp: QApplication,
) -> None:
    """A `def` route can still be sleeping on its thread when the window closes; its result
    then reaches a closed loop. asyncio drops what a closed loop had pending: so does this,
    instead of raising into Qt's event handler (pytest-qt fails the test if it does)."""
    loop = LabEventLoop(qapp)
    called: list[str] = []
    thread = threading.Thread(target=lambda: loop.call_soon_threadsafe(called.append, "late"))
    thread.start()
    thread.join()  # queued for the loop's thread while the loop is still open
    loop.close()
    qapp.processEvents()  # Qt delivers it now, to a closed loop
    assert called == []
