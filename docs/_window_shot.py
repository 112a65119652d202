"""What the picture scripts in docs/ share: a real window on a real session (offscreen),
saved as a PNG, and closed the way a user closes it, on a qasync loop as the app runs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication

from loopscope.desktop_app.event_loop import LabEventLoop
from loopscope.desktop_app.session import LabSession
from loopscope.desktop_app.window import MainWindow

ROOT = Path(__file__).resolve().parents[1]


@asynccontextmanager
async def open_window(size: tuple[int, int] | None = None) -> AsyncIterator[MainWindow]:
    """A window on its own session (embedded server on port 0), shown; stopped and closed
    after, whatever happened."""
    session = LabSession()
    await session.open()
    window = MainWindow(session)
    if size is not None:
        window.resize(*size)
    window.show()
    try:
        yield window
    finally:
        await window.stop()
        closed = asyncio.Event()
        window.closed.connect(closed.set)
        window.close()
        await closed.wait()


def choose_lesson(window: MainWindow, name: str) -> None:
    names = [preset.name for preset in window.presets]
    window.controls.preset.setCurrentIndex(names.index(name))


def save(window: MainWindow, out: Path, said: str = "") -> None:
    """The window as it is now, as a PNG at `out` (SystemExit when it cannot be written)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise SystemExit(f"cannot write {out}")
    print(f"wrote {out}{said}")


def run(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` on a qasync loop driven by the (one) QApplication."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    with asyncio.Runner(loop_factory=LabEventLoop) as runner:
        runner.run(work)
