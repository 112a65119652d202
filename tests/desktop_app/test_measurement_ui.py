"""The window's measurement tools: open-loop rate, the sweep, export."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_rate
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def test_open_loop_rate_slider_changes_the_arrival_rate_live(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        controls, session = window.controls, window.session
        controls.scenario_checks["sync"].setChecked(False)
        controls.delay.setValue(10)  # 100 ms
        controls.mode.setCurrentIndex(1)  # open loop
        assert not controls.users.isEnabled() and controls.rate.isEnabled()
        controls.rate.setValue(position_from_rate(20))
        window.toggle_running()
        recorder = session.recorder
        await wait_until(lambda: recorder.summary("async").ok >= 10, what="first answers")
        recorder.begin_measurement()
        await asyncio.sleep(2.0)  # a measuring interval, not synchronisation
        slow = recorder.summary("async").throughput_rps
        controls.rate.setValue(position_from_rate(100))
        assert session.rate == 100
        await asyncio.sleep(0.5)
        recorder.begin_measurement()
        await asyncio.sleep(2.0)
        fast = recorder.summary("async").throughput_rps
        assert 14 < slow < 26
        assert 75 < fast < 125
        assert window.table.item(0, 1).text() == "100 req/s"
        window.toggle_running()
        await wait_until(lambda: not session.running, what="stop")
        await close_window(window)

    run_on_qt_loop(body())


def test_sweep_fills_the_response_curve_and_can_be_cancelled(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.delay.setValue(10)  # 100 ms
        await window.sweep(levels=(2, 8), step_s=4.2)
        points = {(p.scenario, p.users): p for p in window.session.snapshot().curve}
        assert set(points) == {("sync", 2), ("sync", 8), ("async", 2), ("async", 8)}
        # 8 users at 100 ms: about 80 req/s, about four times 2 users.
        assert points[("async", 8)].throughput_rps > 2.5 * points[("async", 2)].throughput_rps
        assert not window.session.running  # it was stopped before, so it stops after
        assert "Sweep done" in window.controls.status.text()
        # Both points are drawn: dots, or crosses where the generator was the limit.
        drawn = 0
        for key in ("async", "async:limited"):
            xs, _ = window.charts.curve_rps._items[key].getData()
            drawn += 0 if xs is None else len(xs)
        assert drawn == 2
        # Cancel: the button again, while it runs.
        window.toggle_sweep()
        await wait_until(lambda: window.session.running, what="the sweep's load")
        window.toggle_sweep()
        await wait_until(lambda: not window.session.running, what="cancel")
        assert "cancelled" in window.controls.status.text()
        await close_window(window)

    run_on_qt_loop(body())


def test_export_writes_windows_csv_and_charts_png(
    qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.delay.setValue(5)
        window.toggle_running()

        def series() -> Any:
            return window.session.recorder.snapshot().scenarios.get("async")

        await wait_until(
            lambda: (s := series()) is not None and len(s.windows) >= 2, what="two windows"
        )
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")
        target = tmp_path / "run.csv"
        assert window.export_run(target)
        header, *rows = target.read_text().splitlines()
        assert header.startswith("scenario,t_s,ok,errors,throughput_rps")
        assert any(row.startswith("async,") for row in rows)
        assert any(row.startswith("sync,") for row in rows)
        assert (tmp_path / "run-charts.png").stat().st_size > 10_000
        assert not window.export_run(tmp_path / "nowhere" / "run.csv")
        assert "Could not export" in window.controls.status.text()
        await close_window(window)

    run_on_qt_loop(body())
