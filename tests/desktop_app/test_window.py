"""The window on a real qasync loop with the real embedded server, offscreen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.app import GuiOptions, run_window
from loopscope.desktop_app.controls import position_from_users
from loopscope.desktop_app.presets import preset_named
from loopscope.desktop_app.session import MAX_BLOCKING_USERS
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def test_window_opens_and_closes_cleanly(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        assert window.session.server.started
        assert window.controls.start_stop.text() == "Start"
        assert window.headline.text() == "Sync vs async"
        window.toggle_running()
        assert window.controls.start_stop.text() == "Stop"
        await wait_until(lambda: window.session.server.probes.in_flight()["async"] > 0, what="load")
        await close_window(window)  # while load runs: it must stop it first
        assert not window.session.server.started or window.session.closed

    run_on_qt_loop(body())  # the fixture asserts no task is left behind


def test_sliders_change_the_running_load(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        probes = window.session.server.probes
        controls = window.controls
        controls.users.setValue(position_from_users(5))
        controls.delay.setValue(30)  # 300 ms
        qtbot.mouseClick(controls.start_stop, Qt.MouseButton.LeftButton)
        await wait_until(lambda: probes.in_flight()["async"] == 5, what="5 async users")
        controls.users.setValue(position_from_users(30))
        assert controls.users_label.text() == "Users: 30"
        await wait_until(lambda: probes.in_flight()["async"] == 30, what="30 async users")
        await wait_until(lambda: probes.in_flight()["sync"] == 30, what="30 sync users")
        controls.threads.setValue(7)
        assert probes.threadpool().total == 7
        await wait_until(lambda: probes.threadpool().borrowed == 7, what="7 threads busy")
        assert probes.threadpool().waiting > 0
        controls.delay.setValue(5)  # 50 ms
        window.session.recorder.begin_measurement()
        await wait_until(
            lambda: window.session.recorder.summary("async").ok >= 100, what="fast responses"
        )
        assert window.session.recorder.summary("async").latency.p50 < 200
        await close_window(window)

    run_on_qt_loop(body())


def test_stop_during_the_blocking_preset_returns_control(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.apply_preset(preset_named("The blocking mistake"))
        window.controls.users.setValue(position_from_users(MAX_BLOCKING_USERS * 5))
        # Asking for 100 users: the blocking endpoint keeps 20 and says so.
        assert window.session.users("blocking") == MAX_BLOCKING_USERS
        assert "capped at 20" in window.controls.status.text()
        window.toggle_running()
        recorder = window.session.recorder
        await wait_until(lambda: recorder.summary("blocking").ok >= 5, what="blocking responses")
        started = time.perf_counter()
        window.toggle_running()  # Stop
        await wait_until(
            lambda: not window.session.running and not window.tasks, what="stop to finish"
        )
        assert time.perf_counter() - started < 2.5
        assert window.controls.start_stop.text() == "Start"
        # The freeze is visible in the lag chart's data.
        lags = [p.loop_lag_ms for p in window.session.snapshot().probes]
        assert max(lags) >= 50
        await close_window(window)

    run_on_qt_loop(body())


def test_preset_change_resets_the_charts(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.users.setValue(position_from_users(5))
        window.controls.delay.setValue(5)
        window.toggle_running()
        recorder = window.session.recorder
        await wait_until(
            lambda: len(recorder.snapshot().scenarios["async"].windows) >= 2,
            what="two windows of responses",
        )
        window.refresh()
        xs, ys = window.charts.throughput._items["async"].getData()
        assert xs is not None and len(xs) >= 1 and max(ys) > 0
        # Changing the lesson is refused while running, with a message.
        window.controls.preset.setCurrentIndex(4)
        assert "Stop the load" in window.controls.status.text()
        assert window.headline.text() == "Sync vs async"
        window.toggle_running()
        await wait_until(lambda: not window.session.running, what="stop")
        window.controls.preset.setCurrentIndex(4)
        assert window.headline.text() == "Fan-out: sequential vs gather"
        assert window.session.scenarios == ("fanout-sequential", "fanout-gather")
        assert recorder.snapshot().scenarios == {}
        assert window.session.snapshot().probes == () or len(window.session.snapshot().probes) < 3
        for plot in window.charts.plots():
            # Nothing of the old lesson is left: no curve, no legend entry.
            assert not any(k.startswith(("sync", "async")) for k in plot._items)
            legend_names = plot.legend.names
            assert not any("thread pool" in name or "await" in name for name in legend_names)
        assert window.table.rowCount() == 2
        assert window.table.item(0, 0).text() == "fanout-sequential"
        await close_window(window)

    run_on_qt_loop(body())


def test_a_server_that_cannot_start_gives_a_message(run_on_qt_loop: Any, capsys: Any) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = run_on_qt_loop(run_window(GuiOptions(autorun_s=1, port=port)))
    assert status == 1
    assert "is already in use" in capsys.readouterr().err


def test_no_display_is_one_line_and_exit_1() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    done = subprocess.run(
        [sys.executable, "-m", "loopscope"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "loopscope: no display found: run it on a desktop, or set QT_QPA_PLATFORM=offscreen "
        "for a headless --autorun"
    ]


def test_autorun_saves_screenshot_and_figures(tmp_path: Path) -> None:
    shot, figures = tmp_path / "shot.png", tmp_path / "figures.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "loopscope",
            "gui",
            "--autorun",
            "5",
            "--screenshot",
            str(shot),
            "--json",
            str(figures),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert shot.stat().st_size > 20_000
    result = json.loads(figures.read_text())
    assert result["preset"] == "Sync vs async"
    assert set(result["scenarios"]) == {"sync", "async"}
    assert result["scenarios"]["async"]["errors"] == {}
    for figures in result["scenarios"].values():
        # Each scenario's record is the one `run --json` writes for a measurement, with users.
        assert set(figures) >= {"users", "requests", "errors", "throughput_rps", "theory"}
        assert set(figures["latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
        assert set(figures["theory"]) >= {"throughput_rps", "latency_ms"}
        assert figures["requests"] > 0
    assert set(result["loop_lag_ms"]) == {"p99", "max"}
    # Theory says 2.5; the 15 % check at 10 s is in bench/, here only the direction.
    assert result["async_over_sync"]["measured"] > 1.5


def test_the_window_warns_when_the_generator_is_the_bottleneck(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        window.controls.scenario_checks["sync"].setChecked(False)
        window.controls.delay.setValue(0)  # 0 ms: every response asks for the next at once
        window.controls.users.setValue(position_from_users(300))
        window.toggle_running()
        await wait_until(
            lambda: window.health_banner.isVisible(),
            timeout_s=20,
            what="the generator-limited banner",
        )
        banner = window.health_banner.text()
        # A healthy verdict during the run hides the banner but not its row: the charts
        # keep their size (laid out again, they all repaint, and they jump on the screen).
        charts_at = window.charts.geometry()
        window.session.generator_health.verdict = None
        window.refresh()
        window.centralWidget().layout().activate()
        assert not window.health_banner.isVisible()
        assert window.charts.geometry() == charts_at
        window.toggle_running()
        assert "Generator-limited" in banner
        # Either reason is the truth on some machine: the client's CPU, or its loop's lag.
        assert "of a core" in banner or "late at p99" in banner, banner
        await wait_until(lambda: not window.session.running, what="stop")
        window.refresh()
        assert not window.health_banner.isVisible()
        await close_window(window)

    run_on_qt_loop(body())
