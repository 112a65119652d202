"""Marks for tests that hold only with a Linux-only feature (embedded_server/platform_support.py).

`LOOPSCOPE_FORCE_FALLBACKS=1` runs the suite as on macOS or Windows: such a test is then skipped,
with the feature it needs as the reason, and the fallback's own test runs instead.
"""

from __future__ import annotations

import sys

import pytest

from loopscope.embedded_server.platform_support import fallbacks_forced

FORCED = fallbacks_forced()
ON_LINUX = sys.platform.startswith("linux") and not FORCED


def needs_linux(feature: str) -> pytest.MarkDecorator:
    """Skip unless the Linux `feature` is there (not elsewhere, not with fallbacks forced)."""
    why = "fallbacks forced" if FORCED else f"not Linux ({sys.platform})"
    return pytest.mark.skipif(not ON_LINUX, reason=f"needs {feature}: {why}")
