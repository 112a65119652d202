"""Takes docs/presentation-dark.png: presentation mode in the dark theme at 1920x1080.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/presentation_screenshot.py [OUT.png] [SECONDS]

"Sync vs async" as a projector shows it: 16 pt fonts, thick lines, the control panel folded
to the strip on the left, the dark theme.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtWidgets import QApplication

from loopscope.desktop_app.session import LabSession
from loopscope.desktop_app.window import MainWindow

ROOT = Path(__file__).resolve().parents[1]


async def take(out: Path, seconds: float) -> None:
    session = LabSession()
    await session.open()
    window = MainWindow(session)
    window.show()
    try:
        window.controls.dark.setChecked(True)
        window.set_presentation(True)
        # Offscreen, "full screen" is the virtual screen's 800 x 800: the projector's
        # 1920 x 1080 is shown as a window of that size, in the same presentation style.
        window.showNormal()
        window.resize(1920, 1080)
        window.start()
        await asyncio.sleep(seconds)  # the run's own length
        window.refresh()
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise SystemExit(f"cannot write {out}")
        print(f"wrote {out}")
    finally:
        await window.stop()
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        window.close()
        await closed.wait()


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "presentation-dark.png"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        runner.run(take(out, seconds))


if __name__ == "__main__":
    main()
