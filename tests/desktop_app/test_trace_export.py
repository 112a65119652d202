"""The window's "Export trace…": the request timeline's last seconds as a Chrome trace, at
the thread-pool lesson (10 threads: 10 requests working, the rest waiting for a thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.placement import Placement
from loopscope.desktop_app.session import LabSession
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

        def full() -> bool:
            # The session's frame, every lane: the chart samples lanes when it is short.
            frame: TimelineFrame = window.session.timelines.frame("sync", 1000)
            latest = frame.slice_at(0.0)
            return bool(latest[WORKING] == 10 and latest[WAITING] >= 40)

        await wait_until(full, timeout_s=40, what="10 working and 50 waiting drawn")
        # Three rounds of the pool answered: the ramp (over one delay) is half a second
        # behind, so the half second looked at below is the lesson's steady state.
        recorder = window.session.recorder
        await wait_until(lambda: recorder.summary("sync").ok >= 30, what="three rounds answered")
        path = tmp_path / "lesson.json"
        assert window.dialogs.export_trace(path)
        status = window.controls.status.text()
        assert status.startswith("Exported the timeline's last 5 s (") and "lesson.json" in status
        trace = checked_trace(path.read_text())
        data = trace["otherData"]
        assert data["lesson"] == "Thread-pool exhaustion" and data["side"] == "client and server"
        requests = [e for e in trace["traceEvents"] if e.get("cat") == REQUEST]
        # The requests in flight end at the instant of the export, and nothing after it
        # (a thread may stamp its start while the export reads the table).
        end = max(e["ts"] + e["dur"] for e in trace["traceEvents"] if e["ph"] == "X")
        assert {e["ts"] + e["dur"] for e in requests if e["args"].get("in flight")} == {end}
        # The last half second before it, every 10 ms: never more than 10 working, and
        # mostly 10 with the rest waiting (a thread that finished gets its next request
        # only when the loop hands it over).
        moments = [phases_at(trace, end - 1 - k * 10_000) for k in range(50)]
        assert max(m[WORKING] for m in moments) == 10
        ten = [m for m in moments if m[WORKING] == 10]
        assert len(ten) >= 0.5 * len(moments), [m[WORKING] for m in moments]
        assert all(m[WAITING] >= 40 for m in ten), [m[WAITING] for m in ten]
        # After Stop the trace is the stopped run (as the timeline keeps it), not the
        # idle seconds since Stop.
        window.toggle_running()
        assert window.session.finished is not None
        stopped = tmp_path / "stopped.json"
        assert window.dialogs.export_trace(stopped)
        assert window.controls.status.text().startswith("Exported the stopped run (")
        whole = checked_trace(stopped.read_text())
        assert whole["otherData"]["requests exported"] >= data["requests exported"]
        assert not window.dialogs.export_trace(tmp_path / "nowhere" / "t.json")
        assert window.controls.status.text().startswith("Could not export the trace to ")
        await close_window(window)

    run_on_qt_loop(body())


def test_no_trace_when_the_server_runs_in_its_own_process() -> None:
    # Its phase table lives in the worker processes: the window has no timeline to export.
    session = LabSession(placement=Placement(process=True, workers=2))
    assert not session.timeline_available
    assert session.timelines.trace({"lesson": "x"}) is None
