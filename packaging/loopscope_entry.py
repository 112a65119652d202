"""Entry point of the frozen executable: the same `loopscope` command as the console script
(no arguments: the window; `run`, `serve`, `sweep`, `gui --autorun`: as documented)."""

import sys

from loopscope.cli import main

if __name__ == "__main__":
    sys.exit(main())
