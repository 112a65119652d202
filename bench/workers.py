"""Processes beat the GIL: `cpu-sync` with the server in its own process, 1 worker vs 2.

Two closed-loop runs through `loadgen.run_load` (what `loopscope run --workers N` does),
one after the other at the same users, each beside its theory (workers x cores-share for
a CPU route). With each worker a process of its own, each has its own GIL, so on a
machine with 2 cores the second worker should nearly double the throughput; the ratio
(2 workers / 1 worker) is the row to read. The generator runs in this process and needs
a share of a core too, so the ratio stays below 2.

Then it fits the CPU theory's cost of a request's HTTP handling on a worker
(`loadgen._cpu_cost.SERVER_HTTP_ITERATIONS`): `cpu-async` with 2 users against 1 worker at
two sizes of work; each run's throughput against the speed sampled while it ran says how
many work-loop iterations a request cost beyond its work (`cpu_http_fit`).

This is a benchmark, not a test; it takes about 40 s with the defaults. Keep the machine
quiet: two workers need two free cores.

    python bench/workers.py [--users 8] [--duration 8] [--iterations 50000]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from _support import machine_info, require_this_checkout, write_json

from loopscope.loadgen import RunSettings, run_load
from loopscope.loadgen._cpu_cost import SERVER_HTTP_ITERATIONS

OUT = Path(__file__).parent / "results" / "workers.json"


async def _measure(users: int, duration_s: float, iterations: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for workers in (1, 2):
        settings = RunSettings(
            scenario="cpu-sync",
            concurrency=users,
            duration_s=duration_s,
            warmup_s=min(2.0, duration_s / 4),
            iterations=iterations,
            server_process=True,
            workers=workers,
        )
        result = await run_load(settings)
        rows.append(
            {
                "workers": workers,
                "users": users,
                "throughput_rps": round(result.summary.throughput_rps, 1),
                "theory_rps": round(result.prediction.throughput_rps, 1),
                "latency_p50_ms": round(result.summary.latency.p50, 1),
                "generator_limited": result.generator_limited,
            }
        )
    return rows


async def _fit_http_iterations(duration_s: float) -> list[dict[str, object]]:
    """Iterations a request costs a worker beyond its work: cpu-async (no thread contends
    for the worker's GIL), 2 users, 1 worker, at 5 000 and 50 000 iterations of work."""
    rows: list[dict[str, object]] = []
    for iterations in (5_000, 50_000):
        settings = RunSettings(
            scenario="cpu-async",
            concurrency=2,
            duration_s=duration_s,
            warmup_s=min(2.0, duration_s / 4),
            iterations=iterations,
            server_process=True,
        )
        result = await run_load(settings)
        # The theory's service time is (iterations + SERVER_HTTP_ITERATIONS) / speed.
        speed = (iterations + SERVER_HTTP_ITERATIONS) / result.prediction.service_time_s
        implied = speed / result.summary.throughput_rps - iterations
        rows.append(
            {
                "iterations": iterations,
                "throughput_rps": round(result.summary.throughput_rps, 1),
                "theory_rps": round(result.prediction.throughput_rps, 1),
                "implied_http_iterations": round(implied),
            }
        )
    return rows


def main() -> None:
    require_this_checkout()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--iterations", type=int, default=50_000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    rows = asyncio.run(_measure(args.users, args.duration, args.iterations))
    one, two = (float(str(row["throughput_rps"])) for row in rows)
    ratio = two / one if one else float("nan")
    for row in rows:
        print(
            f"cpu-sync, {row['users']} users, {row['workers']} worker(s): "
            f"{row['throughput_rps']} req/s (theory {row['theory_rps']}), "
            f"p50 {row['latency_p50_ms']} ms"
        )
    print(f"2 workers / 1 worker: {ratio:.2f}x")
    fit = asyncio.run(_fit_http_iterations(args.duration))
    for row in fit:
        print(
            f"cpu-async, 2 users, 1 worker, {row['iterations']} iterations: "
            f"{row['throughput_rps']} req/s (theory {row['theory_rps']}): a request's HTTP "
            f"handling ~ {row['implied_http_iterations']} iterations "
            f"(SERVER_HTTP_ITERATIONS = {SERVER_HTTP_ITERATIONS})"
        )
    write_json(
        args.out,
        {
            "machine": machine_info(),
            "runs": rows,
            "ratio_2_over_1": round(ratio, 2),
            "cpu_http_fit": fit,
        },
    )


if __name__ == "__main__":
    main()
