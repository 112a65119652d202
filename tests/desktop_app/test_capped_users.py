"""The users label shows the load that is sent (issue 23, item 10): an endpoint capped
below the slider (it holds the loop) shows its capped figure and why."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_users
from loopscope.desktop_app.window import MainWindow
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window
from tests.desktop_app.test_own_app import load_shop, only_route


def test_the_users_label_shows_the_blocking_cap_and_why(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window: MainWindow = await open_window(qtbot)
        controls = window.controls
        try:
            names = [preset.name for preset in window.presets]
            controls.preset.setCurrentIndex(names.index("The blocking mistake"))
            await window.settled()
            controls.users.setValue(position_from_users(1000))
            # async runs at the slider's 1000, blocking at its cap.
            assert controls.users_label.text() == "Users: 1000\nblocking: 20 (capped)"
            assert window.session.users("blocking") == 20
            controls.scenario_checks["async"].setChecked(False)
            assert controls.users_label.text() == "Users: 20 (capped: blocking)"
            # Under the cap, the figure is the slider's.
            controls.users.setValue(position_from_users(10))
            assert controls.users_label.text() == "Users: 10"
            controls.users.setValue(position_from_users(100))
            window.toggle_running()
            probes = window.session.server.probes
            await wait_until(
                lambda: probes.in_flight()["blocking"] > 0, timeout_s=10, what="the run going"
            )
            assert controls.users_label.text() == "Users: 20 (capped: blocking)"
            window.grab().save("/tmp/i23-stop-capped-label.png")
        finally:
            await close_window(window)

    run_on_qt_loop(body())


class _Ticks:
    """The longest gap between two ticks of a 50 ms Qt timer: how long the window went
    without handling its events."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.longest = 0.0
        self.count = 0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now
        self.count += 1

    def start(self) -> None:
        self.last = time.perf_counter()
        self.longest = 0.0
        self.count = 0
        self.timer.start(50)


def test_a_route_of_the_users_app_that_holds_the_loop_is_guarded_as_blocking_is(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window: MainWindow = await open_window(qtbot)
        session, controls = window.session, window.controls
        try:
            await load_shop(qtbot, window)
            controls.users.setValue(position_from_users(100))
            only_route(window)
            window.choose_route("GET /stock")  # async def calling time.sleep(0.1)
            assert controls.users_label.text() == "Users: 100"
            window.toggle_running()
            # Seen holding the loop, the route is capped as blocking is, and says so.
            await wait_until(
                lambda: session.users("GET /stock") == 20, timeout_s=20, what="the route capped"
            )
            assert controls.users_label.text() == "Users: 20 (capped: it holds the loop)"
            assert "GET /stock holds the event loop" in controls.status.text()
            assert any(m.label == "users (GET /stock) 100 → 20" for m in session.markers.markers), (
                session.markers.markers
            )
            # The window handles its events all along: each request holds the loop once,
            # in a pass of its own (100 users back to back held it 5-10 s at a time).
            ticks = _Ticks()
            ticks.start()
            measured_from = time.perf_counter()
            await wait_until(
                lambda: time.perf_counter() - measured_from >= 3.0, timeout_s=30, what="3 s"
            )
            ticks.timer.stop()
            assert ticks.longest < 1.0, f"the window went {ticks.longest:.1f} s without events"
            assert ticks.count >= 15
            window.grab().save("/tmp/i23-stop-own-capped.png")
        finally:
            await close_window(window)

    run_on_qt_loop(body())
