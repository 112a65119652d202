"""How the window copes with heavy load on its own loop: loop lag and chart redraw cost.

Opens the real window offscreen, runs `async` at the given numbers of users (1000 by
default, the slider's top), and measures over the run: the event-loop lag (p50, p99,
max, from the server's 10 ms probe) and the cost of one full chart refresh (series +
probes + painting all six plots). Not part of the tests; writes bench/results/gui_load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path

from _support import RESULTS, machine_info, require_this_checkout, write_json

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


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


async def measure(users: int, delay_ms: float, seconds: float) -> dict[str, object]:
    import numpy as np

    from loopscope.desktop_app.session import LabSession
    from loopscope.desktop_app.window import MainWindow
    from loopscope.loadgen import freeze_startup_objects

    session = LabSession()
    await session.open()
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
    redraw_ms: list[float] = []
    end = since + seconds
    while time.perf_counter() < end:
        await asyncio.sleep(1.0)
        started = time.perf_counter()
        snap = session.snapshot()
        window.charts.update_from(snap)
        window.table.show_snapshot(snap)
        for plot in window.charts.plots():
            plot.grab()  # forces the paint a screen refresh would do
        redraw_ms.append((time.perf_counter() - started) * 1000)
    session.recorder.end_measurement()
    gc.callbacks.remove(pauses)
    lags = np.array(session.server.probes.loop_lag.lags_since(since)) * 1000
    summary = session.recorder.summary("async")
    await window.stop()
    await session.close()
    return {
        "users": users,
        "delay_ms": delay_ms,
        "seconds": seconds,
        "throughput_rps": round(summary.throughput_rps, 1),
        "theory_rps": round(users / (delay_ms / 1000), 1),
        "latency_p50_ms": round(summary.latency.p50, 1),
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", default="100,1000", help="comma-separated user counts")
    parser.add_argument("--delay-ms", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "gui_load.json")
    parser.add_argument(
        "--gc",
        choices=("gui-thread", "automatic"),
        default="gui-thread",
        help="garbage collection as the app does it (GUI thread only) or Python's default",
    )
    parser.add_argument(
        "--loop",
        choices=("lab", "qasync"),
        default="lab",
        help="the app's loop (LabEventLoop) or qasync's own, for a side-by-side comparison",
    )
    args = parser.parse_args()
    require_this_checkout()

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
    rows = []
    for users in (int(u) for u in args.users.split(",")):
        factory = LabEventLoop if args.loop == "lab" else qasync.QEventLoop
        with asyncio.Runner(loop_factory=factory) as runner:
            row = runner.run(measure(users, args.delay_ms, args.seconds))
        row["gc"] = args.gc
        row["loop"] = args.loop
        rows.append(row)
        lag = row["loop_lag_ms"]
        redraw = row["redraw_ms"]
        assert isinstance(lag, dict) and isinstance(redraw, dict)
        print(
            f"{users:>5} async users, {args.delay_ms:g} ms: {row['throughput_rps']} req/s "
            f"(theory {row['theory_rps']}), loop lag p50 {lag['p50']} ms p99 {lag['p99']} ms "
            f"max {lag['max']} ms; chart refresh median {redraw['median']} ms "
            f"max {redraw['max']} ms; garbage collection {row['gc_pauses']}"
        )
    write_json(args.out, {"benchmark": "gui_load", **machine_info(), "rows": rows})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
