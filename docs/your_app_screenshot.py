"""Takes docs/your-app.png: the window on the example shop, offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/your_app_screenshot.py [OUT.png] [SECONDS]

The demo's `async` route (10 users, 200 ms) runs beside the shop's `GET /stock` (10 users),
whose helper blocks the event loop: the picture shows the blocked-loop list naming it, and
what it does to the async route sharing the loop.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from _window_shot import ROOT, open_window, run, save

from loopscope.desktop_app.controls import position_from_users


async def take(out: Path, seconds: float) -> None:
    async with open_window() as window:
        for name, check in window.controls.scenario_checks.items():
            check.setChecked(name == "async")
        window.controls.users.setValue(position_from_users(10))
        window.controls.delay.setValue(20)  # 200 ms
        if not await window.load_app("examples.shop.app:app", str(ROOT)):
            raise SystemExit(window.own_panel.message.text())
        window.choose_route("GET /stock")
        window.reset()  # the lesson's other curves go
        window.start()
        await asyncio.sleep(seconds)  # the run's own length
        window.refresh()
        save(window, out)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "your-app.png"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    run(take(out, seconds))


if __name__ == "__main__":
    main()
