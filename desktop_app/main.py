"""Start-up of the desktop app."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print(
        "loopscope: the desktop window is not built yet; use `loopscope run` or "
        "`loopscope serve` meanwhile",
        file=sys.stderr,
    )
    return 1
