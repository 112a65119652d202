"""Every route of the demo server: success, Server-Timing, and 422 outside its ranges."""

from __future__ import annotations

import asyncio
import ssl
import time

import httpx
import pytest

from loopscope.embedded_server import (
    MAX_BLOCKING_DELAY_MS,
    MAX_CPU_ITERATIONS,
    MAX_DELAY_MS,
    MAX_FANOUT,
    SCENARIOS,
    EmbeddedServer,
)
from loopscope.embedded_server._app import DownstreamClients
from loopscope.loadgen import parse_server_timing

SMALL_PARAMS = {
    "async": {"delay_ms": "20"},
    "sync": {"delay_ms": "20"},
    "blocking": {"delay_ms": "20"},
    "cpu-async": {"iterations": "1000"},
    "cpu-sync": {"iterations": "1000"},
    "fanout-sequential": {"delay_ms": "20", "fanout": "2"},
    "fanout-gather": {"delay_ms": "20", "fanout": "2"},
}

BAD_PARAMS = [
    ("async", {"delay_ms": "-1"}),
    ("async", {"delay_ms": str(MAX_DELAY_MS + 1)}),
    ("async", {"delay_ms": "soon"}),
    ("sync", {"delay_ms": str(MAX_DELAY_MS + 1)}),
    ("blocking", {"delay_ms": str(MAX_BLOCKING_DELAY_MS + 1)}),
    ("blocking", {"delay_ms": "-5"}),
    ("cpu-async", {"iterations": "0"}),
    ("cpu-sync", {"iterations": str(MAX_CPU_ITERATIONS + 1)}),
    ("fanout-sequential", {"fanout": "0"}),
    ("fanout-gather", {"fanout": str(MAX_FANOUT + 1)}),
    ("fanout-gather", {"delay_ms": "-1"}),
]


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_route_answers_with_its_timing(server: EmbeddedServer, scenario: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get(f"/scenario/{scenario}", params=SMALL_PARAMS[scenario])
    assert response.status_code == 200
    assert response.json()["scenario"] == scenario
    wait_s, work_s = parse_server_timing(response.headers["server-timing"])
    assert wait_s is not None and wait_s >= 0
    assert work_s is not None and work_s > 0
    if scenario.startswith("fanout-sequential"):
        assert work_s >= 2 * 0.020  # two downstream calls of 20 ms, one after the other
    elif "delay_ms" in SMALL_PARAMS[scenario]:
        assert work_s >= 0.020


@pytest.mark.parametrize(("scenario", "params"), BAD_PARAMS)
async def test_route_refuses_out_of_range_parameters(
    server: EmbeddedServer, scenario: str, params: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get(f"/scenario/{scenario}", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


async def test_unknown_scenario_is_404(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/scenario/threads-of-doom")
    assert response.status_code == 404


async def test_fanout_gather_is_faster_than_sequential(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        params = {"delay_ms": "100", "fanout": "4"}
        # The gather goes first, on a fresh server: the downstream clients it makes and the
        # connections it opens are inside its timing, as in a user's first fan-out request.
        gat = await client.get("/scenario/fanout-gather", params=params)
        seq = await client.get("/scenario/fanout-sequential", params=params)
    _, seq_work = parse_server_timing(seq.headers["server-timing"])
    _, gat_work = parse_server_timing(gat.headers["server-timing"])
    assert seq_work is not None and gat_work is not None
    assert seq_work >= 0.4
    # Gather waits about one delay where sequential waits four; a ratio, not a bound in
    # seconds, so a busy CI machine's slower connection set-up does not fail it.
    assert gat_work < seq_work * 0.6


async def test_downstream_clients_do_not_hold_the_loop() -> None:
    # A client with a certificate store loads it on the loop (16 of them, inside the first
    # fan-out requests, held it for most of a second); the calls are plain http, so none is
    # loaded. Compared with one load of the store on this machine, not with a time in seconds.
    started = time.perf_counter()
    ssl.create_default_context()
    one_store = time.perf_counter() - started
    clients = DownstreamClients()
    started = time.perf_counter()
    for _ in range(16):  # every client the fan-out routes use, and more
        clients.pick()
    elapsed = time.perf_counter() - started
    await clients.aclose()
    assert elapsed < 4 * one_store


async def test_sync_route_timing_splits_thread_wait_from_work(server: EmbeddedServer) -> None:
    server.probes.set_thread_tokens(1)
    async with httpx.AsyncClient(base_url=server.url) as client:
        responses = await asyncio.gather(
            client.get("/scenario/sync", params={"delay_ms": "300"}),
            client.get("/scenario/sync", params={"delay_ms": "300"}),
        )
    timings = [parse_server_timing(r.headers["server-timing"]) for r in responses]
    waits = sorted(wait or 0.0 for wait, _ in timings)
    # The only thread serves one request; the other queues for it about one delay longer
    # (a difference, so a slow machine's thread start-up does not matter).
    assert waits[1] - waits[0] >= 0.25
    assert all(work is not None and work >= 0.29 for _, work in timings)


async def test_stats_route_reports_probes(server: EmbeddedServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        stats = (await client.get("/stats")).json()
    assert set(stats["in_flight"]) == set(SCENARIOS)
    assert stats["threadpool"] == {"total": 40, "borrowed": 0, "waiting": 0}
    assert set(stats["loop_lag"]) == {"last_ms", "max_1s_ms", "p99_10s_ms", "max_10s_ms"}
