"""Takes docs/workers.png: the server in its own process with 2 workers, offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/workers_screenshot.py [OUT.png] [SECONDS]

"Workers: processes beat the GIL": a run with 1 worker is pinned; then the server moves to
2 workers (the window stops it and starts it again) and the same load runs: the live lines
leave the pinned ones where the second process gets a core of its own. The loop-lag chart
draws the window's loop and the server's apart.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _window_shot import ROOT, choose_lesson, open_window, run, save


async def take(out: Path, seconds: float) -> None:
    async with open_window() as window:
        choose_lesson(window, "Workers: processes beat the GIL")
        await window.settled()
        window.controls.workers.setValue(1)
        await window.settled()
        window.start()
        await asyncio.sleep(seconds)  # the first run's own length
        window.pin_run()
        await window.stop()
        window.controls.workers.setValue(2)
        await window.settled()
        window.reset()
        window.start()
        await asyncio.sleep(seconds)
        window.refresh()
        # The panel scrolled down to the Server choice: the picture shows where it is.
        window.controls_scroll.ensureWidgetVisible(window.controls.workers)
        save(window, out)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "workers.png"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
    run(take(out, seconds))


if __name__ == "__main__":
    main()
