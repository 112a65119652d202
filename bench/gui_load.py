"""How the window copes with heavy load: throughput beside theory, loop lag, chart cost.

Opens the real window offscreen, runs `async` (1 s delay) at each case's users, and
measures over the run: throughput and latency beside theory, the window loop's lag (p50,
p99, max, from a 10 ms probe on it; with the server on that loop, the server's lag too),
the garbage collector's pauses, and the cost of one full chart refresh (series + probes +
painting all six plots). The cases, one after the other in one go:

- lab:N      the app as it ships: server, generator and charts on one LabEventLoop;
- qasync:N   the same on qasync's own QEventLoop (a Qt timer per callback), as before;
- process:N  the server in its own process (--workers), the window's loop free of it.

Not part of the tests; writes bench/results/gui_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import RESULTS, machine_info, require_this_checkout, write_json

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REDRAW_SAMPLES = 5


class GcPauses:
    """Each collection's duration per generation, over the measured span."""

    def __init__(self) -> None:
        self.pauses: list[list[float]] = [[], [], []]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._started)

    def to_json(self) -> dict[str, object]:
        return {
            f"gen{generation}": {
                "count": len(pauses),
                "total_ms": round(sum(pauses) * 1000, 1),
                "max_ms": round(max(pauses, default=0.0) * 1000, 1),
            }
            for generation, pauses in enumerate(self.pauses)
        }


async def measure(
    users: int, delay_ms: float, seconds: float, *, workers: int | None
) -> dict[str, object]:
    """workers: the server in its own process with this many workers (None: on the
    window's loop)."""
    import numpy as np

    from loopscope.desktop_app.session import LabSession, Placement
    from loopscope.desktop_app.window import MainWindow
    from loopscope.loadgen import freeze_startup_objects

    session = LabSession()
    await session.open()
    if workers is not None:
        await session.set_placement(Placement(process=True, workers=workers))
    window = MainWindow(session)
    window.resize(1600, 1000)
    window.show()
    freeze_startup_objects()  # as run_gui does once the window is up
    session.set_scenarios(("async",))
    session.set_users(users)
    session.set_delay(delay_ms)
    window.start()
    await asyncio.sleep(2.0)  # warm-up: users ramp in over one delay
    session.recorder.begin_measurement()
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    since = time.perf_counter()
    # The app paints on its own timers during the run, as it does on screen (the offscreen
    # platform paints too: ~135 plot paints in 10 s here, ~155 under Xvfb). The interval is
    # exactly `seconds`: the loop's stalls bunch closed-loop users into waves a delay apart,
    # and an interval that is not a whole number of delays counts part of a wave too many
    # or too few.
    await asyncio.sleep(seconds)
    session.recorder.end_measurement(at=since + seconds)
    gc.callbacks.remove(pauses)
    # The window's loop (where the generator and the charts run); with the server on it, the
    # server's loop too.
    lags = np.array(session.window_loop_lag.lags_since(since)) * 1000
    # The cost of one full chart refresh (series, probes, all six plots painted), under the
    # same load but after the measured interval, which a forced extra refresh would disturb.
    redraw_ms: list[float] = []
    for _ in range(REDRAW_SAMPLES):
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        snap = session.snapshot()
        window.charts.update_from(snap)
        window.table.show_snapshot(snap)
        for plot in window.charts.plots():
            plot.grab()  # forces the paint a screen refresh would do
        redraw_ms.append((time.perf_counter() - started) * 1000)
    summary = session.recorder.summary("async")
    await window.stop()
    await session.close()
    return {
        "placement": "window's loop" if workers is None else f"own process, {workers} worker(s)",
        "users": users,
        "delay_ms": delay_ms,
        "seconds": seconds,
        "throughput_rps": round(summary.throughput_rps, 1),
        "theory_rps": round(users / (delay_ms / 1000), 1),
        "latency_p50_ms": round(summary.latency.p50, 1),
        "latency_mean_ms": round(summary.latency.mean, 1),
        # Little's law for a closed loop with no think time: a cross-check of the count.
        "little_rps": round(users / (summary.latency.mean / 1000), 1),
        "loop_lag_ms": {
            "p50": round(float(np.percentile(lags, 50)), 1),
            "p99": round(float(np.percentile(lags, 99)), 1),
            "max": round(float(lags.max()), 1),
        },
        "redraw_ms": {
            "median": round(statistics.median(redraw_ms), 1),
            "max": round(max(redraw_ms), 1),
        },
        "gc_pauses": pauses.to_json(),
    }


