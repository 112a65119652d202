"""Every private name of another library that the window's package uses, checked at start-up.

- qasync (written for 0.28; pyproject.toml bounds it): `LabEventLoop` (event_loop.py) keeps
  qasync's Qt integration and replaces how it schedules callbacks. qasync's own scheduling
  goes through its private `_add_callback`; threads reach the loop through a signal that
  qasync keeps under the name-mangled `_QEventLoop__call_soon_signal`.
- asyncio (CPython 3.11; 3.12 and 3.13 keep these): the loop runs asyncio's handles as
  `BaseEventLoop` does, with `Handle._run`; a timer handle's `_scheduled` flag makes
  `TimerHandle.cancel` tell its loop, through `_timer_handle_cancelled`, so that cancelled
  timers are purged from the heap.
- shiboken (PySide6's, written for 6.11): `shibokensupport.feature._mod_uses_pyside` is the
  check that reads every imported module's source (source_cache.py replaces it).

`check()` runs where the window starts (app.py's `run_gui`): a release that renamed any of
these stops the window there, in one line naming the library and its version, instead of
misbehaving later.
"""

from __future__ import annotations

import asyncio
import functools
import platform
import sys
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import Any

import qasync

from loopscope.embedded_server import ServerStartError

# qasync's QEventLoop keeps the signal that `call_soon_threadsafe` emits as
# `self.__call_soon_signal`; Python mangles that to this name.
_CALL_SOON_SIGNAL = "_QEventLoop__call_soon_signal"
# shiboken's module that holds the check of each imported module's source.
_FEATURE_MODULE = "shibokensupport.feature"
_USES_PYSIDE = "_mod_uses_pyside"
# What pyproject.toml allows, named in the one-line refusal.
_ALLOWED = {"qasync": "qasync>=0.27,<0.29", "PySide6": "PySide6-Essentials>=6.8,<6.13"}


class IncompatibleLibraryError(ServerStartError):
    """A library lacks a private name the window relies on. A failure to start: the command
    line reports it in one line, as any other."""


def _version(distribution: str, module: ModuleType | None = None) -> str:
    with_version = getattr(module, "__version__", None)
    if isinstance(with_version, str):
        return with_version
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:  # a frozen bundle may carry no metadata
        return "(unknown version)"


# -- asyncio's handles -------------------------------------------------------------------


def run_handle(handle: asyncio.Handle) -> None:
    """Run a handle's callback as asyncio's loop does (exceptions go to the loop's handler)."""
    handle._run()


def set_scheduled(handle: asyncio.TimerHandle, scheduled: bool) -> None:
    """Mark a timer handle as in (or out of) a loop's heap: while in it, cancelling the
    handle calls the loop's `_lab_timer_cancelled` (through `_timer_handle_cancelled`)."""
    handle._scheduled = scheduled  # type: ignore[attr-defined]


def is_scheduled(handle: asyncio.TimerHandle) -> bool:
    return bool(handle._scheduled)  # type: ignore[attr-defined]


# -- qasync's loop -----------------------------------------------------------------------


class HookedQEventLoop(qasync.QEventLoop):  # type: ignore[misc]
    """qasync's QEventLoop with its private hooks (and asyncio's) handed to LoopScope's own
    methods, which a subclass defines: `_lab_add_callback`, `_lab_timer_cancelled`,
    `_lab_call_soon_from_thread`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # qasync's slot for this signal calls `call_soon`, which raises once the loop has
        # closed; the subclass's slot decides instead (see LabEventLoop).
        signal = getattr(self, _CALL_SOON_SIGNAL)
        signal.disconnect()
        signal.connect(self._lab_call_soon_from_thread)

    def _lab_call_soon_from_thread(
        self, callback: Callable[..., object], args: tuple[Any, ...]
    ) -> None:
        raise NotImplementedError

    def _lab_add_callback(self, handle: asyncio.Handle, delay: float) -> asyncio.Handle:
        raise NotImplementedError

    def _lab_timer_cancelled(self, handle: asyncio.TimerHandle) -> None:
        raise NotImplementedError

    def _add_callback(self, handle: asyncio.Handle, delay: float = 0) -> asyncio.Handle:
        # qasync's: where its own scheduling hands a handle to its timers.
        return self._lab_add_callback(handle, delay)

    def _timer_handle_cancelled(self, handle: asyncio.TimerHandle) -> None:
        # asyncio's: TimerHandle.cancel calls it on the loop while the handle is scheduled.
        self._lab_timer_cancelled(handle)


# -- shiboken ----------------------------------------------------------------------------


def replace_pyside_source_check(check: Callable[[ModuleType], bool]) -> bool:
    """Put `check` in place of shiboken's check of each imported module's source (PySide6
    must be imported); False, nothing changed, where this shiboken has no such check."""
    feature = sys.modules.get(_FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, _USES_PYSIDE, None)):
        return False
    setattr(feature, _USES_PYSIDE, check)
    return True


# -- the check ---------------------------------------------------------------------------


def _names(code_owner: object) -> tuple[str, ...]:
    code = getattr(code_owner, "__code__", None)
    return tuple(getattr(code, "co_names", ()))


def problems() -> list[str]:
    """One phrase per library that lacks what this module relies on (empty: all there)."""
    found: list[str] = []
    loop = qasync.QEventLoop
    # qasync's own (asyncio's BaseEventLoop has an `_add_callback` of its own), and the one
    # its scheduling goes through.
    hooked = any(
        "_add_callback" in vars(owner) and owner.__module__.startswith("qasync")
        for owner in loop.__mro__
    )
    if (
        not hooked
        or "_add_callback" not in _names(loop.call_later)
        or _CALL_SOON_SIGNAL not in _names(loop.__init__)
    ):
        found.append(
            f"qasync {_version('qasync', qasync)} lacks QEventLoop._add_callback or its "
            f"call_soon signal (install {_ALLOWED['qasync']})"
        )
    timer_slots = getattr(asyncio.TimerHandle, "__slots__", ())
    cancel_names = _names(asyncio.TimerHandle.cancel)
    if (
        not callable(getattr(asyncio.Handle, "_run", None))
        or "_scheduled" not in timer_slots
        or "_timer_handle_cancelled" not in cancel_names
    ):
        found.append(
            f"Python {platform.python_version()}'s asyncio lacks Handle._run, "
            "TimerHandle._scheduled or _timer_handle_cancelled (use Python 3.11 to 3.13)"
        )
    import PySide6

    feature = sys.modules.get(_FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, _USES_PYSIDE, None)):
        found.append(
            f"PySide6 {_version('PySide6-Essentials', PySide6)}'s shiboken lacks "
            f"{_FEATURE_MODULE}.{_USES_PYSIDE} (install {_ALLOWED['PySide6']})"
        )
    return found


@functools.cache
def check() -> None:
    """Raise IncompatibleLibraryError, one line, unless every private name above is there."""
    found = problems()
    if found:
        raise IncompatibleLibraryError(
            f"the window cannot start: {'; '.join(found)}, which LoopScope relies on"
        )
