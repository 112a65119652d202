"""PySide6 reads the source of every module imported after it; linecache must not keep it."""

from __future__ import annotations

import importlib
import linecache
import sys
from pathlib import Path

import pytest

from loopscope.desktop_app.source_cache import _uses_pyside, stop_pyside_source_caching


def test_modules_imported_after_pyside_leave_no_source_in_linecache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stop_pyside_source_caching()
    module_file = tmp_path / "loopscope_probe_module.py"
    module_file.write_text("VALUE = 1\n" + "# filler line\n" * 2000)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("loopscope_probe_module")
        assert module.VALUE == 1
        assert str(module_file) not in linecache.cache
    finally:
        sys.modules.pop("loopscope_probe_module", None)


def test_the_check_still_finds_a_module_that_uses_pyside(tmp_path: Path) -> None:
    uses = tmp_path / "uses.py"
    uses.write_text("from PySide6.QtCore import QObject\n")
    plain = tmp_path / "plain.py"
    plain.write_text("import os\n")
    assert _uses_pyside(type(sys)("uses", None)) is False  # no file: no source
    module = type(sys)("uses")
    module.__file__ = str(uses)
    assert _uses_pyside(module)
    module.__file__ = str(plain)
    assert not _uses_pyside(module)
