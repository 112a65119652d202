"""Draws a sweep as a PNG: `python -m loopscope.desktop_app.sweep_png sweep.json out.png`.

Runs in a process of its own (started by `loopscope sweep --png` through
`loopscope._sweep_png.render_sweep_png`, with QT_QPA_PLATFORM=offscreen), so that a
headless sweep never imports Qt. Input: the list of run objects `sweep --json`
writes. Two panels, throughput and latency p50 against the load level (users, or the
offered rate for an open loop), one colour per scenario, theory dashed.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from loopscope.desktop_app.palette import SCENARIO_LABELS, colour_of

Run = dict[str, Any]

WIDTH, HEIGHT = 1500, 620
FONT_PT = 13
LINE_WIDTH = 3.0
FOREGROUND = "#202020"
MUTED = "#777777"


def _level(run: Run) -> float:
    return float(run["rate"] if run["mode"] == "open" else run["concurrency"])


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _by_scenario(runs: Sequence[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(str(run["scenario"]), []).append(run)
    for steps in grouped.values():
        steps.sort(key=_level)
    return grouped


def _theory_curves(
    run: Run, xs: np.ndarray[Any, np.dtype[np.float64]], open_loop: bool
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]]:
    """(throughput, latency ms) theory at each x; latency NaN where it has no bound."""
    theory = run["theory"]
    if theory["service_time_ms"] is None:  # a route of the user's own: no theory
        return np.full_like(xs, np.nan), np.full_like(xs, np.nan)
    capacity = math.inf if theory["capacity"] is None else float(theory["capacity"])
    service_s = float(theory["service_time_ms"]) / 1000
    if service_s <= 0:
        return np.full_like(xs, np.nan), np.full_like(xs, np.nan)
    if open_loop:
        max_rps = capacity / service_s
        throughput = np.minimum(xs, max_rps)
        latency = np.where(xs < max_rps, service_s * 1000, np.nan)
        return throughput, latency
    throughput = np.minimum(xs, capacity) / service_s
    # Little's law R = N / X; at N = 0 nobody waits longer than the service time.
    latency = np.maximum(xs / np.maximum(capacity, 1e-12), 1.0) * service_s * 1000
    return throughput, latency


def _dense(levels: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    xs = np.linspace(0.0, max(levels), 400)
    return np.unique(np.concatenate([xs, np.asarray(levels, dtype=float)]))


def _style_plot(plot: Any, title: str, left: str, bottom: str) -> None:
    plot.setTitle(title, size=f"{FONT_PT + 2}pt", color=FOREGROUND)
    tick_font = QFont()
    tick_font.setPointSize(FONT_PT - 1)
    label_style = {"font-size": f"{FONT_PT}pt", "color": FOREGROUND}
    # A fixed width: pyqtgraph sizes the left axis before the tick labels are known,
    # and its label then overlaps four-digit ticks.
    plot.getAxis("left").setWidth(78)
    for name, text in (("left", left), ("bottom", bottom)):
        axis = plot.getAxis(name)
        axis.setStyle(tickFont=tick_font)
        axis.setPen(FOREGROUND)
        axis.setTextPen(FOREGROUND)
        axis.setLabel(text, **label_style)
    plot.showGrid(x=True, y=True, alpha=0.25)


def render(runs: Sequence[Run], out: Path) -> None:
    """Draw `runs` (sweep --json) into `out`."""
    if not runs:
        raise ValueError("the sweep has no steps to draw")
    open_loop = runs[0]["mode"] == "open"
    levels = sorted({_level(run) for run in runs})
    # A linear axis: theory is then straight lines with one knee at the capacity, and
    # the measured points, joined by straight segments, compare with it honestly (on a
    # log axis a chord between two levels looks like a departure from theory).
    xs = _dense(levels)

    _app = QApplication.instance() or QApplication([])  # alive while the picture is drawn
    pg.setConfigOptions(antialias=True, background="w", foreground=FOREGROUND)
    layout = pg.GraphicsLayoutWidget()
    layout.resize(WIDTH, HEIGHT)
    _add_title(layout, runs[0], open_loop)
    throughput, latency = _add_panels(layout, runs[0], open_loop, levels)
    # (rate where theory's latency stops being finite, its last value, colour)
    unbounded_at: list[tuple[float, float, str]] = []
    crossed = False  # the legend names the cross once
    for order, (scenario, steps) in enumerate(_by_scenario(runs).items()):
        colour = colour_of(scenario, order)
        theory_ms = _plot_scenario(throughput, latency, scenario, colour, steps, xs, open_loop)
        crossed = _cross_out_limited(throughput, latency, steps, named=not crossed) or crossed
        if open_loop:
            _plot_uncorrected(latency, colour, steps)
            finite = np.isfinite(theory_ms)
            if not finite.all() and finite.any():
                edge = int(np.flatnonzero(finite).max())
                unbounded_at.append((float(xs[edge]), float(theory_ms[edge]), colour))
    x_max = max(levels) * 1.03
    for plot in (throughput, latency):
        top = _top(plot)
        plot.setYRange(-0.02 * top, top, padding=0)
        plot.setXRange(0, x_max, padding=0)
    if unbounded_at:
        _mark_unbounded(latency, unbounded_at, x_max)
    _save(layout, out)


def _save(layout: Any, out: Path) -> None:
    """Paint the picture once and write it to `out` (the sweep's and the audit's alike)."""
    layout.show()
    QApplication.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not layout.grab().save(str(out), "PNG"):
        raise OSError(f"cannot write {out}")
    layout.close()


def _add_title(layout: Any, first: Run, open_loop: bool) -> None:
    """The sweep's workload, from its first step, across both panels."""
    threads = f", {first['threads']} threads" if first.get("threads") else ""
    kind = "open loop" if open_loop else "closed loop"
    route = first.get("route")
    # A route of the user's own has no delay of ours: name its app instead.
    what = f"{route['app']}" if isinstance(route, dict) else f"delay {first['delay_ms']:g} ms"
    _title(
        layout,
        f"LoopScope sweep ({kind}): {what}{threads}, "
        f"{first['duration_s']:g} s per step ({first['warmup_s']:g} s warm-up)",
    )


