"""Strict mypy on everything: the `loopscope` package in its installed shape, tests and bench.

mypy cannot follow pyproject's package-dir mapping (`desktop_app/` installs as
`loopscope.desktop_app`), so it reads a staged tree of symlinks to the repository's files and
reports the repository's own paths. Usage: `python packaging/typecheck.py [mypy options]`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from layout import ROOT, package_dirs, stage

CHECKED_FOLDERS = ("tests", "bench", "packaging")


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="loopscope-types-") as folder:
        staged = stage(Path(folder), link=True)
        env = dict(os.environ, MYPYPATH=str(staged))
        done = subprocess.run(
            [sys.executable, "-m", "mypy", *argv, str(staged / "loopscope"), *CHECKED_FOLDERS],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        output = done.stdout + done.stderr
        # Staged paths back to the repository's: .../loopscope/desktop_app/x.py -> desktop_app/x.py
        for name, source in sorted(package_dirs().items(), key=lambda item: -len(item[0])):
            staged_dir = Path(folder, *name.split("."))
            output = output.replace(f"{staged_dir}/", f"{source.relative_to(ROOT)}/")
    print(output, end="")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
