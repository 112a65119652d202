"""What many tests do the same way: start `loopscope` as a child process, and check that a
command refuses its input in one readable line (exit 2) before doing anything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from loopscope.cli import main


def _sigint_as_from_a_terminal() -> None:
    # A test runner started in the background (`cmd &` in a script) ignores SIGINT, and its
    # children inherit that: Ctrl+C as these tests send it must reach the command.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_loopscope(
    *argv: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[str]:
    """`python -m loopscope ARGV` as a child, stdout and stderr piped as text, SIGINT live.

    `env` is added to this process's environment (the GUI tests' `QT_QPA_PLATFORM`, say).
    """
    return subprocess.Popen(
        [sys.executable, "-m", "loopscope", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_sigint_as_from_a_terminal,
        env={**os.environ, **env} if env is not None else None,
    )


def refused_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], *, says: str = ""
) -> str:
    """Runs `loopscope ARGV` in this process and checks the refusal: exit 2, one line on
    stderr that starts `loopscope: error: ` (and holds `says`), no traceback, nothing on
    stdout. Returns the line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("loopscope: error: "), captured.err
    assert says in lines[0], captured.err
    assert captured.out == "", captured.out
    return lines[0]
