"""Keep PySide6 from caching the source of every module imported after it.

PySide6 checks each module imported after it for a `from __feature__ import ...` by reading
its source with `inspect.getsource`, and `linecache` then keeps every one of those files for
the life of the process: ~700 files, 30 MiB of strings in this app (pyqtgraph, numpy,
FastAPI, ...), never read again. The check is kept, reading the file once, uncached.
"""

from __future__ import annotations

from types import ModuleType


def _uses_pyside(module: ModuleType) -> bool:
    """PySide6's check (does the source mention "PySide6"?) without linecache. A module
    without a readable .py source does not, as in PySide6's own check."""
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py"):
        return False
    try:
        with open(path, "rb") as source:
            return b"PySide6" in source.read()
    except OSError:
        return False


def stop_pyside_source_caching() -> bool:
    """Replace the check once PySide6 is imported; False (nothing changed) when this PySide6
    has no such check (shiboken's private name: _compat.py, whose check() names it)."""
    import PySide6  # noqa: F401  the import installs the check

    from ._compat import replace_pyside_source_check

    return replace_pyside_source_check(_uses_pyside)
