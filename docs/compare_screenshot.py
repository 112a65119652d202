"""Takes docs/compare-pinned.png: a pinned run beside a live one, with a marker, offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/compare_screenshot.py [OUT.png] [SECONDS]

"Thread-pool exhaustion": a run at 10 threads is pinned; after Reset the load runs again
at 10 threads and, a few seconds in, the pool grows to 58 (the marker): the live lines
leave the pinned ones where the pool stops being the limit.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _window_shot import ROOT, choose_lesson, open_window, run, save


async def take(out: Path, seconds: float) -> None:
    async with open_window((1920, 1080)) as window:
        choose_lesson(window, "Thread-pool exhaustion")
        window.start()
        await asyncio.sleep(seconds)  # the first run's own length
        window.pin_run()
        window.reset()
        await asyncio.sleep(seconds / 4)
        window.controls.threads.setValue(58)
        await asyncio.sleep(seconds * 3 / 4)
        window.refresh()
        save(window, out)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "compare-pinned.png"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    run(take(out, seconds))


if __name__ == "__main__":
    main()
