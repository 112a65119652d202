"""A run stays on screen after Stop (issue 23, item 5), its time axis counts from Start,
and the response curve has a tick at each measured level (item 10), in the real window
on a real server and generator."""

from __future__ import annotations

import math
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.charts import TIMELINE_STOPPED_AXIS, curve_ticks
from loopscope.desktop_app.timeline import WAITING, WORKING
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def _choose(window: Any, lesson: str) -> None:
    names = [preset.name for preset in window.presets]
    window.controls.preset.setCurrentIndex(names.index(lesson))


def _row(window: Any, name: str) -> dict[str, str]:
    table = window.table
    for row in range(table.rowCount()):
        if table.item(row, 0).text() == name:
            return {
                table.horizontalHeaderItem(c).text(): table.item(row, c).text()
                for c in range(table.columnCount())
            }
    raise AssertionError(f"no row {name}")


def _number(text: str) -> float:
    return float(text.replace(",", "")) if text not in ("–", "") else math.nan


def _xs(item: Any) -> list[float]:
    xs = item.getData()[0]
    return [] if xs is None else [float(x) for x in xs]


def _loaded_probes(window: Any) -> list[float]:
    """The time of each probe sample taken under load."""
    return [p.t_s for p in window.session.measurement.probes() if p.users]


def _sync_windows(window: Any) -> int:
    series = window.session.recorder.snapshot().scenarios.get("sync")
    return 0 if series is None else sum(1 for w in series.windows if w.ok)


