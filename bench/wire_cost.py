"""What the timeline's wire stamps cost the shared loop: sender throughput and CPU per
request with and without a `WireLog`, in one process, on one loop (the window's shape).

    .venv/bin/python bench/wire_cost.py [--users 200] [--delay-ms 0] [--block-s 5] [--rounds 3]

The embedded demo server and a closed-loop `LoadGenerator` share one asyncio loop, as in
the window; the `async` route answers at once (0 ms), so the loop's CPU per request is the
limit and any cost the stamps add shows in req/s. Blocks without and with the log take
turns (off, on, on, off, off, on, ...) so that a drift of the shared machine hits both
alike; each block starts a new generator and sender and skips its first second. On a
shared 2-core machine those blocks differ by +-15 % among themselves, more than the
stamps can cost, so the stamps' own operations are also timed alone (best of 5): what a
request pays on the client (id, two ring writes, the context variable, the header) and
on the server (finding the header among the request's). Not part of the tests; writes
bench/results/wire_cost.json.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import timeit
from pathlib import Path

from _support import RESULTS, machine_info, require_this_checkout, write_json

from loopscope.embedded_server import (
    REQUEST_ID_HEADER,
    EmbeddedServer,
    ServerSettings,
    create_app,
)
from loopscope.embedded_server._timing import request_id
from loopscope.loadgen import HttpxSender, LoadGenerator, ScenarioRequest, WireLog
from loopscope.loadgen._wire import WIRE_ID

WARM_S = 1.0


async def block(
    server: EmbeddedServer, users: int, delay_ms: float, seconds: float, wire: bool
) -> tuple[float, float]:
    """(req/s, µs of CPU a request) of one block, with or without a wire log."""
    counted = 0
    counting = False

    def sink(record: object) -> None:
        nonlocal counted
        if counting:
            counted += 1

    sender = HttpxSender(server.url, wire=WireLog() if wire else None)
    request = ScenarioRequest(scenario="async", delay_ms=delay_ms)
    generator = LoadGenerator(sender, sink, request, ramp_s=0.2)
    generator.start(users)
    await asyncio.sleep(WARM_S)
    counting = True
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    counting = False
    cpu1, t1 = time.process_time(), time.perf_counter()
    await generator.aclose()
    return counted / (t1 - t0), (cpu1 - cpu0) / max(counted, 1) * 1e6


def stamp_costs_us(number: int = 200_000) -> dict[str, float]:
    """µs a request pays for the stamps, each side timed alone (best of 5)."""
    log = WireLog()
    # What httpx's built request gives the transport, and what uvicorn gives the app.
    headers = [
        ("Host", "127.0.0.1:40000"),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip, deflate"),
        ("Connection", "keep-alive"),
        ("User-Agent", "python-httpx/0.28.1"),
    ]
    asgi = [(name.lower().encode(), value.encode()) for name, value in headers]
    asgi_with_id = [*asgi, (REQUEST_ID_HEADER.encode(), b"1234567")]

    def client() -> None:  # HttpxSender._send_logged and AiohttpTransport, the added part
        at = time.perf_counter()
        wire_id = log.sent(at)
        token = WIRE_ID.set(wire_id)
        sent = WIRE_ID.get()
        if sent is not None:
            headers.append((REQUEST_ID_HEADER, str(sent)))
        headers.pop()
        WIRE_ID.reset(token)
        log.received(wire_id, at)

    def best(fn: object) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]

    return {
        "client_us": round(best(client), 3),
        "server_with_id_us": round(best(lambda: request_id(asgi_with_id)), 3),
        "server_without_id_us": round(best(lambda: request_id(asgi)), 3),
    }


async def measure(users: int, delay_ms: float, seconds: float, rounds: int) -> dict[str, object]:
    server = EmbeddedServer(create_app(ServerSettings()))
    await server.start()
    runs: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    try:
        for number in range(rounds):
            # off-on, then on-off: neither always goes first (a warming machine, a growing
            # heap would otherwise favour one).
            for name in ("off", "on") if number % 2 == 0 else ("on", "off"):
                rps, cpu_us = await block(server, users, delay_ms, seconds, name == "on")
                runs[name].append((rps, cpu_us))
                print(f"  wire log {name:3}: {rps:7.1f} req/s, {cpu_us:6.1f} µs CPU a request")
    finally:
        await server.stop()
    off_rps = statistics.median(r for r, _ in runs["off"])
    on_rps = statistics.median(r for r, _ in runs["on"])
    off_cpu = statistics.median(c for _, c in runs["off"])
    on_cpu = statistics.median(c for _, c in runs["on"])
    # Each round's on/off pair ran back to back: their ratios are the robust figures.
    pairs = list(zip(runs["on"], runs["off"], strict=True))
    return {
        "users": users,
        "delay_ms": delay_ms,
        "block_s": seconds,
        "rounds": rounds,
        "off": [{"rps": round(r, 1), "cpu_us": round(c, 1)} for r, c in runs["off"]],
        "on": [{"rps": round(r, 1), "cpu_us": round(c, 1)} for r, c in runs["on"]],
        "rps_median_off": round(off_rps, 1),
        "rps_median_on": round(on_rps, 1),
        "rps_ratio_on_off": round(on_rps / off_rps, 3),
        "cpu_us_median_off": round(off_cpu, 1),
        "cpu_us_median_on": round(on_cpu, 1),
        "cpu_ratio_on_off": round(on_cpu / off_cpu, 3),
        "rps_ratio_paired_median": round(statistics.median(on[0] / off[0] for on, off in pairs), 3),
        "cpu_ratio_paired_median": round(statistics.median(on[1] / off[1] for on, off in pairs), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--block-s", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "wire_cost.json")
    args = parser.parse_args()
    require_this_checkout()
    row = asyncio.run(measure(args.users, args.delay_ms, args.block_s, args.rounds))
    costs = stamp_costs_us()
    added = costs["client_us"] + costs["server_with_id_us"]
    row["stamp_costs_us"] = costs
    row["stamp_share_of_cpu"] = round(added / float(row["cpu_us_median_off"]), 4)  # type: ignore[arg-type]
    print(
        f"{args.users} users, {args.delay_ms:g} ms, one loop: {row['rps_median_off']} req/s "
        f"without the wire log, {row['rps_median_on']} with (ratio {row['rps_ratio_on_off']}); "
        f"CPU a request {row['cpu_us_median_off']} vs {row['cpu_us_median_on']} µs "
        f"(ratio {row['cpu_ratio_on_off']}); paired by round: req/s ratio "
        f"{row['rps_ratio_paired_median']}, CPU ratio {row['cpu_ratio_paired_median']}; "
        f"the stamps alone: {costs['client_us']} µs "
        f"client + {costs['server_with_id_us']} µs server = {row['stamp_share_of_cpu']:.2%} "
        "of a request's CPU"
    )
    write_json(args.out, {"benchmark": "wire_cost", **machine_info(), "rows": [row]})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
