"""The window's side of where the demo server runs (this window's loop, or processes of
its own): moves asked by a lesson, the Server choice or the command line, one at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .presets import Preset
from .session import Placement
from .shell import PartContext, WindowPart


class PlacementDriver(WindowPart):
    """`forced`: the command line's placement (`gui --server-process --workers N`); it
    holds over the lessons' own until another lesson is chosen or the server is moved
    here. `show_placement` is called with the server's place after each move."""

    def __init__(
        self,
        context: PartContext,
        *,
        forced: Placement | None,
        show_placement: Callable[[Placement], None],
    ) -> None:
        super().__init__(context)
        self._forced = forced
        self._show_placement = show_placement
        self._move_task: asyncio.Task[Any] | None = None
        # Where the last move asked the server to go (moves queue: `_move`).
        self._wanted = context.session.placement

    def release(self) -> None:
        """The user chose: the command line's placement holds no longer."""
        self._forced = None

    def follow_lesson(self, preset: Preset) -> None:
        """Show, and move to, the lesson's placement (the command line's while it holds)."""
        placement = self._forced or Placement(process=preset.server_process, workers=preset.workers)
        self._controls.show_placement(placement.process, placement.workers)
        if placement != self._wanted:
            self.move(placement)

    def choose(self, process: bool, workers: int) -> None:
        """The Server choice of the panel."""
        self.release()
        self.move(Placement(process=process, workers=workers))

    def move(self, placement: Placement) -> None:
        """Move the demo server (stopped, then started where asked) in a task; `settled()`
        awaits it. Refused while the load runs or while an app of yours is loaded (it is
        served on this window's loop)."""
        session = self._session
        if session.running or session.own is not None:
            why = "Stop the load" if session.running else "Your app runs on this loop"
            self._shell.show_message(f"{why}: the server stays in {session.placement.label}.")
            self._controls.show_placement(session.placement.process, session.placement.workers)
            return
        previous = self._move_task
        self._wanted = placement
        self._move_task = self._shell.spawn(self._move(placement, previous))

    async def _move(self, placement: Placement, previous: asyncio.Task[Any] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])  # one move at a time, in the order asked
        say = self._shell.show_message
        say(f"Moving the server to {placement.label}…")
        try:
            await self._session.set_placement(placement)
        finally:
            now = self._session.placement
            if self._move_task is asyncio.current_task():  # no later move queued
                self._wanted = now
            self._controls.show_placement(now.process, now.workers)
            self._show_placement(now)
        pids = self._session.worker_pids()
        where = f" (pids {', '.join(map(str, pids))})" if pids else ""
        say(f"Server: {now.label}{where}.")

    async def settled(self) -> None:
        """Until the server has finished moving (a lesson or the Server choice moved it)."""
        while self._move_task is not None and not self._move_task.done():
            await asyncio.wait([self._move_task])
