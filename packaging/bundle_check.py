"""Checks on a built one-folder bundle that running it cannot show: `python
packaging/bundle_check.py dist/loopscope` prints one FAIL line per problem and exits 1.

- No GTK: the bundle must not depend on whether the build host has GTK installed (build.spec
  leaves the GTK platform theme and everything only it links out).
- Complete: every library that a bundled binary links is in the bundle, or is one PyInstaller
  leaves to the target system on purpose (libc, libGL, libxcb, ...). A library the build host
  lacked is otherwise missing silently, and the bundle fails on machines that lack it too
  (the xcb platform plugin's libxcb-icccm4 and libxcb-keysyms1 are the usual ones).
- No symlink points at a file that was left out.
"""

from __future__ import annotations

import sys
from pathlib import Path

import elf
from PyInstaller.depend.dylib import include_library  # type: ignore[import-untyped]

GTK_PREFIXES = ("libgtk", "libgdk")


def _is_loader(soname: str) -> bool:
    """glibc's dynamic loader (ld-linux-x86-64.so.2, ...) is always the system's."""
    return soname.startswith("ld-linux")


def problems(bundle: Path) -> list[str]:
    files = [p for p in sorted(bundle.rglob("*")) if p.is_file() or p.is_symlink()]
    found: list[str] = []

    gtk = sorted({p.name for p in files if p.name.startswith(GTK_PREFIXES)})
    if gtk:
        found.append(
            f"GTK in the bundle: {', '.join(gtk)} (build.spec must leave the GTK platform "
            "theme and the libraries only it links out)"
        )

    dangling = [p for p in files if p.is_symlink() and not p.exists()]
    if dangling:
        names = ", ".join(str(p.relative_to(bundle)) for p in dangling)
        found.append(f"symlinks to files left out of the bundle: {names}")

    present = {p.name for p in files}
    missing: dict[str, list[str]] = {}
    for path in files:
        if path.is_symlink() or not elf.is_elf(path):
            continue
        for soname in elf.read(path).needed:
            if soname not in present and include_library(soname) and not _is_loader(soname):
                missing.setdefault(soname, []).append(str(path.relative_to(bundle)))
    for soname, users in sorted(missing.items()):
        found.append(
            f"{soname} is linked by {users[0]}"
            + (f" and {len(users) - 1} more" if len(users) > 1 else "")
            + " but is not in the bundle: install it on the build host"
            " (README, Troubleshooting) and build again"
        )
    return found


def main(argv: list[str]) -> int:
    bundle = Path(argv[0]) if argv else Path("dist/loopscope")
    if not bundle.is_dir():
        print(f"FAIL: no bundle at {bundle}", file=sys.stderr)
        return 1
    found = problems(bundle)
    for problem in found:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
