"""Takes docs/presentation-dark.png: presentation mode in the dark theme at 1920x1080.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/presentation_screenshot.py [OUT.png] [SECONDS]

"Sync vs async" as a projector shows it: 16 pt fonts, thick lines, the control panel folded
to the strip on the left, the dark theme.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _window_shot import ROOT, open_window, run, save


async def take(out: Path, seconds: float) -> None:
    async with open_window() as window:
        window.controls.dark.setChecked(True)
        window.set_presentation(True)
        # Offscreen, "full screen" is the virtual screen's 800 x 800: the projector's
        # 1920 x 1080 is shown as a window of that size, in the same presentation style.
        window.showNormal()
        window.resize(1920, 1080)
        window.start()
        await asyncio.sleep(seconds)  # the run's own length
        window.refresh()
        save(window, out)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "presentation-dark.png"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
    run(take(out, seconds))


if __name__ == "__main__":
    main()
