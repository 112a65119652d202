"""`python -m loopscope`: the same command as the `loopscope` console script."""

import sys

from loopscope.cli import main

sys.exit(main())
