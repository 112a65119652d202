"""CPU work in the request path: it holds the event loop while it computes."""

from __future__ import annotations


def rank_products(user: int) -> list[int]:
    total = 0
    for i in range(250_000):  # about 20-40 ms of pure Python
        total += (i * user) % 7
    return [total % 10, (total // 10) % 10]
