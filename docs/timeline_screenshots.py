"""Takes docs/timeline-threadpool.png and docs/timeline-blocking.png: the window, offscreen,
on the two lessons the per-request timeline is for.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/timeline_screenshots.py [DIR] [SECONDS] [WxH]

Thread-pool exhaustion as the lesson sets it (60 users, 10 threads, 300 ms; `def` and
`async def` side by side), and the blocking mistake (5 users, 100 ms), each for SECONDS,
at the window's default size unless WxH is given (e.g. 1920x1080).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _window_shot import ROOT, choose_lesson, open_window, run, save

SHOTS = (
    ("Thread-pool exhaustion", "timeline-threadpool.png"),
    ("The blocking mistake", "timeline-blocking.png"),
)


async def take(lesson: str, out: Path, seconds: float, size: tuple[int, int] | None) -> None:
    async with open_window(size) as window:
        choose_lesson(window, lesson)
        window.start()
        await asyncio.sleep(seconds)  # the run's own length
        # A frame drawn just after the loop was held (a repaint, a collection) shows some
        # requests whose thread is done still "sending the answer"; true, but not the
        # lesson's picture: wait (bounded) for a frame where the loop has caught up.
        for _ in range(40):
            window.refresh()
            frame = window.charts.timeline.frame
            if frame is not None and frame.now_answering == 0:
                break
            await asyncio.sleep(0.25)
        save(window, out, f": {window.charts.timeline.caption.text()}")


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 12.0
    size = None
    if len(sys.argv) > 3:  # e.g. 1920x1080; default: the window's own default size
        width, height = sys.argv[3].lower().split("x")
        size = (int(width), int(height))
    for lesson, name in SHOTS:
        run(take(lesson, out_dir / name, seconds, size))


if __name__ == "__main__":
    main()
