"""The per-request timeline in the real window, on a real server and generator."""

from __future__ import annotations

import itertools
from typing import Any

from pytestqt.qtbot import QtBot

from loopscope.desktop_app.charts import MIN_LANE_PX
from loopscope.desktop_app.timeline import WAITING, WIRE, WORKING, TimelineFrame
from tests.conftest import wait_until
from tests.desktop_app.conftest import close_window, open_window


def _choose(window: Any, lesson: str) -> None:
    names = [preset.name for preset in window.presets]
    window.controls.preset.setCurrentIndex(names.index(lesson))


def test_thread_pool_lesson_shows_ten_working_and_fifty_waiting(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        _choose(window, "Thread-pool exhaustion")  # 60 users, 10 threads
        window.controls.scenario_checks["async"].setChecked(False)  # def alone: less load
        window.controls.delay.setValue(100)  # 1000 ms: each thread works a whole second
        assert window.session.threads == 10 and window.session.users("sync") == 60
        assert window.charts.timeline_shown  # the lesson opens on the timeline
        window.start()
        timeline = window.charts.timeline
        seen: list[TimelineFrame] = []

        def truthful() -> bool:
            frame: TimelineFrame | None = timeline.frame
            if frame is None or frame.scenario != "sync":
                return False
            if not seen or seen[-1] is not frame:
                seen.append(frame)
            latest = frame.slice_at(0.0)
            return bool(7 <= latest[WORKING] <= 13 and latest[WAITING] >= 40)

        # The window's own plot timer draws the frames; the users ramp in over 1 s first.
        await wait_until(truthful, timeout_s=40, what="10 working and 50 waiting drawn")
        frame = seen[-1]
        assert frame.lanes >= 50  # the requests in flight are all drawn, not a sample
        assert "waiting for a thread" in timeline.caption.text()
        # The pool has 10 threads: no frame ever drew more than 10 working at its latest instant.
        assert all(f.slice_at(0.0)[WORKING] <= 10 for f in seen)
        # Four path items draw every lane, whatever the number of requests.
        assert len(timeline.plot.getPlotItem().items) <= 4
        # The client's own time on the wire is drawn too: the generator's requests carry
        # their id to the embedded server, whose phase table keeps it for the join.
        await wait_until(
            lambda: timeline.frame is not None and len(timeline.frame.rects(WIRE)) >= 10,
            timeout_s=10,
            what="wire stretches drawn",
        )
        assert not timeline._paths[WIRE].path().isEmpty()
        assert "on the wire" in timeline.plot.legend.names[0]
        # Every lane is readable: no more lanes than fit at MIN_LANE_PX each.
        pitch_px = timeline.plot.getViewBox().height() / max(timeline.frame.lanes, 10)
        assert pitch_px >= MIN_LANE_PX
        await close_window(window)

    run_on_qt_loop(body())


def test_blocking_lesson_draws_the_loop_held_one_request_at_a_time(
    qtbot: QtBot, run_on_qt_loop: Any
) -> None:
    async def body() -> None:
        window = await open_window(qtbot)
        _choose(window, "The blocking mistake")  # 5 users, 100 ms, beside async
        assert window.charts.timeline_shown
        assert window.charts.timeline.scenario() == "blocking"
        window.start()
        timeline = window.charts.timeline

        def enough() -> bool:
            frame = timeline.frame
            return frame is not None and len(frame.rects(WORKING)) >= 15

        await wait_until(enough, timeout_s=40, what="15 blocking requests drawn")
        frame = timeline.frame
        assert frame is not None and not frame.sampled
        held = sorted(frame.rects(WORKING).tolist(), key=lambda rect: rect[1])
        for before, after in itertools.pairwise(held):
            # Strictly one after another: the next holds the loop only once the last let go.
            assert after[1] >= before[2] - 1e-9, (before, after)
        assert "holding the loop" in timeline.plot.legend.names[2]
        await close_window(window)

    run_on_qt_loop(body())
