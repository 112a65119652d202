"""What one frame of the per-request timeline costs at 1000 users.

Opens the real window offscreen at its default size, runs `async` at 1000 users with a
1 s delay (the slider's top: ~5000 requests in the timeline's 5 s span, ~1000 in flight),
shows the timeline of that route, and times each frame over the run: building the frame
from the server's phase table and the senders' wire log (`LabSession.timeline`, with as
many lanes as the chart fits), setting the chart's four path items, and painting the
chart (`grab()`, what a screen refresh does). The window's own
timer keeps drawing meanwhile, as in class. Budget: 10 ms a frame for all three (the
frame runs 4 times a second on the loop the server and the generator share). Not part
of the tests; writes bench/results/timeline_paint.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from _support import RESULTS, machine_info, require_this_checkout, write_json

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BUDGET_MS = 10.0


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 2),
        "max": round(ordered[-1], 2),
    }


async def measure(users: int, delay_ms: float, seconds: float) -> dict[str, object]:
    from loopscope.desktop_app.session import LabSession
    from loopscope.desktop_app.timeline import WIRE
    from loopscope.desktop_app.window import MainWindow

    session = LabSession()
    await session.open()
    window = MainWindow(session)
    window.show()
    try:
        session.set_scenarios(("async",))
        session.set_users(users)
        session.set_delay(delay_ms)
        window.reset()
        window.charts.show_timeline(True)
        timeline = window.charts.timeline
        window.start()
        await asyncio.sleep(2 * delay_ms / 1000 + 2.0)  # users ramp in; the span fills
        build_ms: list[float] = []
        draw_ms: list[float] = []
        paint_ms: list[float] = []
        totals: list[float] = []
        lanes: list[int] = []
        wire_rects: list[int] = []
        lane_px: list[float] = []
        requests: list[int] = []
        in_flight: list[int] = []
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            await asyncio.sleep(0.25)  # the window's plot period
            t0 = time.perf_counter()
            frame = session.timelines.frame("async", timeline.lanes_that_fit())
            t1 = time.perf_counter()
            timeline.draw(frame)
            t2 = time.perf_counter()
            timeline.grab()  # the paint a screen refresh would do
            t3 = time.perf_counter()
            build_ms.append((t1 - t0) * 1000)
            draw_ms.append((t2 - t1) * 1000)
            paint_ms.append((t3 - t2) * 1000)
            totals.append((t3 - t0) * 1000)
            lanes.append(frame.lanes)
            wire_rects.append(len(frame.rects(WIRE)))
            lane_px.append(timeline.plot.getViewBox().height() / max(frame.lanes, 10))
            requests.append(frame.total)
            in_flight.append(frame.now_waiting + frame.now_working + frame.now_answering)
        summary = session.recorder.snapshot().scenarios["async"].last
        size = timeline.size()
        return {
            "users": users,
            "delay_ms": delay_ms,
            "seconds": seconds,
            "frames": len(totals),
            "chart_px": [size.width(), size.height()],
            "throughput_rps": round(summary.rate_rps, 1) if summary else None,
            "requests_in_span_median": statistics.median(requests),
            "in_flight_median": statistics.median(in_flight),
            "lanes_drawn_max": max(lanes),
            "lane_px_min": round(min(lane_px), 2),
            "wire_stretches_median": statistics.median(wire_rects),
            "build_ms": _stats(build_ms),
            "draw_ms": _stats(draw_ms),
            "paint_ms": _stats(paint_ms),
            "frame_ms": _stats(totals),
            "budget_ms": BUDGET_MS,
            "within_budget": statistics.median(totals) <= BUDGET_MS,
        }
    finally:
        await window.stop()
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        window.close()
        await closed.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "timeline_paint.json")
    args = parser.parse_args()
    require_this_checkout()

    from PySide6.QtWidgets import QApplication

    from loopscope.desktop_app.event_loop import LabEventLoop
    from loopscope.desktop_app.gc_guard import MainThreadGarbageCollector

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    collector = MainThreadGarbageCollector()  # as the app does: GC on the GUI thread only
    collector.start()
    try:
        with asyncio.Runner(loop_factory=LabEventLoop) as runner:
            row = runner.run(measure(args.users, args.delay_ms, args.seconds))
    finally:
        collector.stop()
    frame, build, draw, paint = (row[k] for k in ("frame_ms", "build_ms", "draw_ms", "paint_ms"))
    assert isinstance(frame, dict) and isinstance(build, dict)
    assert isinstance(draw, dict) and isinstance(paint, dict)
    print(
        f"{args.users} async users, {args.delay_ms:g} ms: {row['requests_in_span_median']} "
        f"requests in the span, {row['lanes_drawn_max']} lanes drawn (at least "
        f"{row['lane_px_min']} px each, {row['wire_stretches_median']} wire stretches); "
        f"frame median {frame['median']} ms (build {build['median']}, draw {draw['median']}, paint "
        f"{paint['median']}), p90 {frame['p90']} ms, max {frame['max']} ms; budget {BUDGET_MS} ms"
    )
    write_json(args.out, {"benchmark": "timeline_paint", **machine_info(), "rows": [row]})
    print(f"wrote {args.out}")
    return 0 if row["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
