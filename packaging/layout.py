"""The installed shape of the `loopscope` import package, built from the repository's folders.

pyproject.toml maps each top-level folder to a subpackage (`desktop_app/` installs as
`loopscope.desktop_app`, ...). Tools that cannot follow that mapping (PyInstaller's
analysis, mypy) are given a staged tree with the installed shape instead:
`stage(dest)` builds `dest/loopscope/...` from the mapping, as copies or as symlinks.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "loopscope"


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """{"loopscope": root/"loopscope", "loopscope.desktop_app": root/"desktop_app", ...}"""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {name: root / folder for name, folder in mapping.items()}


def _ignored(folder: str, names: list[str]) -> set[str]:
    return {name for name in names if name == "__pycache__" or name.endswith(".pyc")}


def stage(dest: Path, *, link: bool = False, root: Path = ROOT) -> Path:
    """Build `dest/loopscope` in its installed shape and return `dest`.

    link=True: symlinks to the repository's files (mypy reports the real paths' edits);
    link=False: copies (PyInstaller; the bundle then never depends on the checkout).
    """
    target = dest / PACKAGE
    if target.exists():
        shutil.rmtree(target)
    dirs = package_dirs(root)
    # The entry package's own files, without its subpackage folders (none live inside it).
    for name, source in sorted(dirs.items(), key=lambda item: item[0].count(".")):
        where = dest.joinpath(*name.split("."))
        if name == PACKAGE:
            where.mkdir(parents=True)
            for path in source.iterdir():
                if path.name == "__pycache__":
                    continue
                if link:
                    (where / path.name).symlink_to(path.resolve())
                elif path.is_dir():
                    shutil.copytree(path, where / path.name, ignore=_ignored)
                else:
                    shutil.copy2(path, where / path.name)
        elif link:
            where.symlink_to(source.resolve(), target_is_directory=True)
        else:
            shutil.copytree(source, where, ignore=_ignored)
    return dest
