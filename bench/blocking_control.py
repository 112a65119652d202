"""How soon Stop and closing the window take effect during "The blocking mistake".

Opens the real window offscreen on the lesson's preset, sets the users and delay sliders,
starts the load, and 3 s later (every user has a request queued by then) a user
"clicks" from outside the loop: a plain thread notes the time and posts the click (Stop,
or the window's close) to the GUI thread, as the window system would while the loop is
frozen. Measured from that moment until the window shows the stopped state and the server
has no `blocking` request in flight (Stop), or until the window has closed and the session
(load, server) is shut down (close). The requirement (issue 11; docs/architecture.md, "The
event-loop rules"): both within max(delay, 1 s) + 0.5 s.

Not part of the tests; merges its rows under --label (e.g. before/after) into
bench/results/blocking_control.json. About a minute for the default cases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _support import RESULTS, machine_info, require_this_checkout, write_json

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

LESSON = "The blocking mistake"
# The user clicks this long after Start (wall time, whatever the loop is doing): the users
# have ramped in (over at most 2 s) and every one of them has a request queued.
CLICK_AFTER_S = 3.0
# "Stopped" must last: held this long with the loop never frozen longer than MAX_GAP_S.
HOLD_S = 2.5
MAX_GAP_S = 0.3


def bound_s(delay_ms: float) -> float:
    return max(delay_ms / 1000, 1.0) + 0.5


class UserClick:
    """Runs `action` on the GUI thread as a user's click arriving `after_s` from now would:
    queued by the window system, handled when Qt next gets to its events (a plain thread
    posts it, so a frozen loop cannot delay the moment of the click itself). `at` is that
    moment (perf_counter), None until it happened."""

    def __init__(self, after_s: float, action: Callable[[], object]) -> None:
        from PySide6.QtCore import QObject, Qt, Signal

        class Poster(QObject):
            fire = Signal()

        self.at: float | None = None
        self._poster = Poster()  # lives on the GUI thread: the queued call runs there
        self._poster.fire.connect(action, Qt.ConnectionType.QueuedConnection)
        self._after_s = after_s
        threading.Thread(target=self._user, daemon=True).start()

    def _user(self) -> None:
        time.sleep(self._after_s)
        self.at = time.perf_counter()
        self._poster.fire.emit()


async def until(condition: Callable[[], bool], timeout_s: float) -> float:
    """Polls `condition` on the loop; returns the perf_counter time it first held."""
    deadline = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.01)
    return time.perf_counter()


async def until_steady(condition: Callable[[], bool], timeout_s: float) -> float:
    """When `condition` began to hold for good: it held from then on for HOLD_S with the
    loop never frozen for more than MAX_GAP_S (a window that shows "Start" and freezes
    again right after has not stopped yet)."""
    deadline = time.perf_counter() + timeout_s
    since: float | None = None
    last = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError("condition not reached")
        if now - last > MAX_GAP_S or not condition():
            since = None
        if since is None and condition():
            since = now
        if since is not None and now - since >= HOLD_S:
            return since
        last = now
        await asyncio.sleep(0.01)


async def measure(users: int, delay_ms: int) -> dict[str, object]:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from loopscope.desktop_app.controls import position_from_users
    from loopscope.desktop_app.session import LabSession
    from loopscope.desktop_app.window import MainWindow

    session = LabSession()
    await session.open()
    window = MainWindow(session)
    window.resize(1920, 1080)
    window.show()
    names = [p.name for p in window.presets]
    window.controls.preset.setCurrentIndex(names.index(LESSON))
    window.controls.users.setValue(position_from_users(users))
    window.controls.delay.setValue(delay_ms // 10)
    assert session.users("blocking") == users and session.delay_ms == delay_ms
    probes = session.server.probes

    button = window.controls.start_stop

    def press() -> None:
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)

    # Stop.
    press()
    # The start itself (senders, clients, a repaint) is not the lesson's freeze.
    lag_since = time.perf_counter() + 1.0
    click = UserClick(CLICK_AFTER_S, press)

    def stopped() -> bool:
        return (
            click.at is not None
            and button.text() == "Start"
            and not session.running
            and probes.in_flight()["blocking"] == 0
        )

    done = await until_steady(stopped, 120)
    assert click.at is not None
    stop_s = done - click.at
    # The longest freeze from 1 s after the start until now: the run (the click's own
    # freeze included) and the calm that followed the stop.
    running_lag_s = max(probes.loop_lag.lags_since(lag_since), default=0.0)

    # Close.
    press()
    closed: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def on_closed() -> None:
        if not closed.done():
            closed.set_result(time.perf_counter())

    window.closed.connect(on_closed)
    click = UserClick(CLICK_AFTER_S, window.close)
    closed_at = await asyncio.wait_for(closed, 120)
    assert click.at is not None
    close_s = closed_at - click.at
    return {
        "users": users,
        "delay_ms": delay_ms,
        "bound_s": bound_s(delay_ms),
        "stop_s": round(stop_s, 2),
        "close_s": round(close_s, 2),
        # The lesson: while it ran, how long the loop froze at most (one request's delay,
        # not users x delay).
        "loop_lag_max_while_running_ms": round(running_lag_s * 1000),
        "within_bound": stop_s <= bound_s(delay_ms) and close_s <= bound_s(delay_ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cases", default="5x100,20x100,20x2000", help="users x delay_ms, comma-separated"
    )
    parser.add_argument("--label", default="after", help="key the rows are stored under")
    parser.add_argument("--out", type=Path, default=RESULTS / "blocking_control.json")
    args = parser.parse_args()
    require_this_checkout()

    from PySide6.QtWidgets import QApplication

    from loopscope.desktop_app.event_loop import LabEventLoop
    from loopscope.desktop_app.gc_guard import MainThreadGarbageCollector

    app = QApplication([])
    app.setQuitOnLastWindowClosed(False)
    collector = MainThreadGarbageCollector()
    collector.start()
    rows = []
    for case in args.cases.split(","):
        users, delay_ms = (int(part) for part in case.split("x"))
        with asyncio.Runner(loop_factory=LabEventLoop) as runner:
            row = runner.run(measure(users, delay_ms))
        rows.append(row)
        print(
            f"{users:>3} users x {delay_ms:>4} ms: Stop {row['stop_s']} s, close "
            f"{row['close_s']} s (bound {row['bound_s']} s); loop frozen at most "
            f"{row['loop_lag_max_while_running_ms']} ms at a time while running",
            flush=True,
        )
    collector.stop()
    previous: dict[str, object] = {}
    if args.out.exists():
        previous = json.loads(args.out.read_text())
    runs = previous.get("runs") if isinstance(previous.get("runs"), dict) else {}
    assert isinstance(runs, dict)
    runs[args.label] = rows
    write_json(args.out, {"benchmark": "blocking_control", **machine_info(), "runs": runs})
    print(f"wrote {args.out} ({args.label})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
