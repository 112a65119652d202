"""Stop means stopped (issue 23, item 6): the requests a stopped run abandoned while they
waited for a thread leave the server at once, instead of each taking a thread in turn for
nobody; a request already running finishes."""

from __future__ import annotations

import time
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.session import LabSession
from loopscope.desktop_app.window import MainWindow
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window

USERS = 300
DELAY_MS = 100
THREADS = 10


async def start_full_queue(session: LabSession) -> None:
    """A `def` route at many users on a small pool, until nearly every user's request
    waits at the server for a thread."""
    session.apply(scenarios=("sync",), users=USERS, delay_ms=DELAY_MS, threads=THREADS)
    session.start()
    probes = session.server.probes
    await wait_until(
        lambda: probes.threadpool().waiting >= USERS - 2 * THREADS,
        timeout_s=60,
        what="the requests queued for a thread",
    )


async def test_stop_cancels_the_requests_waiting_for_a_thread() -> None:
    session = LabSession()
    await session.open()
    try:
        await start_full_queue(session)
        probes = session.server.probes
        waiting = probes.threadpool().waiting
        # What the server had left to do for nobody: each waiting request in turn on the
        # pool's threads.
        old_drain_s = waiting * DELAY_MS / 1000 / THREADS
        stopped = time.perf_counter()
        await session.stop()
        drained = await wait_until(
            lambda: probes.in_flight()["sync"] == 0, timeout_s=60, what="the server drained"
        )
        drain_s = drained - stopped
        assert old_drain_s >= 2.5
        # Only the requests already running finish: one delay, not the queue's.
        assert drain_s < 1.5, f"drained in {drain_s:.2f} s"
        assert drain_s < old_drain_s / 3
        assert probes.threadpool().borrowed == 0
        # The chart's throughput reads 0 once the Stop's window is past (no hump of the
        # stopped run's completions after it).
        recorder = session.recorder
        stop_s = stopped - recorder.origin

        def windows_after_stop() -> list[float]:
            windows = recorder.snapshot().scenarios["sync"].windows
            return [w.rate_rps for w in windows if w.start_s >= stop_s]

        await wait_until(lambda: len(windows_after_stop()) >= 2, timeout_s=10, what="2 windows")
        assert windows_after_stop() == [0.0] * len(windows_after_stop())
        # The server serves a new run at once, with the whole pool.
        session.start()
        await wait_until(
            lambda: probes.threadpool().borrowed > 0, timeout_s=10, what="the next run working"
        )
    finally:
        await session.close()


def test_a_start_while_the_server_drains_says_so_until_it_is_done(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window: MainWindow = await open_window(qtbot)
        session = window.session
        banner = window.banners.draining_banner
        probes = session.server.probes
        try:
            # Requests that take long on few threads: after Stop, the ones running finish.
            session.apply(scenarios=("sync",), users=30, delay_ms=2000, threads=5)
            window.toggle_running()
            await wait_until(
                lambda: probes.threadpool().borrowed == 5, timeout_s=30, what="every thread busy"
            )
            window.toggle_running()  # Stop
            await wait_until(lambda: not window.tasks, timeout_s=10, what="the stop done")
            assert session.demo.draining() == 0  # no run: nothing to share the server with
            assert probes.threadpool().borrowed == 5  # the running requests finish
            window.toggle_running()  # Start again at once
            await wait_until(banner.isVisible, timeout_s=10, what="the draining notice")
            text = banner.text()
            assert "still finishing 5 requests of the stopped run" in text, text
            window.grab().save("/tmp/i23-stop-draining.png")
            await wait_until(
                lambda: not banner.isVisible(), timeout_s=10, what="the notice cleared"
            )
            assert session.demo.draining() == 0
            assert session.running
        finally:
            await close_window(window)

    run_on_qt_loop(body())


def test_a_start_right_after_stop_keeps_running(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    """Stop's closing runs as a task: a Start before that task's first step (a quick
    second click) is not stopped by it."""

    async def body() -> None:
        window: MainWindow = await open_window(qtbot)
        session = window.session
        try:
            session.apply(scenarios=("async",), users=5, delay_ms=50, threads=5)
            window.toggle_running()
            window.toggle_running()  # Stop
            window.toggle_running()  # Start, before the Stop's task ran
            await wait_until(lambda: not window.tasks, timeout_s=10, what="the stop done")
            assert session.running and session.load.live() == ("async",)
            assert window.controls.start_stop.text() == "Stop"
            before = session.recorder.snapshot().scenarios["async"].total_ok
            await wait_until(
                lambda: session.recorder.snapshot().scenarios["async"].total_ok > before + 5,
                timeout_s=10,
                what="answers after the stop",
            )
        finally:
            await close_window(window)

    run_on_qt_loop(body())
