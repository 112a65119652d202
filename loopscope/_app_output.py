"""The user's app's output kept apart from the report (`audit`, `run --app`).

While the app runs (its import included), `sys.stdout`, `sys.stderr` and uvicorn's error
log go to a log file; the command keeps the real streams for its report. Python-level
redirection, not file descriptors: the app's `print`s and logging handlers created at
import go to the file, and everything is put back on exit (tests run many commands in one
process). Output written by C code straight to fd 1 or 2 is not caught.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import TextIO

from loopscope.loadgen.audit import AppOutput

from ._options import UsageError

DEFAULT_APP_LOG = "loopscope-app.log"
# The report shows this many distinct lines; a line is cut to this length.
_SHOWN = 5
_LINE_CHARS = 160
# Reading a huge log back is bounded: counts past this many bytes are "at least".
_MAX_READ_BYTES = 32 * 1024 * 1024
_MAX_DISTINCT = 10_000
_UVICORN_ERROR = "uvicorn.error"


def add_app_log_option(parser: argparse.ArgumentParser) -> None:
    """--app-log PATH (`audit`, `run --app`): where the app's own output goes."""
    parser.add_argument(
        "--app-log",
        type=Path,
        default=None,
        metavar="PATH",
        help="where your app's own output (prints, uvicorn's error log) goes "
        f"(default: {DEFAULT_APP_LOG} in the current folder)",
    )


class AppOutputLog:
    """`with AppOutputLog(path) as log:` the app's output goes to `path` (a file in the
    current folder by default, or a temporary one if that cannot be written).

    `real_stdout` and `real_stderr` are the streams the command reports on. After the
    block, `summary()` says what the app wrote (None when it wrote nothing: the empty
    file is removed on exit)."""

    def __init__(self, path: Path | None = None) -> None:
        self._asked = path
        self.path = path if path is not None else Path(DEFAULT_APP_LOG)
        self.real_stdout: TextIO = sys.stdout
        self.real_stderr: TextIO = sys.stderr
        self._file: TextIO | None = None
        self._handler: logging.Handler | None = None
        self._propagate = True

    def _open(self) -> TextIO:
        try:
            return self.path.open("w", encoding="utf-8", errors="replace", buffering=1)
        except OSError as exc:
            if self._asked is not None:
                raise UsageError(f"cannot write --app-log {self.path}: {exc.strerror}") from None
            handle, name = tempfile.mkstemp(prefix="loopscope-app-", suffix=".log")
            os.close(handle)
            self.path = Path(name)
            return self.path.open("w", encoding="utf-8", errors="replace", buffering=1)

    def __enter__(self) -> AppOutputLog:
        self._file = self._open()
        self.real_stdout, self.real_stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self._file
        handler = logging.StreamHandler(self._file)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger = logging.getLogger(_UVICORN_ERROR)
        logger.addHandler(handler)
        # Only here: a root handler (pytest's, an app's basicConfig) must not get it too.
        self._propagate, logger.propagate = logger.propagate, False
        self._handler = handler
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        sys.stdout, sys.stderr = self.real_stdout, self.real_stderr
        logger = logging.getLogger(_UVICORN_ERROR)
        if self._handler is not None:
            logger.removeHandler(self._handler)
            logger.propagate = self._propagate
            self._handler = None
        if self._file is not None:
            self._file.close()
            self._file = None
            # Nothing written: no file left behind (a bad argument, a quiet app).
            with contextlib.suppress(OSError):
                if self.path.stat().st_size == 0:
                    self.path.unlink()

    def summary(self) -> AppOutput | None:
        """What the app wrote: its lines, and the most frequent distinct ones."""
        try:
            with self.path.open("r", encoding="utf-8", errors="replace") as log:
                text = log.read(_MAX_READ_BYTES)
        except OSError:  # nothing written (removed on exit), or removed since
            return None
        counts: Counter[str] = Counter()
        lines = 0
        for raw in text.splitlines():
            line = raw.strip()
            if not line:
                continue
            lines += 1
            line = line[:_LINE_CHARS]
            if line in counts or len(counts) < _MAX_DISTINCT:
                counts[line] += 1
        return AppOutput(str(self.path), lines, tuple(counts.most_common(_SHOWN)))
