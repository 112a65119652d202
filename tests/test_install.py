"""LoopScope installs beside the PyPI distributions named like its folders.

The repository keeps `desktop_app/` and `resources/` at its root, and PyPI has distributions
that install exactly those top-level names (`desktop-app`, `resources`). The wheel must
install only `loopscope` (its folders become `loopscope.desktop_app`, ...), so a fresh
environment holds all three and imports each from its own distribution. Needs PyPI (or pip's
cache) like the test command's own install; about 40 s.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Distributions that install the top-level names `desktop_app` and `resources`; resources
# 0.0.1 imports requests and staty without declaring them, so they come along to let it import.
NEIGHBOURS = ["desktop-app==0.6.0", "resources==0.0.1", "requests==2.34.2", "staty==1.2.4"]

# Run in the fresh environment, isolated (-I) and outside the checkout, so the repository's
# own `desktop_app/` and `resources/` folders cannot be what gets imported.
PROBE = """
import importlib, importlib.metadata as md, json, sys
from pathlib import Path

def owner(module):
    path = Path(importlib.import_module(module).__file__).resolve()
    for dist in md.distributions():
        for f in dist.files or ():
            if Path(f.locate()).resolve() == path:
                return dist.metadata["Name"]
    return None

from loopscope.resources import resource_path
print(json.dumps({
    "owners": {m: owner(m) for m in sys.argv[1:]},
    "icon": resource_path("icons", "loopscope.png").stat().st_size,
}))
"""
MODULES = [
    "desktop_app",
    "resources",
    "loopscope",
    "loopscope.cli",
    "loopscope.desktop_app",
    "loopscope.embedded_server",
    "loopscope.loadgen",
    "loopscope.resources",
]


def _run(*command: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(map(str, command))}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installs_only_loopscope_beside_same_named_distributions(tmp_path: Path) -> None:
    # Build from a copy holding only the sources: setuptools builds in the source tree, and a
    # stale build/lib/ left there by an older layout would end up in the wheel.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        tmp_path,
        source,
        cwd=tmp_path,
    )
    wheel = next(tmp_path.glob("loopscope-*.whl"))

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        top_level = archive.read(f"{info}/top_level.txt").decode().split()
    assert {name.split("/")[0] for name in names} == {"loopscope", info}
    assert top_level == ["loopscope"]

    # A fresh environment (no system site-packages); pip runs from this one into it.
    env = tmp_path / "env"
    _run(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp_path)
    python = env / "bin" / "python"
    pip: list[str | Path] = [sys.executable, "-m", "pip", "--python", python, "install", "-q"]
    _run(*pip, *NEIGHBOURS, cwd=tmp_path)
    # Then LoopScope, with its dependencies at the versions the tests run with.
    _run(*pip, "-c", ROOT / "constraints.txt", wheel, cwd=tmp_path)

    found = json.loads(_run(python, "-I", "-c", PROBE, *MODULES, cwd=tmp_path))
    assert found["owners"] == {
        "desktop_app": "desktop-app",
        "resources": "resources",
        **{module: "loopscope" for module in MODULES[2:]},
    }
    assert found["icon"] > 1000  # package data came along in the wheel
    assert "usage" in _run(env / "bin" / "loopscope", "run", "--help", cwd=tmp_path)
