"""Where the shared loop's CPU goes per request, and what each cut saves: variants side by side.

`loopscope run`'s shape in one process: the embedded demo server and the generator on one
asyncio loop, `async` route. Each variant (HTTP parser x garbage-collection thresholds)
runs in turn, round after round, so a machine that slows down mid-way slows every variant
alike; the figures are medians over the rounds and ratios to the first variant:

Variants (`--variants`): uvicorn's HTTP parser and the garbage-collection policy
(loadgen/_gc_policy.py); h11/700 is how LoopScope ran before, httptools/paced is how it
runs now. (The sender's fast path is in every variant: bench/gui_load.py and a run of the
previous commit side by side measure it.)

- CPU per request (process CPU time / answered requests) at `--light` users, below what
  one core can carry: the per-request budget, not disturbed by queueing.
- throughput / theory and loop lag p99 at `--heavy` users (the slider's top).

Writes bench/results/loop_cost.json. Not part of the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from _support import RESULTS, machine_info, require_this_checkout, write_json

from loopscope.embedded_server import EmbeddedServer, ServerSettings, create_app
from loopscope.loadgen import LoadedServer, RunSettings, gc_tuned_for_load, measure

DEFAULT_GC = gc.get_threshold()


@contextlib.contextmanager
def _thresholds(young: int) -> Iterator[None]:
    """Automatic collection with this young-generation threshold (700: Python's own)."""
    gc.set_threshold(young, *DEFAULT_GC[1:])
    gc.collect()
    try:
        yield
    finally:
        gc.set_threshold(*DEFAULT_GC)


async def one_run(http: str, users: int, delay_ms: float, seconds: float) -> dict[str, float]:
    server = EmbeddedServer(create_app(ServerSettings()), http=http)
    await server.start()
    try:
        settings = RunSettings(
            scenario="async",
            concurrency=users,
            delay_ms=delay_ms,
            duration_s=seconds,
            warmup_s=1.0,
            ramp_s=delay_ms / 1000,
        )
        answered = 0

        def count(_record: object) -> None:
            nonlocal answered
            answered += 1

        cpu_before = time.process_time()
        loaded = LoadedServer(server.url, loop_lag=server.probes.loop_lag)
        result = await measure(settings, loaded, sink=count)
        cpu_s = time.process_time() - cpu_before
    finally:
        await server.stop()
    assert result.health is not None
    return {
        "throughput_ratio": result.summary.throughput_rps / (users / (delay_ms / 1000)),
        "cpu_us_per_request": cpu_s / max(1, answered) * 1e6,
        "loop_lag_p99_ms": result.health.loop_lag_p99_ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--variants",
        default="h11/700,httptools/700,h11/paced,httptools/paced",
        help="PARSER/GC,...: uvicorn's parser, and garbage collection: a young-generation "
        "threshold for Python's automatic collection (700: its default), or 'paced' (the "
        "CLI's policy: loadgen.gc_tuned_for_load); the first is the baseline",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--light", type=int, default=300)
    parser.add_argument("--heavy", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "loop_cost.json")
    args = parser.parse_args()
    require_this_checkout()
    variants = [tuple(v.split("/")) for v in args.variants.split(",")]
    runs: dict[str, dict[str, list[float]]] = {}
    for round_no in range(args.rounds):
        for http, gen0 in variants:
            name = f"{http}/{gen0}"
            if gen0 == "paced":  # as the CLI runs: loadgen.gc_tuned_for_load
                policy = gc_tuned_for_load(freeze=True, paced=True)
            else:
                policy = _thresholds(int(gen0))
            with policy:
                light = asyncio.run(one_run(http, args.light, args.delay_ms, args.seconds))
                heavy = asyncio.run(one_run(http, args.heavy, args.delay_ms, args.seconds))
            row = runs.setdefault(name, {"cpu_us": [], "heavy_ratio": [], "heavy_lag_p99": []})
            row["cpu_us"].append(light["cpu_us_per_request"])
            row["heavy_ratio"].append(heavy["throughput_ratio"])
            row["heavy_lag_p99"].append(heavy["loop_lag_p99_ms"])
            print(
                f"round {round_no + 1} {name:>16}: {light['cpu_us_per_request']:6.0f} us/request "
                f"at {args.light}; {args.heavy} users: {heavy['throughput_ratio']:.2f} of theory, "
                f"lag p99 {heavy['loop_lag_p99_ms']:.0f} ms",
                flush=True,
            )
    first = next(iter(runs))
    base_cpu = statistics.median(runs[first]["cpu_us"])
    rows = []
    for name, row in runs.items():
        cpu = statistics.median(row["cpu_us"])
        rows.append(
            {
                "variant": name,
                "cpu_us_per_request": round(cpu),
                "cpu_vs_first": round(cpu / base_cpu, 2),
                "heavy_throughput_ratio": round(statistics.median(row["heavy_ratio"]), 2),
                "heavy_lag_p99_ms": round(statistics.median(row["heavy_lag_p99"])),
                "rounds": {k: [round(x, 2) for x in v] for k, v in row.items()},
            }
        )
        print(
            f"{name:>16}: {cpu:6.0f} us/request ({cpu / base_cpu:.2f} of {first}); "
            f"{args.heavy} users {rows[-1]['heavy_throughput_ratio']} of theory, "
            f"lag p99 {rows[-1]['heavy_lag_p99_ms']} ms"
        )
    write_json(
        args.out,
        {
            "benchmark": "loop_cost",
            **machine_info(),
            "light_users": args.light,
            "heavy_users": args.heavy,
            "delay_ms": args.delay_ms,
            "seconds": args.seconds,
            "rows": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
