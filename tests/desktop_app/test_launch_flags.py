"""`loopscope gui`'s flags hold for their launch: the window remembers what the user chose
in it, not what a command line asked for once; and `--autorun --json` carries the verdict
on the generator's health as `run --json` does."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from loopscope.cli import main
from loopscope.desktop_app.app import GuiOptions, run_window
from loopscope.desktop_app.measurement import GeneratorHealth
from loopscope.desktop_app.window import MainWindow
from loopscope.embedded_server import LoopLagMonitor
from tests.conftest import wait_until


async def _launch(options: GuiOptions, use: Callable[[MainWindow], None]) -> None:
    """`loopscope gui` with these options, as `run_gui` runs it (the settings file its own,
    the fixture's): `use` the window once it shows, then close it as a user does."""

    def shown() -> list[MainWindow]:
        return [
            w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()
        ]

    before = shown()
    app = asyncio.get_running_loop().create_task(run_window(options))
    try:
        await wait_until(
            lambda: len(shown()) > len(before) or app.done(), timeout_s=30, what="the window"
        )
        assert not app.done(), "the app ended before its window showed"
        window = next(w for w in shown() if w not in before)
        try:
            use(window)
        finally:
            window.close()
    finally:
        # Also when a check failed: the app ends (its server stopped) before the test does.
        assert await asyncio.wait_for(app, 30) == 0


def test_the_theme_flag_is_for_its_launch_and_the_users_toggle_is_remembered(
    run_on_qt_loop: Any, own_settings_folder: Path
) -> None:
    def dark(expected: bool, *, then_click: bool = False) -> Callable[[MainWindow], None]:
        def check(window: MainWindow) -> None:
            assert window.controls.dark.isChecked() is expected
            assert (window.charts.chart_style.background != "#FFFFFF") is expected
            if then_click:
                window.controls.dark.click()  # the user's own choice, in the window
                assert window.controls.dark.isChecked() is not expected

        return check

    async def body() -> None:
        await _launch(GuiOptions(theme="dark"), dark(True))
        # It used to start dark: the flag had been remembered as if the user chose it.
        await _launch(GuiOptions(), dark(False, then_click=True))
        await _launch(GuiOptions(theme="light"), dark(False))
        await _launch(GuiOptions(), dark(True))  # the user's toggle, not the last flag
        # In a launch with flags, what the user toggles in the window is still remembered.
        await _launch(GuiOptions(theme="dark", size=(1280, 720)), dark(True, then_click=True))
        await _launch(GuiOptions(), dark(False))

    run_on_qt_loop(body())


def test_size_and_presentation_flags_leave_the_users_window_size(
    run_on_qt_loop: Any, own_settings_folder: Path
) -> None:
    # Offscreen, the screen is 800x800: a remembered size comes back clamped to it (and to
    # the window's least width). The user's height, under the screen's, comes back whole.
    users: list[tuple[int, int]] = []

    def resize(window: MainWindow) -> None:
        window.resize(1300, 650)  # the user's own size, in the window

    def remember_users(window: MainWindow) -> None:
        assert not window.isFullScreen()
        assert window.height() == 650
        users.append((window.width(), window.height()))

    def sized(size: tuple[int, int] | None = None) -> Callable[[MainWindow], None]:
        def check(window: MainWindow) -> None:
            assert not window.isFullScreen()
            assert (window.width(), window.height()) == (size or users[0])

        return check

    def full_screen(window: MainWindow) -> None:
        assert window.isFullScreen()

    async def body() -> None:
        await _launch(GuiOptions(), resize)
        await _launch(GuiOptions(), remember_users)
        await _launch(GuiOptions(size=(1280, 720)), sized((1280, 720)))
        # It used to come back at the flag's size.
        await _launch(GuiOptions(), sized())
        await _launch(GuiOptions(presentation=True), full_screen)
        # It used to open as large as the screen: the geometry saved at close was the
        # flag's full screen.
        await _launch(GuiOptions(), sized())

    run_on_qt_loop(body())


def test_autorun_json_carries_the_generator_health_of_run_json(
    run_on_qt_loop: Any, tmp_path: Path
) -> None:
    window_json, run_json = tmp_path / "window.json", tmp_path / "run.json"
    # The first lesson: 100 users a route over a 1 s wait, 140 req/s, light load.
    status = run_on_qt_loop(run_window(GuiOptions(autorun_s=4, json_path=window_json)))
    assert status == 0
    health = json.loads(window_json.read_text(encoding="utf-8"))["generator_health"]
    argv = ["run", "--scenario", "async", "--concurrency", "10", "--duration", "1"]
    assert main([*argv, "--json", str(run_json)]) == 0
    run_health = json.loads(run_json.read_text(encoding="utf-8"))["generator_health"]
    assert set(health) == set(run_health)
    assert health["generator_limited"] is False, health
    assert health["warnings"] == []
    assert 0 < health["cpu_percent_of_one_core"] < 85
    assert health["loop_lag_p99_ms"] < 50


def _stall_the_loop(seconds: float) -> None:
    """The stall under test, on the loop's thread (not a wait for anything)."""
    time.sleep(seconds)


async def test_a_period_leaves_out_the_windows_own_stalls_as_the_banner_does() -> None:
    """The autorun's verdict is judged as the banner's is: a stall the window causes
    itself (a repaint, in ui_busy) is not the generator's. Beside it, a second judge of
    the same period that was not told sees the stall and warns."""
    lag = LoopLagMonitor()
    lag.start()
    window, unaware = GeneratorHealth(), GeneratorHealth()
    try:
        await wait_until(lambda: len(lag.lags_since(0.0)) >= 5, what="lag ticks")
        for health in (window, unaware):
            health.watch(lag)
            health.begin_period()
        since = time.perf_counter()
        with window.ui_busy(settle_s=0.2):
            _stall_the_loop(0.3)  # as a repaint would
        await wait_until(lambda: lag.max_since(since) >= 0.25, what="the late tick")
        verdict = window.end_period(("async",))
        assert verdict is not None and not verdict.generator_limited
        assert verdict.loop_lag_p99_ms < 50
        told_nothing = unaware.end_period(("async",))
        assert told_nothing is not None and told_nothing.loop_lag_p99_ms >= 250
        assert any("ms late" in w for w in told_nothing.warnings)
        assert window.end_period(("async",)) is None  # a period is judged once
    finally:
        await lag.stop()
