"""What the window's parts may ask of the window that wires them (`MainWindow`).

Each part gets this and the widgets it works on, not the window itself: a part can be
built and tested with a stand-in, and what it reaches is written down here."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .charts import Charts

if TYPE_CHECKING:
    from .controls import ControlPanel
    from .session import LabSession


class Shell(Protocol):
    @property
    def charts(self) -> Charts:
        """The charts shown now (a change of theme or presentation mode replaces them)."""
        ...

    def show_message(self, text: str) -> None:
        """One line in the control panel's status, replacing the last."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine on the shared loop, owned by the window, errors shown."""
        ...

    def refresh(self) -> None:
        """Paint everything now, not at the next timer ticks."""
        ...

    def reset(self) -> None:
        """Clear the run's charts, curve, markers and figures (the load keeps its settings)."""
        ...

    def show_headline(self) -> None:
        """Show the headline again: it names the lesson, the server's place and your app."""
        ...


@dataclass(frozen=True, slots=True)
class PartContext:
    """What every part is handed: the session it drives, the control panel it reads and
    sets, and the shell it asks for the rest (built once by the window)."""

    session: LabSession
    controls: ControlPanel
    shell: Shell


class WindowPart:
    """A part of the window: the session it drives, the control panel it reads and sets,
    and the shell it asks for the rest. Parts add what else they need."""

    def __init__(self, context: PartContext) -> None:
        self._session = context.session
        self._controls = context.controls
        self._shell = context.shell
