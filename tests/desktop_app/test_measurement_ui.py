"""The window's measurement tools: open-loop rate, the sweep, export."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.controls import position_from_rate
from loopscope.loadgen.export import WINDOW_COLUMNS
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


def _drawn(window: Any, scenario: str) -> int:
    """Points of `scenario` on the throughput-vs-users chart: dots, or crosses where the
    generator was the limit."""
    drawn = 0
    for key in (scenario, scenario + ":limited"):
        item = window.charts.curve_rps._items.get(key)
        xs = None if item is None else item.getData()[0]
        drawn += 0 if xs is None else len(xs)
    return drawn


def test_sweep_shows_progress_and_fills_the_response_curve(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        controls, session = window.controls, window.session
        controls.delay.setValue(10)  # 100 ms
        sweep = window.spawn(window.sweep(levels=(2, 8), step_s=2.5))
        bar = controls.sweep_progress
        await wait_until(lambda: bar.isVisible() and bar.format() == "2 users: %p%", what="2")
        assert controls.sweep.text() == "Cancel sweep"
        assert controls.start_stop.text() == "Stop"
        # The first step's points are drawn as soon as it ends, while the sweep goes on.
        await wait_until(lambda: bar.format() == "8 users: %p%", what="the second level")
        assert bar.value() == 50
        assert controls.users_label.text() == "Users: 8"
        assert _drawn(window, "async") == 1 and _drawn(window, "sync") == 1
        # The step's load is on the live charts: the users line and in-flight probes.
        await wait_until(
            lambda: (
                (p := session.snapshot().probes) != () and p[-1].users == {"sync": 8, "async": 8}
            ),
            what="the probes showing 8 users each",
        )
        await sweep
        assert not bar.isVisible()
        assert controls.sweep.text() == "Sweep users"
        assert "Sweep done" in controls.status.text()
        points = {(p.scenario, p.users): p for p in session.snapshot().curve}
        assert set(points) == {("sync", 2), ("sync", 8), ("async", 2), ("async", 8)}
        # 8 users at 100 ms: about 80 req/s, about four times 2 users.
        assert points[("async", 8)].throughput_rps > 2.5 * points[("async", 2)].throughput_rps
        assert _drawn(window, "async") == 2 and _drawn(window, "sync") == 2
        assert session.recorder.summary("async").ok > 0  # the live figures saw the sweep
        assert not session.running  # it was stopped before, so it stops after
        assert controls.start_stop.text() == "Start"
        await close_window(window)

    run_on_qt_loop(body())


def test_sweep_cancel_and_stop_end_it_within_a_second(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        session, probes = window.session, window.session.server.probes
        for end_it in (window.toggle_sweep, window.toggle_running):  # Cancel sweep, then Stop
            window.toggle_sweep()  # the full sweep: 7 levels of 5 s
            await wait_until(lambda: probes.in_flight()["async"] > 0, what="the sweep's load")
            started = time.perf_counter()
            end_it()
            await wait_until(
                lambda: not session.running and not window.tasks, what="the sweep to end"
            )
            assert time.perf_counter() - started < 5.0  # before its 5 s level would end
            assert "cancelled" in window.controls.status.text()
            assert not window.controls.sweep_progress.isVisible()
            assert window.controls.start_stop.text() == "Start"
            await wait_until(lambda: not any(probes.in_flight().values()), what="server idle")
        await close_window(window)

    run_on_qt_loop(body())


def test_closing_the_window_mid_sweep_ends_everything(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.toggle_sweep()
        probes = window.session.server.probes
        await wait_until(lambda: probes.in_flight()["sync"] > 0, what="the sweep's load")
        await close_window(window)
        assert window.sweeper.task is not None and window.sweeper.task.cancelled()

    run_on_qt_loop(body())  # the fixture asserts no task is left behind


def test_a_sweep_started_under_load_resumes_it(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.delay.setValue(5)  # 50 ms
        window.toggle_running()
        probes = window.session.server.probes
        await wait_until(lambda: probes.in_flight()["async"] > 3, what="the live load")
        users = window.session.users("async")
        assert users > 3
        await window.sweep(levels=(3,), step_s=1.5)
        assert window.session.running and window.controls.start_stop.text() == "Stop"
        # The live load goes on with the users it had, not the sweep's last level.
        assert window.session.users("async") == users
        assert window.controls.users_value() == users
        await wait_until(lambda: probes.in_flight()["async"] > 3, what="the users of before")
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")
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
        with target.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        # The same rows as `run --csv` writes.
        assert tuple(rows[0])[: len(WINDOW_COLUMNS)] == WINDOW_COLUMNS
        assert {row["scenario"] for row in rows} == {"async", "sync"}
        assert all(row["warmup"] == "0" for row in rows)
        assert any(float(row["throughput_rps"]) > 0 for row in rows)
        assert (tmp_path / "run-charts.png").stat().st_size > 10_000
        assert not window.export_run(tmp_path / "nowhere" / "run.csv")
        assert "Could not export" in window.controls.status.text()
        await close_window(window)

    run_on_qt_loop(body())


def test_probe_history_covers_the_charts_and_no_more() -> None:
    # The charts read probe samples only over their visible span; a longer history costs
    # memory that grows for its whole length (the soak saw +7 % over 10 minutes).
    from loopscope.desktop_app import charts, session

    history_s = session.PROBE_HISTORY * session.PROBE_PERIOD_S
    assert charts.VISIBLE_S < history_s <= 2 * charts.VISIBLE_S
