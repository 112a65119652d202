"""The window's side of a sweep: started and cancelled from the panel, its progress on
the panel's bar, and the load that ran before restored after. The session runs it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loopscope.embedded_server import SCENARIOS
from loopscope.loadgen import SweepProgress

from .shell import PartContext, WindowPart

# The sweep's levels and step length: 7 levels × 5 s, each long enough for two clean
# 1 s windows after a second of settling.
SWEEP_USERS = (1, 5, 10, 25, 50, 100, 200)
SWEEP_STEP_S = 5.0


class SweepDriver(WindowPart):
    """`show_running` shows the panels running or not; `closing` says the window is
    shutting down (the load that ran before is then not resumed)."""

    def __init__(
        self,
        context: PartContext,
        *,
        show_running: Callable[[bool], None],
        closing: Callable[[], bool],
    ) -> None:
        super().__init__(context)
        self._show_running = show_running
        self._closing = closing
        self._task: asyncio.Task[Any] | None = None

    @property
    def task(self) -> asyncio.Task[Any] | None:
        """The last sweep started (None before the first)."""
        return self._task

    def cancel(self) -> bool:
        """Cancel the sweep running; False when none was."""
        if self._task is None or self._task.done():
            return False
        self._task.cancel()
        return True

    def toggle(self) -> None:
        """Start a sweep over SWEEP_USERS, or cancel the one running."""
        if self.cancel():
            return
        say = self._shell.show_message
        if self._session.mode != "closed":
            say("A sweep varies users: switch to the closed loop first.")
            return
        if not self._session.scenarios:
            # The sweep engine loads the demo server; a route of yours has `loopscope sweep
            # --app` for that.
            say("The sweep runs the demo endpoints: tick at least one.")
            return
        self._task = self._shell.spawn(self.sweep())

    async def sweep(
        self, levels: tuple[int, ...] = SWEEP_USERS, step_s: float = SWEEP_STEP_S
    ) -> None:
        """Sweep the users through `levels`, `step_s` each (the session runs loadgen's sweep
        engine and adds the curve points); the load that ran before resumes after, with the
        users it had (not the sweep's last level: 200 users left running would be a surprise)."""
        session, controls, shell = self._session, self._controls, self._shell
        was_running = session.running
        users_before = {name: session.users(name) for name in SCENARIOS}
        slider_before = controls.users_value()

        def show(progress: SweepProgress) -> None:
            controls.sweep_progress.setValue(round(100 * progress.done / progress.total))
            if progress.runs:
                users = levels[progress.done]
                controls.sweep_progress.setFormat(f"{users} users: %p%")
                controls.show_users(users)
            # The step's point is on the curve now, not at the next text tick.
            shell.refresh()

        # A sweep fills the response curve: show it.
        shell.charts.show_timeline(False)
        controls.sweep.setText("Cancel sweep")
        controls.sweep_progress.setValue(0)
        controls.sweep_progress.show()
        self._show_running(True)
        shell.show_message("")
        try:
            await session.sweep(levels, step_s=step_s, progress=show)
            shell.show_message("Sweep done: the response curve has a point per level.")
        except asyncio.CancelledError:
            shell.show_message("Sweep cancelled.")
            raise
        finally:
            controls.sweep.setText("Sweep users")
            controls.sweep_progress.hide()
            session.restore_users(users_before)
            controls.show_users(slider_before)
            if was_running and not self._closing():
                session.start()
            self._show_running(session.running)
            shell.refresh()
