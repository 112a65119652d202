"""The window's keys, pressed where a user's focus is: Space (Start/Stop) in number and
text fields and after Load, Ctrl+Q / Ctrl+W, and the "slider drives" text; offscreen."""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox, QStyle, QStyleOptionComboBox, QWidget
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.presets import preset_named
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window
from tests.desktop_app.test_own_app import load_shop


def with_window(qtbot: QtBot, run_on_qt_loop: Any, steps: Callable[[Any], Awaitable[None]]) -> None:
    """Run `steps` on a window that has the keyboard (its shortcuts only fire then);
    closed afterwards even when a step fails, so one failure stays one."""

    async def body() -> None:
        window = await open_window(qtbot)
        window.activateWindow()
        try:
            await wait_until(window.isActiveWindow, what="the window active")
            await steps(window)
        finally:
            if window.isVisible():
                await close_window(window)

    run_on_qt_loop(body())  # the fixture asserts no task is left behind


def press(qtbot: QtBot, key: Qt.Key, modifier: Qt.KeyboardModifier | None = None) -> None:
    """A key pressed where the focus is, as on a keyboard."""
    focus = QApplication.focusWidget()
    assert isinstance(focus, QWidget)
    if modifier is None:
        qtbot.keyClick(focus, key)
    else:
        qtbot.keyClick(focus, key, modifier)


def test_space_in_the_workers_box_starts_and_stops(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def steps(window: Any) -> None:
        controls = window.controls
        # Enabled as in the Workers lesson (the server in its own process), without
        # starting processes here: only the box's keys are under test.
        controls.workers.setEnabled(True)
        controls.workers.setFocus()
        await wait_until(controls.workers.hasFocus, what="the workers box focused")
        press(qtbot, Qt.Key.Key_Space)
        assert controls.workers.text() == "workers: 1"  # not blanked by a typed space
        assert controls.start_stop.text() == "Stop"
        assert window.session.running
        press(qtbot, Qt.Key.Key_Space)
        assert controls.start_stop.text() == "Start"
        await wait_until(lambda: not window.tasks, what="the stop to finish")
        assert controls.workers.text() == "workers: 1"

    with_window(qtbot, run_on_qt_loop, steps)


def test_space_after_load_starts_rather_than_typing(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def steps(window: Any) -> None:
        window.show_own_panel(True)
        panel = window.own_panel
        await load_shop(qtbot, window)  # clicks Load
        press(qtbot, Qt.Key.Key_Space)
        assert panel.app_dir.text() == ""
        assert window.controls.start_stop.text() == "Stop"
        press(qtbot, Qt.Key.Key_Space)
        assert window.controls.start_stop.text() == "Start"
        await wait_until(lambda: not window.tasks, what="the stop to finish")
        # The same after Use URL (the demo server's own, on this machine).
        panel.url.setText(f"{window.session.server.url}/scenario/async")
        qtbot.mouseClick(panel.use_url, Qt.MouseButton.LeftButton)
        await wait_until(lambda: "a server already running" in panel.message.text(), what="URL")
        press(qtbot, Qt.Key.Key_Space)
        assert window.controls.start_stop.text() == "Stop"
        assert panel.url.text().endswith("/scenario/async")  # no space typed anywhere
        assert panel.app_dir.text() == ""

    with_window(qtbot, run_on_qt_loop, steps)


def test_text_fields_type_spaces_and_ctrl_enter_starts(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def steps(window: Any) -> None:
        window.show_own_panel(True)
        spec = window.own_panel.app_spec
        spec.setFocus()
        await wait_until(spec.hasFocus, what="the app field focused")
        qtbot.keyClicks(spec, "my app")
        assert spec.text() == "my app"  # people type spaces there
        assert window.controls.start_stop.text() == "Start"
        press(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert window.controls.start_stop.text() == "Stop"
        assert spec.text() == "my app"
        assert "Not loaded" not in window.own_panel.message.text()  # not Enter's Load
        press(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert window.controls.start_stop.text() == "Start"

    with_window(qtbot, run_on_qt_loop, steps)


@pytest.mark.parametrize("key", [Qt.Key.Key_Q, Qt.Key.Key_W], ids=["ctrl-q", "ctrl-w"])
def test_ctrl_q_and_ctrl_w_close_the_window_cleanly(
    qtbot: QtBot, run_on_qt_loop: Any, caplog: pytest.LogCaptureFixture, key: Qt.Key
) -> None:
    async def steps(window: Any) -> None:
        closed: list[bool] = []
        window.closed.connect(lambda: closed.append(True))
        window.toggle_running()  # while load runs, as a class would quit
        assert window.session.running
        press(qtbot, key, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: bool(closed), what="the window closed")
        assert not window.isVisible()
        assert window.session.closed

    with caplog.at_level(logging.ERROR):
        with_window(qtbot, run_on_qt_loop, steps)
        gc.collect()  # a task dropped pending says "Task was destroyed" when collected
    # No traceback, no "Task was destroyed", nothing the loop logged as an error.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_slider_drives_shows_whole_endpoint_names(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def steps(window: Any) -> None:
        window.apply_preset(preset_named("Fan-out: sequential vs gather"))
        controls = window.controls
        controls.link.setChecked(False)
        combo = controls.users_target
        names = [combo.itemText(i) for i in range(combo.count())]
        assert "fanout-sequential" in names
        for name in names:
            combo.setCurrentText(name)
            assert shown_width(combo) >= combo.fontMetrics().horizontalAdvance(name), name

    with_window(qtbot, run_on_qt_loop, steps)


def shown_width(combo: QComboBox) -> int:
    """The width the combo draws its text in (what is wider is cut with "…")."""
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox,
        option,
        QStyle.SubControl.SC_ComboBoxEditField,
        combo,
    )
    return field.width()
