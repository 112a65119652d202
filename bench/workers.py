"""Processes beat the GIL: `cpu-sync` with the server in its own process, 1 worker vs 2.

Two closed-loop runs through `loadgen.run_load` (what `loopscope run --workers N` does),
one after the other at the same users, each beside its theory (workers x cores-share for
a CPU route). With each worker a process of its own, each has its own GIL, so on a
machine with 2 cores the second worker should nearly double the throughput; the ratio
(2 workers / 1 worker) is the row to read. The generator runs in this process and needs
a share of a core too, so the ratio stays below 2.

This is a benchmark, not a test; it takes about 20 s with the defaults.

    python bench/workers.py [--users 8] [--duration 8] [--iterations 50000]
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from _support import machine_info, require_this_checkout, write_json

from loopscope.loadgen import RunSettings, run_load

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
    write_json(
        args.out,
        {"machine": machine_info(), "runs": rows, "ratio_2_over_1": round(ratio, 2)},
    )


if __name__ == "__main__":
    main()
