"""Takes docs/compare-pinned.png: a pinned run beside a live one, with a marker, offscreen.

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/compare_screenshot.py [OUT.png] [SECONDS]

"Thread-pool exhaustion": a run at 10 threads is pinned; after Reset the load runs again
at 10 threads and, a few seconds in, the pool grows to 58 (the marker): the live lines
leave the pinned ones where the pool stops being the limit.
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
    window.resize(1920, 1080)
    window.show()
    try:
        names = [preset.name for preset in window.presets]
        window.controls.preset.setCurrentIndex(names.index("Thread-pool exhaustion"))
        window.start()
        await asyncio.sleep(seconds)  # the first run's own length
        window.pin_run()
        window.reset()
        await asyncio.sleep(seconds / 4)
        window.controls.threads.setValue(58)
        await asyncio.sleep(seconds * 3 / 4)
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
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "compare-pinned.png"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
        runner.run(take(out, seconds))


if __name__ == "__main__":
    main()
