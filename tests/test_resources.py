"""The resource lookup works from a checkout and from an installed wheel (the frozen
bundle is checked by packaging/smoke_test.sh)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from loopscope.desktop_app.presets import load_presets
from loopscope.resources import resource_path, resource_root

ROOT = Path(__file__).resolve().parents[1]


def test_resources_from_the_checkout() -> None:
    assert resource_root() == ROOT / "resources"
    assert resource_path("icons", "loopscope.png").stat().st_size > 1000
    assert resource_path("styles", "light.qss").read_text().strip()
    presets = sorted(resource_path("presets").glob("*.json"))
    assert len(presets) >= 5
    for preset in presets:
        data = json.loads(preset.read_text())
        assert {"name", "scenarios", "users", "delay_ms", "watch", "theory", "why"} <= set(data)
    # Every shipped preset passes the schema the window checks them with.
    catalog = load_presets(resource_path("presets"))
    assert catalog.problems == () and len(catalog.presets) == len(presets)


def test_missing_resource_names_the_path() -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.here"):
        resource_path("nothing.here")


@pytest.mark.slow
def test_resources_from_an_installed_wheel(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(wheels.glob("loopscope-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import sys; from loopscope.resources import resource_path; "
        "p = resource_path('presets'); assert str(p).startswith(sys.argv[1]), p; "
        "print(len(list(p.glob('*.json'))), resource_path('icons', 'loopscope.png').stat().st_size)"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); " + code,
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    count, icon_size = done.stdout.split()
    assert int(count) >= 5 and int(icon_size) > 1000
