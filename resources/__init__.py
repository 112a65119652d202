"""Icons, presets and style sheets, found the same way from a checkout, an installed
wheel and the PyInstaller bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def resource_root() -> Path:
    """The folder holding the resources.

    In a PyInstaller bundle the data files live under `sys._MEIPASS/loopscope/resources`
    (build.spec puts them there); everywhere else they sit beside this module, in a checkout as in a
    wheel (they are package data).
    """
    bundle = getattr(sys, "_MEIPASS", None)
    if getattr(sys, "frozen", False) and bundle:
        return Path(bundle) / "loopscope" / "resources"
    return Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Path of one resource, e.g. resource_path("icons", "loopscope.png"); raises
    FileNotFoundError with the path it looked at when it is missing."""
    path = resource_root().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"LoopScope resource missing: {path}")
    return path
