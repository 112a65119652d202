"""Does LoopScope measure what Little's law predicts, and up to how many users?

Closed-loop runs through `loadgen.run_load` (what `loopscope run` does), each compared
with theory (`loadgen.theory`: X = min(N, c) / d, R = N / X), in two setups:

1. shared loop: the embedded server and the generator on one event loop in one process
   (`run_load` without a target, as in the desktop app);
2. separate server: `loopscope serve` in its own process on 127.0.0.1, loaded by
   `run_load(target=URL)`.

Rows: `async` at 10, 50, 100, 200, 500, 1000 users and `sync` (40 threads) at 10, 50,
100, 200 users. A row is "ok" when measured/theory lies within 10 % for both throughput
and mean latency (Little's law is a law of means; p50 is shown beside it: with 50 users
on 40 threads, say, latencies split into 200 and 400 ms and p50 is not the mean). The
script reports, per setup and async delay, the highest number of users up to which every
async row is ok.

Why these delays. Theory has no CPU in it: X = N / d holds only while N / d requests a
second cost the one Python core of the server (and, in the shared loop, the generator on
that same core) well under a second of CPU per second. uvicorn/h11 serves about 3 k
req/s at best on this 2-core machine, and the generator costs ~0.3 ms of CPU a request,
so:

- async, 1000 ms (default): 1000 users ask for 1000 req/s, a load one core can carry in
  both setups; this is the desktop app's own regime (its "Sync vs async" lesson waits
  1 s, the users slider stops at 1000), so the table says up to where the app's numbers
  can be trusted.
- async, 200 ms (second table, skip with --async-delays-ms 1000): 1000 users ask for
  5000 req/s, more than the server can parse at all; the table shows where CPU, not
  queueing, takes over.
- sync, 200 ms with 40 threads: at most 200 req/s, and R = N / X reaches 1 s at 200
  users, so the 1 s warm-up already covers one full cycle of the queue.

Both delays divide the warm-up (1 s) and the run (5 s), so users who start in lock-step
(`run_load` starts them all at once) cross the window edges the same way every run
instead of adding or losing a cycle.

This is a benchmark, not a test; it takes about 4 minutes with the defaults.

    python bench/littles_law.py [--duration 5] [--warmup 1] [--async-delays-ms 1000,200]
        [--sync-delay-ms 200] [--setups shared,separate]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from _support import (
    RESULTS,
    MeasuredRun,
    ServerProcess,
    add_run_arguments,
    fmt,
    int_list,
    machine_info,
    nan_none,
    positive_float,
    ratio,
    require_this_checkout,
    run_load_measured,
    table,
    theory_cells,
    within,
    write_json,
)

from loopscope import loadgen

TOLERANCE = 0.10
THREADS = 40
ASYNC_USERS = (10, 50, 100, 200, 500, 1000)
SYNC_USERS = (10, 50, 100, 200)
SETUPS = ("shared", "separate")
DEFAULT_OUT = RESULTS / "littles_law.json"


@dataclass(frozen=True, slots=True)
class Row:
    setup: str
    run: MeasuredRun

    @property
    def result(self) -> loadgen.RunResult:
        return self.run.result

    @property
    def scenario(self) -> str:
        return self.result.settings.scenario

    @property
    def users(self) -> int:
        return self.result.settings.concurrency

    @property
    def delay_ms(self) -> float:
        return self.result.settings.delay_ms

    @property
    def throughput_ratio(self) -> float:
        return ratio(self.result.summary.throughput_rps, self.result.prediction.throughput_rps)

    @property
    def latency_ratio(self) -> float:
        # Little's law speaks of the mean time in the system, so the mean it is; p50 differs
        # when latencies split in two (e.g. sync, 50 users, 40 threads: 200 or 400 ms).
        return ratio(self.result.summary.latency.mean, self.result.prediction.latency_ms)

    @property
    def ok(self) -> bool:
        return within(self.throughput_ratio, TOLERANCE) and within(self.latency_ratio, TOLERANCE)

    def cells(self) -> list[str]:
        s, p = self.result.summary, self.result.prediction
        errors = sum(s.errors.values())
        return [
            self.setup,
            self.scenario,
            str(self.users),
            f"{self.delay_ms:g}",
            *theory_cells(s.throughput_rps, p.throughput_rps, s.latency.mean, p.latency_ms),
            fmt(s.latency.p50, 1),
            fmt(self.run.cpu_pct),
            fmt(self.run.server_cpu_pct),
            str(errors),
            "ok" if self.ok else "OFF",
        ]

    def to_json(self) -> dict[str, object]:
        row = self.result.to_json()
        row["setup"] = self.setup
        row["throughput_ratio"] = nan_none(self.throughput_ratio, 3)
        row["latency_mean_ratio"] = nan_none(self.latency_ratio, 3)
        row["within_tolerance"] = self.ok
        row["bench_process_cpu_pct"] = round(self.run.cpu_pct, 1)
        server_pct = self.run.server_cpu_pct
        row["server_process_cpu_pct"] = None if server_pct is None else round(server_pct, 1)
        return row


HEADER = [
    "setup",
    "scenario",
    "users",
    "delay",
    "X meas",
    "X theory",
    "ratio",
    "R mean",
    "R theory",
    "ratio",
    "p50",
    "cpu% here",
    "cpu% srv",
    "err",
    "",
]


def measure(
    setup: str,
    scenario: str,
    users: int,
    delay_ms: float,
    *,
    duration_s: float,
    warmup_s: float,
    server: ServerProcess | None,
) -> Row:
    settings = loadgen.RunSettings(
        scenario=scenario,
        concurrency=users,
        delay_ms=delay_ms,
        duration_s=warmup_s + duration_s,
        warmup_s=warmup_s,
        threads=THREADS,
        target=server.url if server is not None else None,
    )
    return Row(setup, run_load_measured(settings, server))


def highest_ok(rows: Sequence[Row]) -> int | None:
    """The most users up to which every row (by users, ascending) is ok; None: not even one."""
    best = None
    for row in sorted(rows, key=lambda r: r.users):
        if not row.ok:
            break
        best = row.users
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Little's-law fidelity: shared loop vs separate server process."
    )
    add_run_arguments(parser, out=DEFAULT_OUT, per="row")
    parser.add_argument(
        "--async-delays-ms",
        type=int_list,
        default=[1000, 200],
        help="delays for the async rows (default 1000,200)",
    )
    parser.add_argument(
        "--sync-delay-ms", type=positive_float, default=200.0, help="sync rows' delay (200)"
    )
    parser.add_argument("--setups", default=",".join(SETUPS), help="shared,separate (default both)")
    args = parser.parse_args(argv)
    setups = [name.strip() for name in args.setups.split(",") if name.strip()]
    if not setups or any(name not in SETUPS for name in setups):
        parser.error(f"--setups: choose from {', '.join(SETUPS)}")
    require_this_checkout()

    plan: list[tuple[str, int, float]] = [
        ("async", users, float(delay)) for delay in args.async_delays_ms for users in ASYNC_USERS
    ]
    plan += [("sync", users, args.sync_delay_ms) for users in SYNC_USERS]
    print(
        f"Little's law fidelity: {len(plan)} runs x {len(setups)} setups, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s each; ok = both ratios within "
        f"{1 - TOLERANCE:.1f}-{1 + TOLERANCE:.1f}; sync with {THREADS} threads",
        flush=True,
    )
    rows: list[Row] = []
    for setup in setups:
        server = ServerProcess(threads=THREADS) if setup == "separate" else None
        try:
            if server is not None:
                server.start()
                print(f"separate server: pid {server.pid}, {server.url}", flush=True)
            for scenario, users, delay_ms in plan:
                row = measure(
                    setup,
                    scenario,
                    users,
                    delay_ms,
                    duration_s=args.duration,
                    warmup_s=args.warmup,
                    server=server,
                )
                rows.append(row)
                print("  ".join(row.cells()), flush=True)
        finally:
            if server is not None:
                server.stop()

    print()
    print(table([row.cells() for row in rows], HEADER))
    print()
    verdicts: list[dict[str, object]] = []
    for setup in setups:
        for delay in args.async_delays_ms:
            picked = [
                r
                for r in rows
                if (r.setup, r.scenario, r.delay_ms) == (setup, "async", float(delay))
            ]
            best = highest_ok(picked)
            verdicts.append({"setup": setup, "async_delay_ms": delay, "highest_ok_users": best})
            said = "none" if best is None else f"{best} users"
            print(f"{setup:>8}: async at {delay} ms within {TOLERANCE:.0%} of theory up to {said}")
        sync_rows = [r for r in rows if r.setup == setup and r.scenario == "sync"]
        ok_sync = sum(r.ok for r in sync_rows)
        print(f"{setup:>8}: sync rows within {TOLERANCE:.0%}: {ok_sync} of {len(sync_rows)}")

    write_json(
        args.out,
        {
            "benchmark": "littles_law",
            **machine_info(),
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "tolerance": TOLERANCE,
            "threads": THREADS,
            "verdicts": verdicts,
            "rows": [row.to_json() for row in rows],
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
