"""The window with its server in a process of its own: it serves, its probes show, and
nothing (no worker, no bound port) is left after Stop, a move back, a close or Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from loopscope.desktop_app.presets import preset_named
from loopscope.desktop_app.session import Placement
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window
from tests.embedded_server.test_process import _alive, _port_is_free, _serving_processes

# Other sessions on this machine may run servers of their own: a process is ours when it
# carries this tag in its environment (workers inherit it from the window).
TAG_NAME, TAG_VALUE = "LOOPSCOPE_TEST_TAG", f"{os.getpid()}-{time.monotonic_ns()}"

REPO = Path(__file__).resolve().parents[2]
WORKERS_LESSON = "Workers: processes beat the GIL"


def _ours() -> set[int]:
    """Serving workers started from this test (by this process, or by a window it ran)."""
    found = set()
    for pid in _serving_processes():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{TAG_NAME}={TAG_VALUE}".encode() in environ:
            found.add(pid)
    return found


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_the_server_choice_starts_workers_that_serve_and_end_with_the_window(
    qtbot: QtBot, run_on_qt_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TAG_NAME, TAG_VALUE)  # the workers inherit it: see _ours

    async def body() -> None:
        window = await open_window(qtbot)
        controls, session = window.controls, window.session
        assert not controls.workers.isEnabled()  # shared loop: no workers to choose
        assert "own process" in controls.workers.toolTip()
        controls.placement.setCurrentIndex(1)  # "Server: own process"
        await wait_until(
            lambda: "Server: own process, 1 worker " in controls.status.text(),
            timeout_s=30,
            what="move",
        )
        assert controls.workers.isEnabled()
        controls.workers.setValue(2)
        await wait_until(
            lambda: "Server: own process, 2 workers" in controls.status.text(),
            timeout_s=30,
            what="2",
        )
        pids = session.worker_pids()
        assert len(pids) == 2 and all(_alive(pid) for pid in pids)
        url = session.server_url
        assert not window.own_toggle.isEnabled()  # your app needs the window's loop
        window.charts.show_timeline(True)
        assert window.charts.timeline.absent.isVisible()
        assert "needs the server in this window's loop" in window.charts.timeline.absent.text()

        qtbot.mouseClick(controls.start_stop, Qt.MouseButton.LeftButton)
        assert not controls.placement.isEnabled()
        assert controls.placement.toolTip().startswith("Stop the load")
        # What the user sees: answers, both pools (2 x 40 threads) and both loops' lag.
        await wait_until(
            lambda: session.recorder.snapshot().scenarios["async"].total_ok > 0,
            timeout_s=15,
            what="answers from the workers",
        )

        def probed() -> bool:
            probes = session.snapshot().probes
            return bool(probes) and probes[-1].threads_total == 80

        await wait_until(probed, timeout_s=15, what="the workers' probes")
        window.refresh()
        assert probes_seen(window) >= {"this window's loop", "the server's (its worst worker)"}
        assert session.snapshot().probes[-1].server_loop_lag_ms is not None

        qtbot.mouseClick(controls.start_stop, Qt.MouseButton.LeftButton)  # Stop
        await wait_until(lambda: controls.placement.isEnabled(), what="Stop took effect")
        assert all(_alive(pid) for pid in pids)  # Stop stops the load, not the server

        controls.placement.setCurrentIndex(0)  # back to the window's loop
        await wait_until(
            lambda: session.server_ready and not session.placement.process, what="back"
        )
        await wait_until(lambda: not any(_alive(pid) for pid in pids), what="workers gone")
        assert _port_is_free(_port(url))
        assert not window.charts.timeline.absent.isVisible()
        assert window.own_toggle.isEnabled()

        controls.placement.setCurrentIndex(1)
        await wait_until(lambda: len(session.worker_pids()) == 2, timeout_s=30, what="again")
        pids, url = session.worker_pids(), session.server_url
        await close_window(window)
        assert not any(_alive(pid) for pid in pids)
        assert _port_is_free(_port(url))

    run_on_qt_loop(body())
    assert _ours() == set()


def probes_seen(window: Any) -> set[str]:
    return set(window.charts.loop_lag.legend.names)


def test_the_workers_lesson_moves_the_server_and_its_theory_follows(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        session = window.session
        lesson = preset_named(WORKERS_LESSON)
        assert lesson.server_process and lesson.workers == 2
        window.controls.preset.setCurrentIndex(window.presets.index(lesson))
        await window.settled()
        assert session.placement == Placement(process=True, workers=2)
        assert window.controls.placement_value() == (True, 2)
        assert "2 workers" in window.headline.text()
        two = session.prediction("cpu-sync")
        assert "2 cores for 2 workers" in two.explanation
        # A lesson without a placement of its own brings the server back to this loop.
        window.controls.preset.setCurrentIndex(0)
        await window.settled()
        assert session.placement == Placement()
        assert session.worker_pids() == []
        await close_window(window)

    run_on_qt_loop(body())


def test_the_command_line_placement_holds_over_the_lessons(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        from loopscope.desktop_app.session import LabSession
        from loopscope.desktop_app.window import MainWindow

        placement = Placement(process=True, workers=1)
        session = LabSession(placement=placement)
        await session.open()
        window = MainWindow(session, placement=placement)
        qtbot.addWidget(window)
        window.apply_preset(preset_named("Sync vs async"))
        await window.settled()
        assert session.placement == placement and len(session.worker_pids()) == 1
        assert window.controls.placement_value() == (True, 1)
        pids = session.worker_pids()
        await close_window(window)
        assert not any(_alive(pid) for pid in pids)

    run_on_qt_loop(body())


def _gui(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "loopscope", "gui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", TAG_NAME: TAG_VALUE},
    )


def test_gui_autorun_runs_the_workers_lesson_and_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    process = _gui("--preset", WORKERS_LESSON, "--autorun", "4", "--json", str(out))
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    figures = json.loads(out.read_text())
    assert figures["workers"] == 2 and figures["server_process"] is True
    assert figures["scenarios"]["cpu-sync"]["throughput_rps"] > 0
    assert _ours() == set()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("seen", [1, 2], ids=["starting", "serving"])
def test_ctrl_c_or_sigterm_on_the_window_leaves_no_worker(sig: signal.Signals, seen: int) -> None:
    # seen=1: the signal comes as the first worker appears, usually while the server is
    # still starting (before the window exists); seen=2: both workers are up.
    process = _gui("--workers", "2", "--autorun", "60")
    try:
        deadline = time.monotonic() + 60
        while len(_ours()) < seen and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)  # the poll's interval: the condition is checked above
        assert len(_ours()) >= seen
        process.send_signal(sig)
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in err, err
    # Ended by LoopScope, not by the kernel's parent-death signal after it was gone.
    assert process.returncode in (1, 128 + int(sig)), err
    assert _ours() == set()


async def test_a_session_sweeps_its_server_process_and_reads_its_pools() -> None:
    from loopscope.desktop_app.session import LabSession

    session = LabSession(placement=Placement(process=True, workers=2))
    await session.open()
    try:
        session.set_scenarios(("sync",))
        session.set_threads(3)  # each worker's pool: 2 x 3 tokens
        await wait_until(
            lambda: session.demo.probes().threadpool().total == 6, what="pools resized"
        )
        (result,) = await session.sweep([4], step_s=1.5)
        assert result.settings.scenario == "sync" and result.summary.ok > 0
        assert result.prediction.capacity == 6  # the step's theory counts both workers
        assert session.snapshot().curve[0].users == 4
        assert session.prediction("sync").capacity == 6
        pids = session.worker_pids()
    finally:
        await session.close()
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)


def test_your_app_keeps_the_server_in_the_windows_loop(qtbot: QtBot, run_on_qt_loop: Any) -> None:
    from tests.desktop_app.test_own_app import load_shop

    async def body() -> None:
        window = await open_window(qtbot)
        window.show_own_panel(True)
        await load_shop(qtbot, window)
        placement = window.controls.placement
        assert not placement.isEnabled()
        assert placement.toolTip().startswith("Your app is served on this window's loop")
        window.move_server(Placement(process=True))  # asked anyway (a lesson): refused
        assert window.session.placement == Placement()
        assert "stays in this window's loop" in window.controls.status.text()
        await close_window(window)

    run_on_qt_loop(body())


def test_lessons_chosen_quickly_leave_the_server_where_the_last_one_wants_it(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        workers = window.presets.index(preset_named(WORKERS_LESSON))
        for index in (workers, 0, workers, 0):  # each asks before the last move is done
            window.controls.preset.setCurrentIndex(index)
        await window.settled()
        assert window.session.placement == Placement()
        assert window.session.worker_pids() == []
        await close_window(window)

    run_on_qt_loop(body())
