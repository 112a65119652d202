"""ruff and strict mypy on everything, and the package's import rules: part of the test command."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Folder -> the subpackage it installs as (pyproject.toml's package-dir).
SUBPACKAGES = {
    "embedded_server": "loopscope.embedded_server",
    "loadgen": "loopscope.loadgen",
    "desktop_app": "loopscope.desktop_app",
    "resources": "loopscope.resources",
    "loopscope": "loopscope",
}
# What each part may import of LoopScope: arrows point one way, entry -> app -> load -> server.
ALLOWED = {
    "loopscope.embedded_server": {"loopscope.embedded_server"},
    "loopscope.resources": {"loopscope.resources"},
    "loopscope.loadgen": {"loopscope.loadgen", "loopscope.embedded_server"},
    "loopscope.desktop_app": {
        "loopscope.desktop_app",
        "loopscope.loadgen",
        "loopscope.embedded_server",
        "loopscope.resources",
    },
}
QT_MODULES = ("PySide6", "pyqtgraph", "qasync", "shiboken6")


def test_ruff_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format_is_kept() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_passes_on_everything() -> None:
    done = subprocess.run(
        [sys.executable, "packaging/typecheck.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in a module of `package`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = [package, *path.relative_to(path.parents[0]).with_suffix("").parts]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[: len(here) - node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # `from pkg import _private` reaches a private name too.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def _part_of(module: str) -> str | None:
    for part in sorted(ALLOWED, key=len, reverse=True):
        if module == part or module.startswith(part + "."):
            return part
    if module == "loopscope" or module.startswith("loopscope."):
        return "loopscope"
    return None


@pytest.mark.parametrize("folder", ["embedded_server", "loadgen", "desktop_app", "resources"])
def test_imports_point_one_way(folder: str) -> None:
    package = SUBPACKAGES[folder]
    problems: list[str] = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, module in _imports(path, package):
            where = f"{path.relative_to(ROOT)}:{line}"
            root = module.split(".")[0]
            if root in SUBPACKAGES and root != "loopscope":
                problems.append(f"{where}: imports the folder name {module!r}, not loopscope.*")
            part = _part_of(module)
            if part is None:
                if folder in ("embedded_server", "loadgen") and root in QT_MODULES:
                    problems.append(f"{where}: the Qt-free core imports {module}")
                continue
            if part not in ALLOWED[package]:
                problems.append(f"{where}: {package} may not import {module}")
            elif part != package and any(
                name.startswith("_") and not name.startswith("__") for name in module.split(".")[2:]
            ):
                problems.append(f"{where}: reaches into another package's private {module}")
    assert problems == []


def test_no_code_imports_a_folder_name() -> None:
    """Tests, bench and packaging use `loopscope.*`: the folder names are not installed."""
    problems: list[str] = []
    for folder in ("tests", "bench", "packaging", "loopscope"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, module in _imports(path, folder):
                if module.split(".")[0] in SUBPACKAGES and module.split(".")[0] != "loopscope":
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert problems == []