def one_case(case: str, args: argparse.Namespace) -> int:
    """Measure one case in this process (the parent's child) and write its row to --out."""
    import qasync
    from PySide6.QtWidgets import QApplication

    from loopscope.desktop_app.event_loop import LabEventLoop
    from loopscope.desktop_app.gc_guard import MainThreadGarbageCollector
    from loopscope.loadgen import tune_gc_for_load

    app = QApplication([])  # noqa: F841 (kept alive for the loop)
    collector = MainThreadGarbageCollector()
    tune_gc_for_load()  # as run_gui does
    if args.gc == "gui-thread":
        collector.start()
    loop, _, count = case.partition(":")
    factory = qasync.QEventLoop if loop == "qasync" else LabEventLoop
    workers = args.workers if loop == "process" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        row = runner.run(measure(int(count), args.delay_ms, args.seconds, workers=workers))
    collector.stop()
    row["gc"] = args.gc
    row["loop"] = "qasync.QEventLoop" if loop == "qasync" else "LabEventLoop"
    row["case"] = case
    row["qt_platform"] = os.environ["QT_QPA_PLATFORM"]
    args.out.write_text(json.dumps(row))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--cases",
        default="lab:100,lab:1000,qasync:1000,process:1000",
        help="comma-separated LOOP:USERS: lab (the app: LabEventLoop, server on the "
        "window's loop), qasync (qasync's own loop, as before LabEventLoop), process (the "
        "server in its own process, --workers workers)",
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the cases this many times in turn (this VM's CPU speed drifts for seconds "
        "at a time: medians over rounds, each case beside the others)",
    )
    parser.add_argument("--delay-ms", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "gui_load.json")
    parser.add_argument(
        "--gc",
        choices=("gui-thread", "automatic"),
        default="gui-thread",
        help="garbage collection as the app does it (GUI thread only) or Python's default",
    )
    parser.add_argument("--one-case", help=argparse.SUPPRESS)  # internal: the child's case
    args = parser.parse_args()
    require_this_checkout()
    if args.one_case:
        return one_case(args.one_case, args)

    cases = [case for _ in range(args.rounds) for case in args.cases.split(",")]
    rows = []
    for case in cases:
        # Each case in a process of its own, as the app runs: a case run after another in
        # one process inherits its heap and threads, and measured up to 0.15 lower.
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "case.json"
            command = [
                sys.executable, __file__, "--one-case", case, "--out", str(out),
                "--workers", str(args.workers), "--delay-ms", f"{args.delay_ms:g}",
                "--seconds", f"{args.seconds:g}", "--gc", args.gc,
            ]  # fmt: skip
            subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
            row = json.loads(out.read_text())
        rows.append(row)
        lag = row["loop_lag_ms"]
        redraw = row["redraw_ms"]
        print(
            f"{case:>12}: {row['users']} async users, {args.delay_ms:g} ms: "
            f"{row['throughput_rps']} req/s (theory {row['theory_rps']}, users / mean latency "
            f"{row['little_rps']}), loop lag p50 "
            f"{lag['p50']} ms p99 {lag['p99']} ms max {lag['max']} ms; chart refresh median "
            f"{redraw['median']} ms max {redraw['max']} ms; garbage collection {row['gc_pauses']}",
            flush=True,
        )
    medians = {}
    for case in args.cases.split(","):
        same = [row for row, name in zip(rows, cases, strict=True) if name == case]
        ratios = [float(str(row["throughput_rps"])) / float(str(row["theory_rps"])) for row in same]
        lags = [float(str(row["loop_lag_ms"]["p99"])) for row in same]
        medians[case] = {
            "throughput_over_theory": round(statistics.median(ratios), 3),
            "loop_lag_p99_ms": round(statistics.median(lags), 1),
            "rounds": len(same),
        }
        print(
            f"{case:>12}: median throughput/theory {medians[case]['throughput_over_theory']}, "
            f"loop lag p99 {medians[case]['loop_lag_p99_ms']} ms over {len(same)} rounds"
        )
    write_json(
        args.out, {"benchmark": "gui_load", **machine_info(), "medians": medians, "rows": rows}
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
