"""Drawing a sweep's PNG in a child process, so that the `loopscope` process never imports Qt
(`loopscope.desktop_app.sweep_png` does the drawing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from loopscope.loadgen import RunResult
from loopscope.loadgen.export import finite

#: Hidden first argument of the `loopscope` executable that draws a sweep PNG (bundle only).
RENDER_SWEEP_PNG_COMMAND = "_render-sweep-png"


class SweepPngError(RuntimeError):
    """The PNG (a sweep's, an audit's) could not be drawn; the message is one line."""


def drew_png(draw: Callable[[], None]) -> bool:
    """Draw a PNG; one that cannot be drawn is said in one line on stderr and stops
    nothing else. True when it was drawn."""
    try:
        draw()
    except SweepPngError as exc:
        print(f"loopscope: {exc}", file=sys.stderr)
        return False
    return True


def render_sweep_png(results: Sequence[RunResult], path: Path, *, timeout_s: float = 120.0) -> None:
    """Draw throughput and latency against the load level into a PNG, in another process.

    The drawing uses pyqtgraph on Qt's offscreen platform (no display needed), in a child
    process so that this one never imports Qt.
    """
    render_png_in_child(
        [result.to_json() for result in results],
        path,
        module="loopscope.desktop_app.sweep_png",
        bundle_command=RENDER_SWEEP_PNG_COMMAND,
        timeout_s=timeout_s,
    )


def render_png_in_child(
    payload: object, path: Path, *, module: str, bundle_command: str, timeout_s: float = 120.0
) -> None:
    """Hand `payload` (JSON) to `python -m module DATA.json OUT.png` on Qt's offscreen
    platform (in the bundle: its executable's hidden `bundle_command`), and wait for the PNG.
    SweepPngError (one line) when it cannot be drawn."""
    if getattr(sys, "frozen", False):
        # The PyInstaller bundle has no interpreter for `-m`: its executable draws instead.
        command = [sys.executable, bundle_command]
    else:
        command = [sys.executable, "-m", module]
    path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # Drawn beside and renamed when complete: a full disk leaves no truncated PNG.
    partial = path.with_name(f".{path.name}.{os.getpid()}.png")
    try:
        with tempfile.TemporaryDirectory(prefix="loopscope-png-") as folder:
            data = Path(folder) / "data.json"
            data.write_text(json.dumps(finite(payload)), encoding="utf-8")
            try:
                done = subprocess.run(
                    [*command, str(data), str(partial)],
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    env=env,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise SweepPngError(f"drawing the PNG took over {timeout_s:g} s") from None
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            why = lines[-1] if lines else f"exit status {done.returncode}"
            raise SweepPngError(f"cannot draw the PNG: {why}")
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
