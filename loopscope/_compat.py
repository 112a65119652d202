"""The one name of another library's internals that the commands read.

The start-up watchdog (`_interrupt.py`) must tell whether the server thread is in the app's
lifespan right now (start-up or shutdown), where a held loop is the user's code, not
LoopScope's. uvicorn runs the lifespan in `uvicorn.lifespan.on.LifespanOn.main`, a module
uvicorn does not document; where it moved, the watchdog never ends a run on a guess.
"""

from __future__ import annotations

from types import CodeType


def uvicorn_lifespan_code() -> CodeType | None:
    """The code object of the coroutine uvicorn runs the lifespan in; None in a uvicorn
    that moved it."""
    try:
        from uvicorn.lifespan.on import LifespanOn
    except ImportError:
        return None
    code = getattr(getattr(LifespanOn, "main", None), "__code__", None)
    return code if isinstance(code, CodeType) else None