def _title(layout: Any, text: str) -> None:
    """A picture's title line, across both panels (the sweep's and the audit's alike)."""
    layout.addLabel(text, row=0, col=0, colspan=2, size=f"{FONT_PT + 3}pt", color=FOREGROUND)


def _add_panels(
    layout: Any, first: Run, open_loop: bool, levels: Sequence[float]
) -> tuple[Any, Any]:
    """The throughput and latency panels, titled, with their legends and level ticks."""
    level_name = "offered rate (requests / s)" if open_loop else "users (concurrent requests)"
    throughput = layout.addPlot(row=1, col=0)
    latency = layout.addPlot(row=1, col=1)
    # Routes of the user's own have no theory line to explain.
    notes = [] if isinstance(first.get("route"), dict) else ["dashed: theory"]
    throughput_title = "Throughput" + (f" ({notes[0]})" if notes else "")
    _style_plot(throughput, throughput_title, "throughput (requests / s)", level_name)
    if open_loop:
        notes.append("dotted: uncorrected")
    latency_title = "Latency p50" + (f" ({'; '.join(notes)})" if notes else "")
    _style_plot(latency, latency_title, "latency p50 (ms)", level_name)
    ticks = [[(level, f"{level:g}") for level in levels]]
    for plot in (throughput, latency):
        plot.addLegend(  # kept alive by its plot
            offset=(12, 12),
            labelTextSize=f"{FONT_PT - 1}pt",
            labelTextColor=FOREGROUND,
            brush=pg.mkBrush("#FFFFFFD0"),
            pen=pg.mkPen(MUTED),
        )
    for plot in (throughput, latency):
        # Ticks at the levels measured, and no others: the reader sees where the points are.
        plot.getAxis("bottom").setTicks(ticks)
    return throughput, latency


