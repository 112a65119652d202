"""The window's "Export trace…": the request timeline's last seconds as a Chrome trace, at
the thread-pool lesson (10 threads: 10 requests working, the rest waiting for a thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.timeline import WAITING, WORKING, TimelineFrame
from loopscope.loadgen.trace import REQUEST
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window
from tests.trace_checks import checked_trace, phases_at


def test_export_trace_writes_the_timeline_of_the_thread_pool_lesson(
    qtbot: QtBot, run_on_qt_loop: Any, tmp_path: Path
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        names = [preset.name for preset in window.presets]
        window.controls.preset.setCurrentIndex(names.index("Thread-pool exhaustion"))
        window.controls.scenario_checks["async"].setChecked(False)  # def alone: less load
        button = window.controls.export_trace
        assert button.isVisible() and button.text() == "Export trace…"
        # Nothing ran yet: nothing to export, and the window says so.
        assert not window.dialogs.export_trace(tmp_path / "empty.json")
        assert "No trace to export" in window.controls.status.text()
        assert not (tmp_path / "empty.json").exists()
        window.start()
        timeline = window.charts.timeline

        def full() -> bool:
            frame: TimelineFrame | None = timeline.frame
            if frame is None or frame.scenario != "sync":
                return False
            latest = frame.slice_at(0.0)
            return bool(latest[WORKING] == 10 and latest[WAITING] >= 40)

        await wait_until(full, timeout_s=40, what="10 working and 50 waiting drawn")
        path = tmp_path / "lesson.json"
        assert window.dialogs.export_trace(path)
        status = window.controls.status.text()
        assert status.startswith("Exported the timeline's last 5 s (") and "lesson.json" in status
        trace = checked_trace(path.read_text())
        data = trace["otherData"]
        assert data["lesson"] == "Thread-pool exhaustion" and data["side"] == "client and server"
        # The instant of the export: the requests in flight end there.
        end = max(e["ts"] + e["dur"] for e in trace["traceEvents"] if e["ph"] == "X")
        now = phases_at(trace, end - 1)
        assert now[WORKING] <= 10 and now[WORKING] >= 9  # a thread may be between two
        assert now[WAITING] >= 40
        assert any(
            e["args"].get("in flight") for e in trace["traceEvents"] if e.get("cat") == REQUEST
        )
        assert not window.dialogs.export_trace(tmp_path / "nowhere" / "t.json")
        assert window.controls.status.text().startswith("Could not export the trace to ")
        await close_window(window)

    run_on_qt_loop(body())
