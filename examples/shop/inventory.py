"""Looks like an innocent helper; it is the mistake `loopscope audit` points at."""

from __future__ import annotations

import time


def count_in_warehouse(product: str) -> int:
    time.sleep(0.1)  # a blocking HTTP client or driver, called from async def
    return len(product)
