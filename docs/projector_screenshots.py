"""Takes docs/projector-*.png: the window at a projector's 1280x720 and at 1920x1080, in
normal and in presentation mode, light and dark.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/projector_screenshots.py [OUT_DIR] [SECONDS]

"Thread-pool exhaustion" running with its request timeline shown; the threads slider is
moved half-way through, so the charts carry a marker, as they do in a lesson. Offscreen,
"full screen" is the virtual screen's 800 x 800: presentation mode is shown as a window of
the projector's size, in the same style (as `loopscope gui --presentation --size WxH`).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _window_shot import ROOT, choose_lesson, open_window, run, save

SIZES = ((1280, 720), (1920, 1080))
# (file name's tail, presentation mode, dark theme)
LOOKS = (
    ("", False, False),
    ("-dark", False, True),
    ("-presentation", True, False),
    ("-presentation-dark", True, True),
)


async def take(out_dir: Path, seconds: float) -> None:
    for width, height in SIZES:
        for tail, presentation, dark in LOOKS:
            async with open_window((width, height)) as window:
                choose_lesson(window, "Thread-pool exhaustion")
                window.controls.dark.setChecked(dark)
                if presentation:
                    window.set_presentation(True)
                    window.showNormal()
                    window.resize(width, height)
                window.charts.show_timeline(True)
                window.start()
                await asyncio.sleep(seconds / 2)  # the run's own length
                window.controls.threads.setValue(40)  # the lesson's fix: a marker
                await asyncio.sleep(seconds / 2)
                window.refresh()
                save(window, out_dir / f"projector-{width}x{height}{tail}.png")


def main() -> None:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    run(take(out_dir, seconds))


if __name__ == "__main__":
    main()
