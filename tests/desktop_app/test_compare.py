"""Compare and annotate (issue 11, item 3): markers where a setting changed, pinned runs
drawn under the live one, and exports that say what they show."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.annotations import Marker, MarkerLog, settings_at
from loopscope.desktop_app.window import EXPORT_COLUMNS
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def test_a_slider_drag_is_one_marker_from_the_first_value_to_the_last() -> None:
    log = MarkerLog()
    for t_s, (before, after) in enumerate([("10", "11"), ("11", "20"), ("20", "58")]):
        log.note(t_s * 0.1, "threads", before, after)
    assert [m.label for m in log.markers] == ["threads 10 \u2192 58"]
    assert log.markers[0].t_s == 0.0  # where the charts begin to move
    # Later, a change of its own; and one dragged back to where it was is none.
    log.note(10.0, "threads", "58", "30")
    log.note(10.5, "threads", "30", "58")
    log.note(20.0, "delay", "100", "1000", "ms")
    assert [m.label for m in log.markers] == ["threads 10 \u2192 58", "delay 100 \u2192 1000 ms"]


def test_settings_at_undoes_the_changes_after_a_time() -> None:
    now = {"mode": "closed", "threads": "58", "users (sync)": "100", "users (async)": "100"}
    markers = (Marker(10.0, "threads", "10", "58"), Marker(20.0, "users", "50", "100"))
    assert settings_at(now, markers, 5.0)["threads"] == "10"
    assert settings_at(now, markers, 5.0)["users (sync)"] == "50"
    assert settings_at(now, markers, 15.0)["threads"] == "58"
    assert settings_at(now, markers, 15.0)["users (async)"] == "50"
    assert settings_at(now, markers, 25.0) == now


def _sync_windows(window: Any) -> list[Any]:
    series = window.session.recorder.snapshot().scenarios.get("sync")
    return [] if series is None else list(series.windows)


def _marker_texts(window: Any) -> list[str]:
    lines = window.charts._marker_lines.get(id(window.charts.throughput), [])
    return [line.label.format.strip() for line in lines if line.isVisible()]


def test_markers_pins_and_exports(qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        # "Thread-pool exhaustion" is the lesson to compare: 10 threads, then more.
        window.controls.preset.setCurrentIndex(2)
        lesson = window.headline.text()
        window.controls.delay.setValue(50)
        threads_before = window.session.threads
        window.toggle_running()
        await wait_until(
            lambda: (
                (s := window.session.recorder.snapshot().scenarios.get("sync")) is not None
                and sum(w.ok for w in s.windows) > 0
            ),
            what="a measured window",
        )
        # Pin: a faint copy on the charts, named once in the pins' key (not in each legend).
        window.pin_run()
        assert "Pinned 1" in window.controls.status.text()
        assert any(name.startswith("pinned 1:") for name in window.charts.pins_key.names)
        assert window.charts.pins_key.isVisible()
        assert not any(
            name.startswith("pinned")
            for plot in window.charts.plots()
            for name in plot.legend.names
        )

        window.controls.threads.setValue(threads_before * 4)
        after = f"threads {threads_before} \u2192 {threads_before * 4}"
        window.refresh()
        # The delay set before Start is a marker too: a change between runs is one; and
        # the pin taken while running marks where it was taken.
        delay = f"delay 300 \u2192 {window.session.delay_ms:g} ms"
        assert _marker_texts(window) == [delay, "pinned 1", after]

        # Reset clears the run and its markers, and keeps the pin.
        window.reset()
        assert _marker_texts(window) == []
        window.refresh()
        assert any(name.startswith("pinned 1:") for name in window.charts.pins_key.names)
        pinned_items = window.charts._pin_items[1][1]
        assert any(
            item.getData()[0] is not None and len(item.getData()[0]) for _, item in pinned_items
        )

        await wait_until(
            lambda: sum(1 for w in _sync_windows(window) if w.ok) >= 2,
            what="two windows after the reset",
        )
        window.controls.threads.setValue(threads_before)
        marker_at = window.session.snapshot().markers[0].t_s
        await wait_until(
            lambda: any(w.start_s > marker_at + 1 for w in _sync_windows(window)),
            timeout_s=15,
            what="a window after the change",
        )
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")

        target = tmp_path / "run.csv"
        assert window.export_run(target)
        with target.open(newline="") as stream:
            rows = list(csv.DictReader(stream))
        assert tuple(rows[0]) == EXPORT_COLUMNS
        assert {row["lesson"] for row in rows} == {lesson}
        marked = [row for row in rows if row["marker"]]
        assert (
            marked
            and marked[0]["marker"] == f"threads {threads_before * 4} \u2192 {threads_before}"
        )
        sync_rows = [row for row in rows if row["scenario"] == "sync"]
        assert f"{threads_before * 4} threads" in sync_rows[0]["settings"]
        assert f"{threads_before} threads" in sync_rows[-1]["settings"]

        # The PNG carries a caption above the charts.
        picture = QImage(str(tmp_path / "run-charts.png"))
        assert picture.height() > window.charts.height()

        window.clear_pins()
        assert not any(n.startswith("pinned") for n in window.charts.pins_key.names)
        assert not window.charts.pins_key.isVisible()
        await close_window(window)

    run_on_qt_loop(body())


def test_pin_with_nothing_measured_says_so(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.pin_run()
        assert "Nothing to pin yet" in window.controls.status.text()
        assert window.session.snapshot().pins == ()
        await close_window(window)

    run_on_qt_loop(body())


def test_disabled_controls_say_why_and_labels_hold_their_width(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        controls = window.controls
        usual = controls.preset.toolTip()
        window.toggle_running()
        assert not controls.preset.isEnabled()
        assert controls.preset.toolTip().startswith("Stop the load to change the lesson")
        assert not controls.mode.isEnabled()
        assert controls.mode.toolTip().startswith("Stop the load")
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")
        assert controls.preset.isEnabled() and controls.preset.toolTip() == usual

        # Open loop: the users slider is off, and says why.
        controls.mode.setCurrentIndex(controls.mode.findData("open"))
        assert not controls.users.isEnabled()
        assert controls.users.toolTip().startswith("Open loop: the rate sets the load")
        controls.mode.setCurrentIndex(controls.mode.findData("closed"))
        assert controls.users.isEnabled()

        # Dragging the threads slider changes its label's text, never the sliders' place.
        def slider_x() -> int:
            controls.delay.parentWidget().layout().activate()  # the form the sliders are in
            return int(controls.delay.geometry().x())

        before = slider_x()
        for threads in (1, 40, 200, 58):
            controls.threads.setValue(threads)
            assert slider_x() == before
        await close_window(window)

    run_on_qt_loop(body())


def test_an_event_marker_is_no_change_of_settings() -> None:
    log = MarkerLog()
    log.note(1.0, "threads", "10", "58")
    log.event(2.0, "settled: sync")
    assert [m.label for m in log.markers] == ["threads 10 \u2192 58", "settled: sync"]
    now = {"mode": "closed", "threads": "58"}
    assert settings_at(now, log.markers, 0.5) == {"mode": "closed", "threads": "10"}


def test_dark_theme_themes_the_banners_and_draws_check_boxes(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.dark.setChecked(True)
        sheet = window.styleSheet()
        assert "QLabel#healthBanner { background: #3A2B1C" in sheet
        assert "QLabel#noticeBanner { background: #3A1F24" in sheet
        assert "QCheckBox::indicator { width: 14px" in sheet  # 11 pt fonts
        # What a user sees: an unchecked box is drawn in a light edge on the dark panel.
        check = window.controls.scenario_checks["blocking"]
        assert not check.isChecked()
        picture = check.grab().toImage()
        row = picture.height() // 2
        box = [picture.pixelColor(x, row).lightness() for x in range(0, 20)]  # the indicator
        assert max(box) > 100, box
        window.controls.presentation.setChecked(True)
        # The box grows with presentation mode's fonts (12 pt on offscreen's 800 px screen).
        assert "QCheckBox::indicator { width: 16px" in window.styleSheet()
        window.controls.presentation.setChecked(False)
        await close_window(window)

    run_on_qt_loop(body())


def test_every_lesson_card_shows_whole_at_the_default_size(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        # "Your app" is folded until wanted: the lesson's card and sliders get the room.
        assert window.own_panel.isHidden() and not window.own_toggle.isChecked()
        for index in range(window.controls.preset.count()):
            window.controls.preset.setCurrentIndex(index)
            text = window.controls.explanation.text()
            assert "Watch" in text and "Theory" in text and "Why" in text
            window.controls.card.widget().adjustSize()
            window.controls.layout().activate()
            assert window.controls.card.verticalScrollBar().maximum() == 0, window.headline.text()
        window.own_toggle.click()
        assert not window.own_panel.isHidden()
        await close_window(window)

    run_on_qt_loop(body())


def _legend_pins(window: Any) -> list[str]:
    return [n for n in window.charts.pins_key.names if n.startswith("pinned")]


def _xs(item: Any) -> list[float]:
    xs = item.getData()[0]
    return [] if xs is None else [float(x) for x in xs]


def test_a_pin_taken_while_running_shows_at_once_and_the_live_run_goes_on_from_it(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.preset.setCurrentIndex(2)  # Thread-pool exhaustion
        window.toggle_running()
        await wait_until(
            lambda: sum(1 for w in _sync_windows(window) if w.ok) >= 2, what="two windows"
        )
        window.pin_run()
        pin = window.session.snapshot().pins[0]
        taken_s = pin.snapshot.recorder.now_s
        # At once: the legend names it, its faint lines hold the run so far, a marker says
        # where it was taken, and the live lines go on from there (not under the pin).
        assert _legend_pins(window) == [f"pinned 1: {pin.label}"]
        pinned = [
            item
            for plot, item in window.charts._pin_items[1][1]
            if plot is window.charts.throughput
        ]
        assert pinned and all(_xs(item) for item in pinned)
        assert max(x for item in pinned for x in _xs(item)) <= taken_s
        assert "pinned 1" in _marker_texts(window)
        live = window.charts.throughput._items["sync"]
        assert all(x > taken_s for x in _xs(live)), (_xs(live), taken_s)
        await wait_until(
            lambda: window.refresh() or bool(_xs(window.charts.throughput._items["sync"])),
            what="the live line after the pin",
        )
        assert all(x > taken_s for x in _xs(window.charts.throughput._items["sync"]))

        # Clear pins: the next pin is "pinned 1" again.
        window.pin_run()
        assert window.controls.status.text().startswith("Pinned 2")
        window.clear_pins()
        assert _legend_pins(window) == []
        window.pin_run()
        assert window.controls.status.text().startswith("Pinned 1")
        assert [n.split(":")[0] for n in _legend_pins(window)] == ["pinned 1"]
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")
        await close_window(window)

    run_on_qt_loop(body())


def test_pins_belong_to_their_lesson_and_routes(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        controls = window.controls
        controls.preset.setCurrentIndex(2)  # Thread-pool exhaustion: sync and async
        window.toggle_running()
        await wait_until(lambda: any(w.ok for w in _sync_windows(window)), what="a window")
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")
        window.pin_run()
        assert len(_legend_pins(window)) == 1

        # A pin is drawn only on routes the charts show: none of its routes, no pin.
        controls.scenario_checks["blocking"].setChecked(True)
        for name in ("sync", "async"):
            controls.scenario_checks[name].setChecked(False)
        window.reset()
        window.refresh()
        assert _legend_pins(window) == [] and window.charts._pin_items == {}
        controls.scenario_checks["sync"].setChecked(True)
        window.refresh()
        assert len(_legend_pins(window)) == 1

        # Another lesson: the pin is gone, from the charts and the session.
        controls.preset.setCurrentIndex(5)  # Workers: cpu-sync
        window.refresh()
        assert _legend_pins(window) == [] and window.charts._pin_items == {}
        assert window.session.snapshot().pins == ()
        await close_window(window)

    run_on_qt_loop(body())
