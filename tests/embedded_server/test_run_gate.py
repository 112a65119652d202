"""RunGate (issue 23, item 6): closing it answers the requests still waiting for a thread
with 503 at once; those already running finish, and count as draining in the next run."""

from __future__ import annotations

import asyncio

import httpx

from loopscope.embedded_server import EmbeddedServer, ServerSettings, create_app
from tests.conftest import wait_until

THREADS = 2
REQUESTS = 10


async def test_closing_the_gate_cancels_the_waiting_requests_not_the_running_ones() -> None:
    server = EmbeddedServer(create_app(ServerSettings(threads=THREADS)))
    limits = httpx.Limits(max_connections=REQUESTS)
    async with server, httpx.AsyncClient(base_url=server.url, limits=limits) as client:
        gate, probes = server.run_gate, server.probes
        assert gate is not None
        sent = [
            asyncio.ensure_future(client.get("/scenario/sync", params={"delay_ms": 500}))
            for _ in range(REQUESTS)
        ]
        await wait_until(
            lambda: probes.threadpool().waiting == REQUESTS - THREADS, what="the queue"
        )
        assert gate.close() == REQUESTS - THREADS
        gate.open()  # the next run: the two running requests are the last one's
        assert gate.draining() == THREADS
        answers = await asyncio.gather(*sent)
        codes = sorted(answer.status_code for answer in answers)
        assert codes == [200] * THREADS + [503] * (REQUESTS - THREADS)
        assert gate.draining() == 0 and probes.in_flight()["sync"] == 0
        # The gate turns nothing away by itself: the next run's requests are served.
        assert (await client.get("/scenario/sync", params={"delay_ms": 1})).status_code == 200
