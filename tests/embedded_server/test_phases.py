"""The server's phase table: each request's arrival, start of work, end of work and answer,
live while in flight, and the same wait and work its Server-Timing header reports."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from loopscope.embedded_server import SCENARIOS, EmbeddedServer, ServerSettings, create_app
from loopscope.loadgen import parse_server_timing
from tests.conftest import wait_until


@pytest.mark.parametrize("scenario", ["async", "sync", "blocking"])
async def test_a_finished_request_has_its_phases_in_order_and_as_its_header_says(
    server: EmbeddedServer, scenario: str
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get(f"/scenario/{scenario}", params={"delay_ms": "30"})
    assert response.status_code == 200
    wait_s, work_s = parse_server_timing(response.headers["server-timing"])
    assert wait_s is not None and work_s is not None
    (row,) = server.probes.phases.finished_since(scenario, -math.inf)
    assert row.arrived <= row.started <= row.worked <= row.done
    # The header is rounded to the microsecond.
    assert row.started - row.arrived == pytest.approx(wait_s, abs=2e-6)
    assert row.worked - row.started == pytest.approx(work_s, abs=2e-6)
    assert server.probes.phases.in_flight(scenario) == []
    assert set(server.probes.phases.routes()) <= set(SCENARIOS)


async def test_requests_in_flight_are_live_waiting_then_working() -> None:
    # One thread: of three def requests, one works and two wait for the thread.
    server = EmbeddedServer(create_app(ServerSettings(threads=1)))
    await server.start()
    try:
        phases = server.probes.phases
        async with httpx.AsyncClient(base_url=server.url) as client:
            calls = [
                asyncio.ensure_future(client.get("/scenario/sync", params={"delay_ms": "600"}))
                for _ in range(3)
            ]
            await wait_until(
                lambda: phases.counts("sync") == (2, 1, 0), what="1 working and 2 waiting"
            )
            rows = phases.in_flight("sync")
            assert sum(1 for row in rows if math.isnan(row.started)) == 2
            await asyncio.gather(*calls)
        assert phases.counts("sync") == (0, 0, 0)
        assert len(phases.finished_since("sync", -math.inf)) == 3
    finally:
        await server.stop()
