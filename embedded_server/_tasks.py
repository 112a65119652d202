"""Stopping a background task: what every owner of one does at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel the background `task` its owner started (None: none was) and wait until it
    has ended, so that nothing of it outlives the owner's stop; its cancellation is the
    expected end and is not raised."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
