"""What build.spec does to PyInstaller's list of binaries, as plain functions.

Entries are PyInstaller TOC tuples: (destination in the bundle, source path, typecode).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

import elf

Entry = tuple[str, str, str]


def linked_closure(
    binaries: list[Entry], is_root: Callable[[Entry], bool]
) -> tuple[list[Entry], list[Entry]]:
    """(kept, dropped): the roots and every collected library they link, directly or not.

    PyInstaller collects the libraries that *anything* it saw links, including plugins that
    the spec then leaves out; what only those plugins linked would stay behind, and what that
    is depends on what the build host has installed (with GTK 3 installed, the GTK platform
    theme alone drags in GTK, GDK, ATK, cairo, pango, epoxy, ...). Keeping the closure of what
    we keep makes the bundle the same on any host. Libraries are matched by file name, which
    is the soname a binary asks for (that is how PyInstaller names what it collects).
    """
    by_name: dict[str, list[Entry]] = {}
    for entry in binaries:
        by_name.setdefault(PurePosixPath(entry[0]).name, []).append(entry)
    kept: set[str] = set()
    todo = [entry for entry in binaries if is_root(entry)]
    while todo:
        dest, src, _ = todo.pop()
        if dest in kept:
            continue
        kept.add(dest)
        if elf.is_elf(Path(src)):
            for soname in elf.read(Path(src)).needed:
                todo.extend(by_name.get(soname, ()))
    return (
        [entry for entry in binaries if entry[0] in kept],
        [entry for entry in binaries if entry[0] not in kept],
    )


def without_dangling_symlinks(datas: list[Entry], collected: Iterable[str]) -> list[Entry]:
    """PyInstaller lists its top-level symlinks (libQt6Core.so.6 -> PySide6/Qt/lib/...) among
    the data files; drop those whose target the spec has left out."""
    present = set(collected) | {dest for dest, _, kind in datas if kind != "SYMLINK"}
    out = []
    for dest, src, kind in datas:
        target = os.path.normpath(os.path.join(os.path.dirname(dest), src))
        if kind == "SYMLINK" and target not in present:
            continue
        out.append((dest, src, kind))
    return out


def module_name(dest: str) -> str:
    """'aiohttp/_http_parser.cpython-311-x86_64-linux-gnu.so' -> 'aiohttp._http_parser';
    'python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so' -> '_ssl'."""
    path = PurePosixPath(dest)
    parts = [] if "lib-dynload" in path.parts else list(path.parent.parts)
    return ".".join([*parts, path.name.split(".")[0]])


def strip_debug(src: str, out: Path) -> None:
    """`strip --strip-debug`: removes .debug_* sections only; code, data, symbol tables and
    the dynamic section stay byte for byte."""
    strip = shutil.which("strip")
    if strip is None:
        raise FileNotFoundError("strip (binutils)")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([strip, "--strip-debug", "-o", str(out), src], check=True)


_LOAD_EACH = r"""
import importlib.util, sys
for line in sys.stdin.read().splitlines():
    name, path = line.split("\t")
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as exc:
        print(f"{path}\t{type(exc).__name__}: {exc}".replace("\n", " "))
"""


def failing_to_load(modules: list[tuple[str, Path]]) -> dict[Path, str]:
    """{path: error} for the extension modules that this interpreter cannot load from these
    exact files (the build's interpreter is the one the bundle embeds). One child process
    loads them all; if a file kills it (a crash, not an exception), each is tried alone."""
    failures, died = _load_in_child(modules)
    if not died:
        return failures
    alone: dict[Path, str] = {}
    for module in modules:
        failures, died = _load_in_child([module])
        alone.update(failures or ({module[1]: died} if died else {}))
    return alone


def _load_in_child(modules: list[tuple[str, Path]]) -> tuple[dict[Path, str], str]:
    result = subprocess.run(
        [sys.executable, "-c", _LOAD_EACH],
        input="\n".join(f"{name}\t{path}" for name, path in modules),
        capture_output=True,
        text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        check=False,
    )
    lines = [line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line]
    failures = {Path(path): error for path, error in lines}
    died = f"the loading process exited {result.returncode}" if result.returncode else ""
    return failures, died