def test_a_stopped_run_stays_on_screen_until_start_or_reset(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        _choose(window, "Thread-pool exhaustion")  # 60 users, 10 threads: the timeline
        window.controls.scenario_checks["async"].setChecked(False)  # def alone: less load
        session, charts = window.session, window.charts
        # The window has been open a while before Start (probes sampled, idle).
        await wait_until(lambda: len(session.measurement.probes()) >= 30, what="idle probes")
        window.toggle_running()
        # The time axis counts from Start, not from the window's opening (nor the lesson's).
        await wait_until(lambda: bool(_loaded_probes(window)), what="a probe after Start")
        assert _loaded_probes(window)[0] < 0.5
        await wait_until(lambda: _sync_windows(window) >= 2, timeout_s=20, what="2 windows")
        window.refresh()
        first_x = min(_xs(charts.throughput._items["sync"]))
        assert 0.0 < first_x <= 1.5  # the first window is the run's first second
        # Longer than the timeline's 5 s, so that its first requests slide out of view.
        await wait_until(lambda: _sync_windows(window) >= 6, timeout_s=20, what="6 windows")

        window.toggle_running()  # Stop, as the button does
        await wait_until(lambda: not session.running and not window.tasks, what="stopped")
        finished = session.finished
        assert finished is not None and 5.5 < finished.ended_s < 30
        # Long enough that the live figures fell to nothing (what the table showed before).
        await wait_until(
            lambda: session.recorder.snapshot().now_s > finished.ended_s + 5,
            timeout_s=15,
            what="5 s after Stop",
        )
        live = session.recorder.snapshot().scenarios["sync"].windows
        assert live[-1].ok == 0  # the live recorder's last window is empty by now
        window.refresh()  # and the paint timers ran all along

        # The table: the run's figures, and "stopped" with the run's summary.
        row = _row(window, "sync")
        assert "stopped" in row["Load"] and "requests in" in row["Load"], row
        assert _number(row["req/s"]) > 5, row
        assert _number(row["p50 ms"]) > 0 and _number(row["p99 ms"]) > 0, row
        # The time charts keep the run: their x range covers its data, which stays drawn.
        x0, x1 = charts.throughput.viewRange()[0]
        xs = _xs(charts.throughput._items["sync"])
        assert xs and x0 <= min(xs) and max(xs) <= x1
        assert max(xs) <= finished.ended_s + 1.0  # no empty windows after Stop drawn
        in_flight = _xs(charts.inflight._items["sync"])
        assert in_flight and min(in_flight) < 1.0  # the probes from Start on are still there
        assert charts.inflight.viewRange()[0][0] <= min(in_flight)

        # The timeline stopped sliding: a scroll bar goes back to the run's first seconds.
        timeline = charts.timeline
        assert charts.timeline_shown and timeline.run_scroll.isVisible()
        assert timeline.frame is not None and timeline.frame.at_s is not None
        assert timeline.plot.getAxis("bottom").labelText == TIMELINE_STOPPED_AXIS
        end = timeline.frame
        assert abs(end.at_s - finished.ended_s) < 0.1  # at first, where the run stopped
        assert timeline.plot.viewRange()[0][0] > 0.5  # its first second out of view
        window.grab().save("/tmp/i23-afterstop-end.png")
        timeline.run_scroll.setValue(timeline.run_scroll.minimum())
        frame = timeline.frame
        assert frame is not None and frame.at_s is not None and frame.at_s <= 5.0 + 0.1
        assert "stopped" in timeline.caption.text()
        assert len(frame.rects(WORKING)) >= 5
        # Requests that arrived in the run's first seconds are drawn there, in run seconds.
        arrived = frame.at_s + frame.rects(WAITING)[:, 1]
        assert any(0.0 < x < 1.5 for x in arrived), arrived
        v0, v1 = timeline.plot.viewRange()[0]
        assert -0.1 < v0 < 0.5 and v1 >= frame.at_s - 0.1
        window.grab().save("/tmp/i23-afterstop-scrolled.png")

        # The next Start clears it: the table is live again, the axis from 0 again.
        window.toggle_running()
        assert session.finished is None
        await wait_until(lambda: bool(_loaded_probes(window)), what="a probe")
        assert _loaded_probes(window)[0] < 0.5  # a second Start restarts the axis at 0
        window.refresh()
        assert "stopped" not in _row(window, "sync")["Load"]
        assert not timeline.run_scroll.isVisible()
        await wait_until(lambda: _sync_windows(window) >= 1, timeout_s=20, what="a window")
        window.toggle_running()
        await wait_until(lambda: not session.running and not window.tasks, what="stopped")
        window.refresh()
        assert "stopped" in _row(window, "sync")["Load"]

        # Reset clears it too.
        window.reset()
        window.refresh()
        assert session.finished is None
        assert "stopped" not in _row(window, "sync")["Load"]
        assert _row(window, "sync")["req/s"] == "–"
        assert not timeline.run_scroll.isVisible()
        await close_window(window)

    run_on_qt_loop(body())


def _labels(plot: Any) -> list[str]:
    major = plot.getAxis("bottom")._tickLevels[0]
    return [label for _, label in major]


def test_the_response_curve_has_a_tick_at_each_measured_level(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    # A round tick next to a measured level gives way (8 beside 10 read "810").
    major, _ = curve_ticks((2, 8))
    labels = [label for _, label in major]
    assert "2" in labels and "8" in labels and "10" not in labels and "100" in labels

    async def body() -> None:
        window = await open_window(qtbot)
        _choose(window, "Sync vs async")
        window.toggle_running()
        await wait_until(lambda: window.session.running, what="running")
        window.toggle_running()
        await wait_until(lambda: not window.tasks, what="stopped")
        assert window.session.finished is not None
        await window.sweep((2, 8), step_s=1.5)
        # The sweep's load replaced the stopped run on screen.
        assert window.session.finished is None
        assert "stopped" not in _row(window, "sync")["Load"]
        window.refresh()
        levels = {p.users for p in window.session.snapshot().curve}
        assert levels == {2, 8}
        for plot in (window.charts.curve_rps, window.charts.curve_latency):
            assert {"2", "8"} <= set(_labels(plot))
        window.charts.show_timeline(False)
        window.grab().save("/tmp/i23-afterstop-curve.png")
        await close_window(window)

    run_on_qt_loop(body())
