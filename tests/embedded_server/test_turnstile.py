"""The blocking route's turnstile: one request per pass of the loop, and a stopped run's
queued requests released at once (issue 11, item 1), on the real server."""

from __future__ import annotations

import asyncio
import time

import httpx

from loopscope.embedded_server import BlockingTurnstile, EmbeddedServer
from tests.conftest import wait_until


def _turnstile(server: EmbeddedServer) -> BlockingTurnstile:
    turnstile = server.blocking_turnstile
    assert turnstile is not None
    return turnstile


async def test_requests_arriving_together_block_one_pass_at_a_time(
    server: EmbeddedServer,
) -> None:
    limits = httpx.Limits(max_connections=10)
    async with httpx.AsyncClient(base_url=server.url, limits=limits) as client:
        started = time.perf_counter()
        responses = await asyncio.gather(
            *(client.get("/scenario/blocking", params={"delay_ms": "300"}) for _ in range(5))
        )
    assert [r.status_code for r in responses] == [200] * 5
    # One at a time: five requests take five delays.
    assert time.perf_counter() - started >= 5 * 0.3
    lags = server.probes.loop_lag.lags_since(started)
    # Each froze the loop for its own delay, and the loop ran between two of them (its
    # lag timer fired): never two delays back to back in one freeze.
    assert max(lags) >= 0.75 * 0.3
    assert max(lags) < 2 * 0.3
    assert sum(1 for lag in lags if lag >= 0.75 * 0.3) >= 4


async def test_close_releases_the_queue_at_once_and_open_admits_again(
    server: EmbeddedServer,
) -> None:
    turnstile = _turnstile(server)
    limits = httpx.Limits(max_connections=10)
    async with httpx.AsyncClient(base_url=server.url, limits=limits) as client:
        requests = [
            asyncio.create_task(client.get("/scenario/blocking", params={"delay_ms": "500"}))
            for _ in range(4)
        ]
        # One in its turn, the others queued (the first may be answered before the last
        # arrives, so 3 of the 4 suffice).
        await wait_until(
            lambda: server.probes.in_flight()["blocking"] >= 3, what="3 blocking in flight"
        )
        closed_at = time.perf_counter()
        turnstile.close()
        responses = await asyncio.gather(*requests)
        # A request blocking when the run stopped finishes (one at most: the first may not
        # have started blocking yet); the queued ones do not block.
        # Less than the three queued requests would have held the loop (3 x 0.5 s).
        assert time.perf_counter() - closed_at < 3 * 0.5
        statuses = [r.status_code for r in responses]
        assert statuses.count(503) >= 2 and set(statuses) <= {200, 503}
        assert server.probes.in_flight()["blocking"] == 0

        refused = await client.get("/scenario/blocking", params={"delay_ms": "500"})
        assert refused.status_code == 503
        turnstile.open()
        admitted = await client.get("/scenario/blocking", params={"delay_ms": "50"})
        assert admitted.status_code == 200
