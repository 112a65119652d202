"""Which HTTP client can LoopScope's generator afford? Every candidate against one server.

Starts one separate demo-server process (`loopscope serve`, httptools) on 127.0.0.1 and drives
`/scenario/async?delay_ms=D` closed-loop with N connections from each client in turn,
each in its own process so its CPU use can be measured alone:

- `wrk`: the reference (one thread, one core, like a Python generator);
- `loopscope`: LoadGenerator + Recorder + this checkout's HttpxSender (over its own
  `Http1Transport`), as `loopscope run` drives them; `loopscope-upcK`: the same with
  users_per_client=K; `loopscope-aiohttp`: the same over `AiohttpTransport`, the
  sender's transport until 2026-11-26;
- `httpcore-upcK`: LoadGenerator + Recorder + the sender LoopScope had until 2026-11-25
  (httpx's default transport, `client.get`, one AsyncClient per K users);
- `httpx-aiohttp`: LoadGenerator + Recorder + HttpxSender with the PyPI package
  `httpx-aiohttp`'s transport in place of LoopScope's own (needs that package);
- `aiohttp`: raw aiohttp, one session, no LoadGenerator (what the socket layer can do).

Prints req/s, mean latency, the client's and the server's CPU % per (client, level),
and writes everything to `bench/results/sender_matrix.json`.

    python bench/sender_matrix.py [--duration 5] [--warmup 1] [--runs 2]
        [--clients wrk,loopscope,...] [--zero-levels 1,10,50,100]
        [--delay-levels 1,10,50,100,400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from _support import (
    RESULTS,
    ClientResult,
    ServerProcess,
    add_run_arguments,
    checkout_env,
    cpu_pct,
    ensure_wrk,
    fmt,
    int_list,
    machine_info,
    process_cpu_s,
    require_this_checkout,
    run_wrk,
    scenario_url,
    table,
    write_json,
)

from loopscope.loadgen import (
    AiohttpTransport,
    AnyRequest,
    HttpxSender,
    LoadGenerator,
    Recorder,
    RequestRecord,
    RequestSender,
    ScenarioRequest,
    record_from_error,
    record_from_response,
)

DEFAULT_CLIENTS = (
    "wrk",
    "httpcore-upc1",
    "httpcore-upc10",
    "httpcore-upc25",
    "httpx-aiohttp",
    "loopscope",
    "loopscope-aiohttp",
    "loopscope-upc10",
    "aiohttp",
)
DEFAULT_OUT = RESULTS / "sender_matrix.json"


# --- the child: one client, one level ------------------------------------------------------


class HttpcoreSender:
    """The sender LoopScope had before 2026-11-25: httpx's default transport (httpcore),
    `client.get` per request, one `AsyncClient` per `users_per_client` users.

    Kept as it was (not `HttpxSender` with httpx's transport plugged in: that one builds
    each request once), except for its records, which are LoopScope's own.
    """

    def __init__(self, base_url: str, *, users_per_client: int) -> None:
        self._base_url = base_url
        self._users_per_client = users_per_client
        self._clients: dict[int, httpx.AsyncClient] = {}

    async def send(self, request: AnyRequest, *, user: int) -> RequestRecord:
        group = user // self._users_per_client
        client = self._clients.get(group)
        if client is None:
            limits = httpx.Limits(
                max_connections=self._users_per_client,
                max_keepalive_connections=self._users_per_client,
            )
            client = httpx.AsyncClient(
                base_url=self._base_url, limits=limits, timeout=60.0, trust_env=False
            )
            self._clients[group] = client
        start = time.perf_counter()
        try:
            response = await client.get(request.path, params=request.params)
        except httpx.HTTPError as exc:
            return record_from_error(request, exc, start, time.perf_counter(), user)
        return record_from_response(request, response, start, time.perf_counter(), user)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def _make_sender(client: str, url: str) -> RequestSender:
    if client.startswith("httpcore-upc"):
        return HttpcoreSender(url, users_per_client=int(client.removeprefix("httpcore-upc")))
    if client == "loopscope":
        return HttpxSender(url)
    if client == "loopscope-aiohttp":
        return HttpxSender(url, transport_factory=AiohttpTransport)
    if client.startswith("loopscope-upc"):
        return HttpxSender(url, users_per_client=int(client.removeprefix("loopscope-upc")))
    if client == "httpx-aiohttp":
        # LoopScope's sender with the PyPI package's transport in place of its own.
        from httpx_aiohttp import AiohttpTransport as PackageTransport

        def package_transport() -> httpx.AsyncBaseTransport:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            transport: httpx.AsyncBaseTransport = PackageTransport(limits=limits, trust_env=False)
            return transport

        return HttpxSender(url, transport_factory=package_transport)
    raise ValueError(f"unknown client {client!r}")


async def _child_generator(
    client: str,
    url: str,
    delay_ms: float,
    conns: int,
    duration_s: float,
    warmup_s: float,
    server_pid: int,
) -> dict[str, object]:
    sender = _make_sender(client, url)
    recorder = Recorder()
    generator = LoadGenerator(
        sender, recorder.add, ScenarioRequest(scenario="async", delay_ms=delay_ms)
    )
    generator.start(conns)
    await asyncio.sleep(warmup_s)
    recorder.begin_measurement()
    cpu0, wall0, server0 = time.process_time(), time.perf_counter(), process_cpu_s(server_pid)
    await asyncio.sleep(duration_s)
    recorder.end_measurement()
    cpu1, wall1, server1 = time.process_time(), time.perf_counter(), process_cpu_s(server_pid)
    await generator.aclose()
    summary = recorder.summary("async")
    return {
        "requests": summary.requests,
        "errors": sum(summary.errors.values()),
        "ok": summary.ok,
        "duration_s": summary.duration_s,
        "latency_mean_ms": None if math.isnan(summary.latency.mean) else summary.latency.mean,
        "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "server_cpu_pct": cpu_pct(server0, server1, wall1 - wall0),
    }


async def _child_aiohttp(
    url: str, delay_ms: float, conns: int, duration_s: float, warmup_s: float, server_pid: int
) -> dict[str, object]:
    import aiohttp

    target = scenario_url(url, delay_ms)
    start = time.perf_counter()
    begin, end = start + warmup_s, start + warmup_s + duration_s
    ok = errors = 0
    latency_sum = 0.0

    async def user(session: aiohttp.ClientSession) -> None:
        nonlocal ok, errors, latency_sum
        while time.perf_counter() < end:
            sent = time.perf_counter()
            try:
                async with session.get(target) as response:
                    await response.read()
                    good = response.status < 400
            except aiohttp.ClientError:
                good = False
            done = time.perf_counter()
            if begin <= done <= end:
                if good:
                    ok += 1
                    latency_sum += done - sent
                else:
                    errors += 1

    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(user(session)) for _ in range(conns)]
        await asyncio.sleep(max(0.0, begin - time.perf_counter()))
        cpu0, wall0, server0 = time.process_time(), time.perf_counter(), process_cpu_s(server_pid)
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        cpu1, wall1, server1 = time.process_time(), time.perf_counter(), process_cpu_s(server_pid)
        await asyncio.wait(tasks, timeout=15)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "requests": ok + errors,
        "errors": errors,
        "ok": ok,
        "duration_s": duration_s,
        "latency_mean_ms": 1000 * latency_sum / ok if ok else None,
        "cpu_pct": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "server_cpu_pct": cpu_pct(server0, server1, wall1 - wall0),
    }


def child_main(args: argparse.Namespace) -> int:
    level = (args.url, args.delay_ms, args.conns, args.duration, args.warmup, args.server_pid)
    if args.child == "aiohttp":
        out = asyncio.run(_child_aiohttp(*level))
    else:
        out = asyncio.run(_child_generator(args.child, *level))
    print(json.dumps(out), flush=True)
    return 0


# --- the parent ----------------------------------------------------------------------------


def run_python_client(
    client: str,
    server: ServerProcess,
    *,
    delay_ms: float,
    conns: int,
    duration_s: float,
    warmup_s: float,
) -> ClientResult:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        client,
        "--url",
        server.url,
        "--server-pid",
        str(server.pid),
        "--delay-ms",
        f"{delay_ms:g}",
        "--conns",
        str(conns),
        "--duration",
        str(duration_s),
        "--warmup",
        str(warmup_s),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, env=checkout_env(), timeout=duration_s + 120
    )
    if result.returncode != 0:
        raise RuntimeError(f"{client} failed:\n{result.stderr[-2000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    return ClientResult(
        client=client,
        connections=conns,
        delay_ms=delay_ms,
        duration_s=out["duration_s"],
        requests=out["requests"],
        errors=out["errors"],
        throughput_rps=out["ok"] / out["duration_s"],
        latency_mean_ms=out["latency_mean_ms"],
        client_cpu_pct=out["cpu_pct"],
        server_cpu_pct=out["server_cpu_pct"],
    )


def measure(
    client: str,
    server: ServerProcess,
    wrk: str | None,
    *,
    delay_ms: float,
    conns: int,
    duration_s: float,
    warmup_s: float,
) -> ClientResult | None:
    if client == "wrk":
        if wrk is None:
            return None
        return run_wrk(
            wrk,
            scenario_url(server.url, delay_ms),
            connections=conns,
            duration_s=duration_s,
            delay_ms=delay_ms,
            server=server,
        )
    return run_python_client(
        client, server, delay_ms=delay_ms, conns=conns, duration_s=duration_s, warmup_s=warmup_s
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(
        parser, out=DEFAULT_OUT, per="client and level", warmup_of="the Python clients'"
    )
    parser.add_argument("--runs", type=int, default=2, choices=range(1, 6))
    parser.add_argument("--clients", default=",".join(DEFAULT_CLIENTS))
    parser.add_argument("--zero-levels", type=int_list, default=[1, 10, 50, 100])
    parser.add_argument("--delay-levels", type=int_list, default=[1, 10, 50, 100, 400])
    parser.add_argument("--delay-ms", type=float, default=50.0, help="the delayed route's ms")
    # Child mode (internal): one client, one level, prints one JSON line.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--conns", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    require_this_checkout()
    if args.child:
        return child_main(args)

    clients = [name.strip() for name in args.clients.split(",") if name.strip()]
    wrk = ensure_wrk() if "wrk" in clients else None
    plan = [(0.0, conns) for conns in args.zero_levels]
    plan += [(args.delay_ms, conns) for conns in args.delay_levels]
    results: list[dict[str, object]] = []
    rows: list[list[str]] = []
    with ServerProcess() as server:
        print(f"server process {server.pid} at {server.url}", flush=True)
        for run in range(1, args.runs + 1):
            for delay_ms, conns in plan:
                for client in clients:
                    result = measure(
                        client,
                        server,
                        wrk,
                        delay_ms=delay_ms,
                        conns=conns,
                        duration_s=args.duration,
                        warmup_s=args.warmup,
                    )
                    if result is None:
                        continue
                    row = result.to_json()
                    row["run"] = run
                    results.append(row)
                    cells = [
                        str(run),
                        f"{delay_ms:g}",
                        str(conns),
                        client,
                        fmt(result.throughput_rps),
                        fmt(result.latency_mean_ms, 1),
                        fmt(result.client_cpu_pct),
                        fmt(result.server_cpu_pct),
                        str(result.errors),
                    ]
                    rows.append(cells)
                    print("  ".join(cells), flush=True)
    print()
    header = ["run", "delay", "conns", "client", "req/s", "lat ms", "cli cpu%", "srv cpu%", "err"]
    print(table(rows, header))
    write_json(
        args.out,
        {
            "benchmark": "sender_matrix",
            **machine_info(),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rows": results,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
