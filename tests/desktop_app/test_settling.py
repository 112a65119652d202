"""After users are lowered, the window says the queue is draining until it has settled."""

from __future__ import annotations

from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_users
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window

SETTLING = "settling: the queue is draining"


def test_lowering_users_says_settling_while_the_backlog_drains(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        controls, session, table = window.controls, window.session, window.table
        probes = session.server.probes
        # A def route with 4 threads at 200 ms serves 20 req/s; 60 users queue deep.
        controls.scenario_checks["async"].setChecked(False)
        controls.delay.setValue(20)
        controls.threads.setValue(4)
        controls.users.setValue(position_from_users(60))
        many = controls.users_value()
        assert many >= 50
        window.toggle_running()
        await wait_until(lambda: probes.in_flight()["sync"] >= 45, what="a deep queue")

        def load_cell() -> str:
            window.refresh()
            item = table.item(0, 1)
            return "" if item is None else item.text()

        assert SETTLING not in load_cell()  # raising users is no backlog
        controls.users.setValue(position_from_users(4))
        few = controls.users_value()
        assert few <= 5 and session.users("sync") == few
        # About 50 requests of the users taken away are queued ahead: 2.5 s at 20 req/s.
        await wait_until(lambda: SETTLING in load_cell(), timeout_s=5, what="settling shown")
        assert load_cell().startswith(f"{few} users")
        await wait_until(lambda: SETTLING not in load_cell(), timeout_s=30, what="settled")
        # ... and the time charts mark the moment it settled.
        assert "settled: sync" in [m.label for m in session.snapshot().markers]
        # Settled: what is left in flight is the remaining users' own requests.
        assert probes.in_flight()["sync"] <= few
        window.toggle_running()
        await wait_until(lambda: not session.running, what="stop")
        await close_window(window)

    run_on_qt_loop(body())
