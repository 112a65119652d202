"""The users label shows the load that is sent (issue 23, item 10): an endpoint capped
below the slider (it holds the loop) shows its capped figure and why."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_users
from loopscope.desktop_app.window import MainWindow
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


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
