"""The blocking lesson stays controllable (issue 11, item 1): Stop and closing the window
take effect within max(delay, 1 s) + 0.5 s, with every user's request queued at the
server, while the lesson stays true (one request at a time, the loop frozen for each)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_users
from tests.conftest import wait_until
from tests.desktop_app.conftest import open_window

LESSON = "The blocking mistake"


def bound_s(delay_ms: int) -> float:
    """The requirement: max(delay, 1 s) + 0.5 s."""
    return max(delay_ms / 1000, 1.0) + 0.5


class _Poster(QObject):
    fire = Signal()


class UserClick:
    """Runs `action` on the GUI thread as a user's click `after_s` from now would arrive:
    queued by the window system and handled when Qt next gets to its events. A plain
    thread posts it, so a frozen loop cannot delay the moment of the click itself, which
    is when the clock starts (`at`, a perf_counter time)."""

    def __init__(self, after_s: float, action: Callable[[], object]) -> None:
        self.at: float | None = None
        self._poster = _Poster()  # made on the GUI thread: the queued call runs there
        self._poster.fire.connect(action, Qt.ConnectionType.QueuedConnection)
        self._thread = threading.Thread(target=self._user, args=(after_s,), daemon=True)
        self._thread.start()

    def _user(self, after_s: float) -> None:
        time.sleep(after_s)  # the user's own pace, on the user's thread
        self.at = time.perf_counter()
        self._poster.fire.emit()


async def load_with_full_queue(window: Any, qtbot: QtBot, users: int, delay_ms: int) -> None:
    """Start the lesson and return once every user's request is queued at the server (all
    but the one or two just answered, whose next request is on its way) and the loop has
    frozen for a whole request since: the worst moment to want control back."""
    session = window.session
    qtbot.mouseClick(window.controls.start_stop, Qt.MouseButton.LeftButton)
    assert window.controls.start_stop.text() == "Stop"
    probes = session.server.probes
    await wait_until(
        lambda: probes.in_flight()["blocking"] >= users - 2,
        timeout_s=60,
        what=f"{users - 2} blocking requests queued",
    )
    queued = time.perf_counter()
    await wait_until(
        lambda: probes.loop_lag.max_since(queued) >= 0.8 * delay_ms / 1000,
        timeout_s=60,
        what="the loop frozen for a whole request",
    )
    # The lesson is still true: the loop froze for a whole request, and for one request
    # at a time (two back to back would freeze it for twice the delay).
    assert probes.loop_lag.max_since(queued) < 2 * delay_ms / 1000 + 0.25


@pytest.mark.parametrize(("users", "delay_ms"), [(20, 100), (20, 2000)])
def test_blocking_lesson_stop_and_close_take_effect_within_the_bound(
    qtbot: QtBot, run_on_qt_loop: Any, users: int, delay_ms: int
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.resize(1920, 1080)
        session = window.session
        names = [preset.name for preset in window.presets]
        window.controls.preset.setCurrentIndex(names.index(LESSON))
        window.controls.users.setValue(position_from_users(users))
        window.controls.delay.setValue(delay_ms // 10)
        assert session.users("blocking") == users and session.delay_ms == delay_ms
        probes = session.server.probes
        button = window.controls.start_stop

        # Stop: the click lands 0.3 s into a blocking request, the rest queued behind it.
        await load_with_full_queue(window, qtbot, users, delay_ms)
        click = UserClick(0.3, lambda: qtbot.mouseClick(button, Qt.MouseButton.LeftButton))

        def stopped() -> bool:
            return (
                click.at is not None
                and button.text() == "Start"
                and not session.running
                and probes.in_flight()["blocking"] == 0
            )

        done = await wait_until(stopped, timeout_s=60, what="the stopped state")
        assert click.at is not None
        # Twice the requirement: a busy machine's margin (bench/blocking_control.py measures
        # the requirement itself); a Stop that waited for the queue would take users x delay
        # (40 s at 2 s).
        assert done - click.at <= 2 * bound_s(delay_ms)
        # And it stays stopped: no queued request blocks the loop after the Stop.
        calm_until = time.perf_counter() + 1.5
        while time.perf_counter() < calm_until:
            assert stopped()
            await asyncio.sleep(0.05)
        assert probes.loop_lag.max_since(done) < 0.5 * delay_ms / 1000 + 0.5

        # Close, in the same situation.
        await load_with_full_queue(window, qtbot, users, delay_ms)
        closed: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def on_closed() -> None:
            if not closed.done():
                closed.set_result(time.perf_counter())

        window.closed.connect(on_closed)
        click = UserClick(0.3, window.close)
        closed_at = await asyncio.wait_for(closed, 60)
        assert click.at is not None
        assert closed_at - click.at <= 2 * bound_s(delay_ms)
        assert not window.isVisible()
        assert not session.running
        with pytest.raises(OSError):  # the server is gone: nothing listens on its port
            await asyncio.open_connection("127.0.0.1", session.server.port)

    run_on_qt_loop(body())