def _plot_scenario(
    throughput: Any,
    latency: Any,
    scenario: str,
    colour: str,
    steps: Sequence[Run],
    xs: np.ndarray[Any, np.dtype[np.float64]],
    open_loop: bool,
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """One scenario's theory (dashed) and measured points (solid); returns its theory
    latency at each x."""
    label = SCENARIO_LABELS.get(scenario, scenario)
    x = [_level(run) for run in steps]
    measured_rps = [_number(run["throughput_rps"]) for run in steps]
    measured_p50 = [_number(run["latency_ms"]["p50"]) for run in steps]
    solid = pg.mkPen(colour, width=LINE_WIDTH)
    dashed = pg.mkPen(colour, width=LINE_WIDTH * 0.7, style=Qt.PenStyle.DashLine)
    symbol = {"symbol": "o", "symbolSize": 11, "symbolBrush": colour, "symbolPen": "w"}
    theory_rps, theory_ms = _theory_curves(steps[0], xs, open_loop)
    throughput.plot(xs, theory_rps, pen=dashed)
    throughput.plot(x, measured_rps, pen=solid, name=label, **symbol)
    latency.plot(xs, theory_ms, pen=dashed, connect="finite")
    latency.plot(x, measured_p50, pen=solid, name=label, **symbol)
    return theory_ms


def _plot_uncorrected(latency: Any, colour: str, steps: Sequence[Run]) -> None:
    """An open loop's latency counted from each request's actual send, dotted."""
    x = [_level(run) for run in steps]
    uncorrected = [_number(run["latency_uncorrected_ms"]["p50"]) for run in steps]
    dotted = pg.mkPen(colour, width=LINE_WIDTH * 0.6, style=Qt.PenStyle.DotLine)
    latency.plot(x, uncorrected, pen=dotted)


def _cross_out_limited(throughput: Any, latency: Any, steps: Sequence[Run], *, named: bool) -> bool:
    """Cross out the steps where the client, not the server, may have been the limit
    (the legend names the cross when `named`); True when there were any."""
    limited = [run for run in steps if (run.get("generator_health") or {}).get("generator_limited")]
    if not limited:
        return False
    cross = {"symbol": "x", "symbolSize": 20, "symbolBrush": MUTED, "symbolPen": MUTED}
    lx = [_level(run) for run in limited]
    throughput.plot(
        lx,
        [_number(run["throughput_rps"]) for run in limited],
        pen=None,
        name="generator-limited" if named else None,
        **cross,
    )
    latency.plot(lx, [_number(run["latency_ms"]["p50"]) for run in limited], pen=None, **cross)
    return True


def _mark_unbounded(
    latency: Any, unbounded_at: list[tuple[float, float, str]], x_max: float
) -> None:
    """Past capacity theory has no number: its line turns straight up, off the chart."""
    top = _top(latency)
    for x_edge, last_ms, colour in unbounded_at:
        pen = pg.mkPen(colour, width=LINE_WIDTH * 0.7, style=Qt.PenStyle.DashLine)
        latency.plot([x_edge, x_edge], [last_ms, top], pen=pen)
    note = pg.TextItem(
        "dashed, straight up: past capacity, no bound",
        color=MUTED,
        anchor=(1, 0),
    )
    note_font = QFont()
    note_font.setPointSize(FONT_PT - 2)
    note.setFont(note_font)
    latency.addItem(note)
    note.setPos(x_max, top)


def _top(plot: Any) -> float:
    """A y-axis top with room above the highest point, starting from zero."""
    highest = 0.0
    for item in plot.listDataItems():
        _, ys = item.getData()
        if ys is not None and len(ys):
            finite = np.asarray(ys, dtype=float)
            finite = finite[np.isfinite(finite)]
            if len(finite):
                highest = max(highest, float(finite.max()))
    return highest * 1.12 if highest > 0 else 1.0


def render_main(
    argv: Sequence[str], module: str, data: str, render: Callable[[Any, Path], None]
) -> int:
    """A renderer's entry point (`python -m MODULE DATA OUT.png`), the child process
    `render_png_in_child` starts: draws the JSON data into the PNG, offscreen."""
    if len(argv) != 2:
        print(f"usage: python -m {module} {data} OUT.png", file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    render(json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1]))
    return 0


def main(argv: Sequence[str]) -> int:
    return render_main(argv, "loopscope.desktop_app.sweep_png", "SWEEP.json", render)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
