"""What queueing theory predicts for an open loop: arrivals at a fixed rate R.

A server of capacity c (requests served at once), each taking service time d, completes
at most c/d requests per second. Below that, R requests per second arrive evenly spaced
and each is served at once: throughput R, latency d. At or above it the queue grows with
every second of the run: throughput c/d, and latency grows without bound (it depends on
how long the run lasts, so theory gives no number).
"""

from __future__ import annotations

import math
from typing import Unpack

from .theory import Prediction, ServerShape, capacity_and_service_time


def open_loop(
    scenario: str,
    *,
    rate: float,
    **server: Unpack[ServerShape],
) -> Prediction:
    """Throughput min(R, c/d); latency d below capacity, inf (unbounded) at or above it.

    server: as `theory.capacity_and_service_time` takes it.
    """
    capacity, service_s, why = capacity_and_service_time(scenario, **server)
    max_rps = capacity / service_s if service_s > 0 else math.inf
    if rate < max_rps:
        limit = "unbounded" if math.isinf(max_rps) else f"{max_rps:,.4g} req/s"
        why += f"; {rate:g} req/s is under its capacity ({limit}): no queue, latency = d"
        return Prediction(scenario, capacity, service_s, rate, service_s * 1000, why)
    why += (
        f"; {rate:g} req/s is over its capacity of {max_rps:,.4g} req/s, "
        "so the queue and the latency grow without bound"
    )
    return Prediction(scenario, capacity, service_s, max_rps, math.inf, why)


def capacity_rps(prediction: Prediction) -> float:
    """Requests per second the server can complete: c/d (inf when unbounded)."""
    if prediction.service_time_s <= 0:
        return math.inf
    return prediction.capacity / prediction.service_time_s
