"""The embedded server's life: start on port 0, probes, resize, busy port, shutdown."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from loopscope.embedded_server import EmbeddedServer, ServerSettings, ServerStartError, create_app
from tests.conftest import wait_until


async def test_starts_on_a_free_loopback_port_and_stops(server: EmbeddedServer) -> None:
    assert server.started
    assert server.url.startswith("http://127.0.0.1:")
    assert server.port > 0
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/")).status_code == 200


async def test_busy_port_gives_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EmbeddedServer(create_app(), port=port)
        with pytest.raises(ServerStartError, match=f"127.0.0.1:{port} is already in use"):
            await server.start()
    assert not server.started


async def test_thread_pool_resize_takes_effect_live(server: EmbeddedServer) -> None:
    probes = server.probes
    server.probes.set_thread_tokens(2)
    assert probes.threadpool().total == 2
    async with httpx.AsyncClient(base_url=server.url) as client:
        requests = [
            asyncio.create_task(client.get("/scenario/sync", params={"delay_ms": "300"}))
            for _ in range(5)
        ]
        await wait_until(lambda: probes.threadpool().waiting == 3, what="3 requests waiting")
        assert probes.threadpool().borrowed == 2
        # Widen the pool while they wait: the waiting ones start at once.
        response = await client.put("/threadpool", params={"tokens": "10"})
        assert response.status_code == 200
        assert response.json()["threadpool"]["total"] == 10
        await wait_until(lambda: probes.threadpool().borrowed == 5, what="all 5 on threads")
        assert probes.threadpool().waiting == 0
        await asyncio.gather(*requests)
        assert (await client.put("/threadpool", params={"tokens": "0"})).status_code == 422
    with pytest.raises(ValueError, match="between 1 and"):
        probes.set_thread_tokens(0)


async def test_in_flight_probe_counts_per_scenario(server: EmbeddedServer) -> None:
    probes = server.probes
    async with httpx.AsyncClient(base_url=server.url) as client:
        requests = [
            asyncio.create_task(client.get("/scenario/async", params={"delay_ms": "300"}))
            for _ in range(4)
        ]
        await wait_until(lambda: probes.in_flight()["async"] == 4, what="4 async in flight")
        assert probes.in_flight()["sync"] == 0
        await asyncio.gather(*requests)
    assert probes.in_flight()["async"] == 0


async def test_loop_lag_probe_sees_a_blocked_loop(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/scenario/blocking", params={"delay_ms": "300"})
        assert response.status_code == 200
    await wait_until(lambda: server.probes.loop_lag.stats().max_10s_ms > 0, what="a lag sample")
    assert server.probes.loop_lag.stats().max_10s_ms >= 250


async def test_settings_reject_a_thread_count_out_of_range() -> None:
    with pytest.raises(ValueError, match="threads"):
        ServerSettings(threads=0)


async def test_stop_with_a_long_request_in_flight_is_bounded() -> None:
    server = EmbeddedServer(create_app(), graceful_shutdown_s=1)
    await server.start()
    client = httpx.AsyncClient(base_url=server.url)
    request = asyncio.create_task(client.get("/scenario/async", params={"delay_ms": "10000"}))
    await wait_until(lambda: server.probes.in_flight()["async"] == 1, what="the request")
    started = time.perf_counter()
    await server.stop()
    assert time.perf_counter() - started < 5.0  # the 1 s grace, not the 10 s request
    # The cut request either loses its connection or gets uvicorn's 500, never hangs.
    try:
        response = await request
    except httpx.HTTPError:
        pass
    else:
        assert response.status_code == 500
    await client.aclose()
    assert {t for t in asyncio.all_tasks() if not t.done()} == {asyncio.current_task()}


async def test_pool_shrunk_below_its_borrowed_tokens_then_grown_never_over_grants(
    server: EmbeddedServer,
) -> None:
    """anyio before 4.15 woke one waiter per token added, even when the pool was still
    over-subscribed after a shrink (agronholm/anyio#1223): borrowed went above total."""
    probes = server.probes
    probes.set_thread_tokens(5)
    async with httpx.AsyncClient(base_url=server.url) as client:
        # Long enough to still hold their threads through the resizes on a slow machine.
        holding = [
            asyncio.create_task(client.get("/scenario/sync", params={"delay_ms": "3000"}))
            for _ in range(5)
        ]
        await wait_until(lambda: probes.threadpool().borrowed == 5, what="5 on threads")
        # Shrink below what is borrowed: the 5 keep their threads, nothing new starts.
        probes.set_thread_tokens(2)
        queued = [
            asyncio.create_task(client.get("/scenario/sync", params={"delay_ms": "50"}))
            for _ in range(3)
        ]
        await wait_until(lambda: probes.threadpool().waiting == 3, what="3 waiting")
        # Grow, still below the 5 borrowed: no token is free, so nobody may start.
        probes.set_thread_tokens(4)
        pool = probes.threadpool()
        # anyio 4.14.2 gives (4, 7, 1): two waiters woken for tokens that were not free.
        assert (pool.total, pool.borrowed, pool.waiting) == (4, 5, 3)

        most_borrowed = 0

        def all_done() -> bool:
            nonlocal most_borrowed
            most_borrowed = max(most_borrowed, probes.threadpool().borrowed)
            return all(task.done() for task in [*holding, *queued])

        await wait_until(all_done, timeout_s=30, what="all 8 requests answered")
        responses = await asyncio.gather(*holding, *queued)
    assert [r.status_code for r in responses] == [200] * 8
    assert most_borrowed <= 5
    pool = probes.threadpool()
    assert (pool.total, pool.borrowed, pool.waiting) == (4, 0, 0)
