"""Issue 23, item 9: the latency chart draws theory dashed, as the throughput chart does
(the docs say "theory dashed" of the time charts), at the latency the table's theory gives."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.window import MainWindow
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def test_the_latency_chart_draws_each_routes_theory_dashed(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window: MainWindow = await open_window(qtbot)
        assert window.lessons.current.name == "Sync vs async"
        session, latency = window.session, window.charts.latency
        window.toggle_running()

        def drawn(name: str) -> np.ndarray:
            item = latency._items.get(name + ":theory")
            if item is None or item.getData()[1] is None:
                return np.array([])
            ys = np.asarray(item.getData()[1], dtype=float)
            finite: np.ndarray = ys[np.isfinite(ys)]
            return finite

        def both_drawn() -> bool:
            window.refresh()
            return all(len(drawn(name)) for name in ("sync", "async"))

        await wait_until(both_drawn, timeout_s=15, what="theory on the latency chart")
        theory = {name: session.prediction(name).latency_ms for name in ("sync", "async")}
        window.toggle_running()
        await wait_until(lambda: not session.running, what="stop")
        pens = {name: latency._items[name + ":theory"].opts["pen"] for name in theory}
        title = latency.heading.text()
        shot = window.charts.grab()
        await close_window(window)

        assert theory == {"sync": 2500, "async": 1000}
        for name, expected in theory.items():
            assert drawn(name)[-1] == expected
            assert pens[name].style() == Qt.PenStyle.DashLine
        assert "theory (dashed)" in title
        shot.save("/tmp/i23-cards-latency-theory.png")

    run_on_qt_loop(body())
