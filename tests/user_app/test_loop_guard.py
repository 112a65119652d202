"""The guard the window puts on a route of the user's that holds the loop (issue 23,
item 7): once seen holding it, its requests enter one at a time, each in a pass of the
loop of its own, and a closed gate turns the queued ones away unrun."""

from __future__ import annotations

import asyncio
import time

import httpx

from loopscope.embedded_server import EmbeddedServer, ProbedApp
from tests.conftest import wait_until
from tests.user_app.apps.judge_apps import blocking

ROUTE = "GET /sleep/short"  # async def calling time.sleep(0.05)
CONCURRENT = 12


async def _burst(client: httpx.AsyncClient) -> list[httpx.Response]:
    return await asyncio.gather(*(client.get("/sleep/short") for _ in range(CONCURRENT)))


async def _worst_lag_of_a_burst(guard: bool) -> float:
    probed = ProbedApp(blocking)
    probed.guard_loop_holders = guard
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with (
        EmbeddedServer(probed) as server,
        httpx.AsyncClient(base_url=server.url, limits=limits) as client,
    ):
        for _ in range(3):  # seen holding the loop
            await client.get("/sleep/short")
        await wait_until(
            lambda: ROUTE in probed.block_watch.held_routes, timeout_s=5, what="the route held"
        )
        await _burst(client)  # connections open: the next burst arrives in one poll
        since = time.perf_counter()
        answers = await _burst(client)
        assert [a.status_code for a in answers] == [200] * CONCURRENT
        return server.probes.loop_lag.max_since(since)


async def test_a_burst_on_a_guarded_route_holds_the_loop_one_request_at_a_time() -> None:
    unguarded = await _worst_lag_of_a_burst(guard=False)
    guarded = await _worst_lag_of_a_burst(guard=True)
    # Unguarded, the requests that arrive in one poll of the sockets run back to back
    # (two or more x 50 ms); guarded, one request's 50 ms at a time.
    assert unguarded >= 0.1, unguarded
    assert guarded < 0.1, guarded


async def test_closing_the_gate_turns_the_queued_requests_away_unrun() -> None:
    probed = ProbedApp(blocking)
    probed.guard_loop_holders = True
    probed.block_watch.held_routes.add(ROUTE)
    limits = httpx.Limits(max_connections=CONCURRENT)
    async with (
        EmbeddedServer(probed) as server,
        httpx.AsyncClient(base_url=server.url, limits=limits) as client,
    ):
        burst = asyncio.ensure_future(_burst(client))
        await wait_until(
            lambda: server.probes.in_flight().get(ROUTE, 0) >= CONCURRENT // 2,
            what="the burst queued",
        )
        probed.close_gate()
        answers = await burst
        codes = [a.status_code for a in answers]
        assert codes.count(503) >= CONCURRENT // 3, codes
        probed.open_gate()
        assert (await client.get("/sleep/short")).status_code == 200
