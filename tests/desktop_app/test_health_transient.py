"""Issue 23, item 3: the generator-health banner follows the last few seconds. A real
transient (a thread computing for a few seconds beside a light load) raises it while it
lasts, and it goes within a bounded time after."""

from __future__ import annotations

import threading
import time
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.measurement import HEALTH_PERIOD_S, HEALTH_STEP_S
from loopscope.desktop_app.window import MainWindow
from loopscope.loadgen.health import CLEAR_AFTER
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, running_healthy

# Long enough to fill a judged window: the process then uses (or, on a busy machine,
# wants) all of its one core.
SPIN_S = HEALTH_PERIOD_S + 1.5


def _spin(stop: threading.Event) -> None:
    end = time.perf_counter() + SPIN_S
    while time.perf_counter() < end and not stop.is_set():
        pass


def test_the_banner_shows_during_a_transient_and_clears_after(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window: MainWindow = await running_healthy(qtbot)
        session = window.session
        stop = threading.Event()
        spinner = threading.Thread(target=_spin, args=(stop,), name="test-spinner")
        started = time.perf_counter()
        spinner.start()
        try:
            await wait_until(
                lambda: window.health_banner.isVisible(), timeout_s=SPIN_S + 5, what="banner"
            )
            seen_at = time.perf_counter() - started
            assert window.health_banner.text().startswith("Generator-limited: ")
            await wait_until(lambda: not spinner.is_alive(), timeout_s=SPIN_S + 5, what="spin")
        finally:
            stop.set()
            spinner.join()
        ended = time.perf_counter()
        # Gone once the spin has left the window and CLEAR_AFTER healthy verdicts followed
        # (plus slack for a busy machine's late ticks and the once-a-second paint).
        bound_s = HEALTH_PERIOD_S + (CLEAR_AFTER + 1) * HEALTH_STEP_S + 4
        await wait_until(
            lambda: not window.health_banner.isVisible(), timeout_s=bound_s, what="banner to go"
        )
        cleared_after = time.perf_counter() - ended
        # Nothing is left over the charts' top edge: the banner's row went with it.
        assert not window.banners.health_row.isVisible()
        # What the banner shows is the claim: the verdict read at this instant may already
        # be the next one, which a busy machine's late ticks can make limited again.
        assert session.health is not None and session.running
        window.toggle_running()
        await wait_until(lambda: not session.running, what="stop")
        await close_window(window)
        # It came while the transient lasted (or, on a busy machine whose ticks run late,
        # at the next verdict after it), and went after it.
        assert seen_at < SPIN_S + HEALTH_STEP_S + 1.0, seen_at
        assert cleared_after > 0

    run_on_qt_loop(body())
