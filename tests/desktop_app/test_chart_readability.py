"""Charts a class can read (issue 11, item 4): legends beside the data, never over it;
throughput from 0; response curves scaled to what was measured; Reset resets the axes;
loop freezes drawn as breaks and plateaus, not ramps."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, QRect
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.charts import held_across_freezes, lag_steps, nice_ceiling
from loopscope.desktop_app.session import CurvePoint
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def _view_box_rect(plot: Any) -> QRect:
    """The plot's data area, in the plot widget's pixels."""
    view_box = plot.getPlotItem().getViewBox()
    scene_rect = view_box.sceneBoundingRect()
    top_left = plot.mapFromScene(scene_rect.topLeft())
    bottom_right = plot.mapFromScene(scene_rect.bottomRight())
    return QRect(top_left, bottom_right)


def _in_window(widget: Any, rect: QRect, window: Any) -> QRect:
    return QRect(widget.mapTo(window, rect.topLeft()), rect.size())


def test_legends_sit_outside_the_data_and_axes_fit_the_measurements(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.resize(1920, 1080)
        names = [preset.name for preset in window.presets]
        window.controls.preset.setCurrentIndex(names.index("Thread-pool exhaustion"))
        window.toggle_running()
        session = window.session
        await wait_until(
            lambda: len(session.recorder.snapshot().scenarios["sync"].windows) >= 3,
            timeout_s=30,
            what="three windows of responses",
        )
        window.refresh()
        charts = window.charts

        def legends_outside(plots: list[Any]) -> None:
            for plot in plots:
                legend = plot.legend
                assert legend.isVisible()
                data = _in_window(plot, _view_box_rect(plot), window)
                legend_rect = _in_window(legend, QRect(QPoint(0, 0), legend.size()), window)
                assert not legend_rect.intersects(data), plot.heading.text()

        # The lesson opens on its request timeline; the response curve shares its row.
        assert charts.timeline_shown
        legends_outside([*charts.time_plots(), charts.timeline.plot])
        charts.show_timeline(False)
        legends_outside([charts.curve_rps, charts.curve_latency])
        assert "def (thread pool)" in charts.throughput.legend.names
        assert "threads busy" in charts.inflight.legend.names

        # Throughput axes start at 0 (with room for the "0" label), and reach the data.
        for plot in (charts.throughput, charts.curve_rps):
            y_min, y_max = plot.viewRange()[1]
            assert -0.1 * y_max <= y_min <= 0
        _, ys = charts.throughput._items["async"].getData()
        assert charts.throughput.viewRange()[1][1] >= float(np.nanmax(ys))

        # The response curve: measured points decide the scale; theory at 1000 users
        # (thousands of req/s) is clipped, not allowed to squash them.
        # (Points as a settled level or a sweep would add them; waiting for both here
        # would cost a minute.)
        session.measurement.add_point(CurvePoint("async", 60, 190.0, 320.0, 400.0))
        session.measurement.add_point(CurvePoint("sync", 60, 33.0, 1800.0, 1900.0))
        window.refresh()
        x_min, x_max = charts.curve_rps.viewRange()[0]
        assert x_min <= np.log10(60) <= x_max and x_max - x_min < 1.0
        _, y_top = charts.curve_rps.viewRange()[1]
        assert 190 <= y_top <= 400
        _, latency_top = charts.curve_latency.viewRange()[1]
        assert 1800 <= latency_top <= 4000

        # Reset: no data, no legend entries, axes back to where they start.
        window.toggle_running()
        await wait_until(lambda: not session.running, what="stop")
        window.reset()
        assert session.snapshot().curve == ()
        assert charts.throughput.viewRange()[1][1] <= 1.0
        assert charts.curve_rps.viewRange()[1][1] > 400  # theory's range again
        await close_window(window)

    run_on_qt_loop(body())


def test_nice_ceiling_reads_well() -> None:
    assert [nice_ceiling(v) for v in (0.0, 0.7, 1.0, 1.2, 3.1, 24.0, 190.0, 9000.0)] == [
        1.0,
        1.0,
        1.0,
        2.0,
        5.0,
        25.0,
        200.0,
        10000.0,
    ]


def test_probe_lines_step_across_a_freeze_instead_of_ramping() -> None:
    xs = np.array([0.0, 0.1, 0.2, 40.2, 40.3])
    ys = np.array([1.0, 1.0, 1.0, 20.0, 20.0])
    sx, sy = held_across_freezes(xs, ys)
    # The value holds until the freeze ends (40.2 s), then jumps: a step.
    assert list(sx) == [0.0, 0.1, 0.2, 40.2, 40.2, 40.3]
    assert list(sy) == [1.0, 1.0, 1.0, 1.0, 20.0, 20.0]
    # Dense samples are left alone.
    same_x, _ = held_across_freezes(xs[:3], ys[:3])
    assert len(same_x) == 3


def test_a_freeze_is_a_plateau_over_its_duration() -> None:
    xs = np.array([0.0, 0.1, 40.1, 40.2])
    lag = np.array([5.0, 5.0, 40_000.0, 3.0])
    sx, sy = lag_steps(xs, lag)
    # Up at 0.1 s (40.1 s - 40 s), flat at 40 000 ms until 40.1 s: no diagonal.
    assert list(sy) == [5.0, 5.0, 5.0, 40_000.0, 40_000.0, 3.0]
    assert sx[2] == sx[3] == np.float64(40.1) - 40.0 and sx[4] == 40.1
