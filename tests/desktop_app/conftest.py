from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtWidgets import QApplication

from loopscope.desktop_app.event_loop import LabEventLoop
from tests.conftest import wait_until

T = TypeVar("T")
Runner = Callable[[Coroutine[Any, Any, T]], T]


@pytest.fixture
def run_on_qt_loop(qapp: QApplication) -> Iterator[Runner[Any]]:
    """Runs a coroutine on a qasync loop driven by the test's QApplication, as the app does."""
    from loopscope.desktop_app.gc_guard import MainThreadGarbageCollector

    qapp.setQuitOnLastWindowClosed(False)
    # As the app does: Qt objects are only ever collected on this (the GUI) thread.
    collector = MainThreadGarbageCollector()
    collector.start()
    loop = LabEventLoop(qapp)
    asyncio.set_event_loop(loop)

    def run(coro: Coroutine[Any, Any, T]) -> T:
        result: T = loop.run_until_complete(coro)
        return result

    try:
        yield run
    finally:
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        loop.close()
        asyncio.set_event_loop(None)
        collector.stop()
        assert pending == [], f"tasks left behind: {pending}"


@pytest.fixture
def own_settings_folder(tmp_path: Path) -> Iterator[Path]:
    """The settings file the app itself opens (`QSettings("LoopScope", "LoopScope")`, in
    `run_window`) lives in a folder of this test's: never the user's own file."""
    from PySide6.QtCore import QSettings, QStandardPaths

    # Where Qt keeps a user's settings otherwise (Linux: $XDG_CONFIG_HOME, ~/.config).
    usual = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    folder = tmp_path / "config"
    scope = (QSettings.Format.NativeFormat, QSettings.Scope.UserScope)
    QSettings.setPath(*scope, str(folder))
    try:
        yield folder
    finally:
        QSettings.setPath(*scope, usual)


async def open_window(qtbot: Any, settings: Any = None, **window_options: Any) -> Any:
    """A real window on a real session (embedded server on port 0), shown offscreen.
    window_options go to MainWindow (presets=, styles=, notices=)."""
    from loopscope.desktop_app.session import LabSession
    from loopscope.desktop_app.window import MainWindow

    session = LabSession()
    await session.open()
    window = MainWindow(session, settings=settings, **window_options)
    qtbot.addWidget(window)
    window.show()
    return window


async def close_window(window: Any) -> None:
    """Close the way a user does and wait for the graceful shutdown to finish."""
    closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_closed() -> None:
        if not closed.done():
            closed.set_result(None)

    window.closed.connect(on_closed)
    window.close()
    await asyncio.wait_for(closed, 10)
    assert not window.isVisible()


async def running_healthy(qtbot: Any) -> Any:
    """The window running 10 users, from a healthy verdict with the banner off: start-up
    (the first paints, the users' ramp) is not what these tests are about."""
    from loopscope.desktop_app.controls import position_from_users

    window = await open_window(qtbot)
    session = window.session
    window.controls.users.setValue(position_from_users(10))
    window.toggle_running()
    await wait_until(
        lambda: session.health is not None and not session.health.generator_limited,
        timeout_s=30,
        what="a healthy verdict",
    )
    return window
