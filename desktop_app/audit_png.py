"""Draws an audit as a PNG: `python -m loopscope.desktop_app.audit_png audit.json out.png`.

Runs in a process of its own (started by `loopscope audit --png` through
`loopscope._audit_png.render_audit_png`, with QT_QPA_PLATFORM=offscreen), so that the
command line never imports Qt. Input: the object `audit --json` writes. Two panels,
throughput and latency p50 against the users of each level, one colour per route, its
verdict in the legend; a route that blocks the loop is drawn dashed.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from loopscope.desktop_app.palette import colour_of
from loopscope.desktop_app.sweep_png import (
    FONT_PT,
    FOREGROUND,
    LINE_WIDTH,
    MUTED,
    _number,
    _save,
    _style_plot,
    _title,
    _top,
    render_main,
)

Report = dict[str, Any]

WIDTH, HEIGHT = 1500, 640


def _legend_text(route: Report) -> str:
    verdict = str(route["verdict"])
    if route.get("blocking_sites"):
        site = route["blocking_sites"][0]
        where = f"{Path(str(site['file'])).name}:{site['line']}"
        return f"{route['route']}: {verdict} ({where})"
    detail = str(route.get("detail") or "")
    # Details that are long sentences ("a core busy at ...") stay in the Markdown report.
    short = f", {detail}" if detail and len(detail) <= 24 else ""
    return f"{route['route']}: {verdict}{short}"


def render(report: Report, out: Path) -> None:
    """Draw `report` (audit --json) into `out`."""
    routes: list[Report] = [r for r in report["routes"] if r.get("levels")]
    if not routes:
        raise ValueError("the audit has no route measured to draw")
    levels = sorted({int(level["users"]) for r in routes for level in r["levels"]})

    _app = QApplication.instance() or QApplication([])  # alive while the picture is drawn
    pg.setConfigOptions(antialias=True, background="w", foreground=FOREGROUND)
    layout = pg.GraphicsLayoutWidget()
    layout.resize(WIDTH, HEIGHT)
    blocks = "a route blocks the event loop" if report["blocks_loop"] else "no route blocks it"
    _title(
        layout,
        f"LoopScope audit of {report['app']}: {report['duration_s']:g} s per level, "
        f"{report['threads']} threads; {blocks}",
    )
    throughput = layout.addPlot(row=1, col=0)
    latency = layout.addPlot(row=1, col=1)
    level_name = "users (concurrent requests)"
    _style_plot(
        throughput, "Throughput per route (dashed: blocks the loop)", "requests / s", level_name
    )
    _style_plot(latency, "Latency p50 per route (log scale)", "latency p50 (ms)", level_name)
    # Latencies of one audit span 1 ms to seconds: a log axis keeps each route readable.
    latency.setLogMode(x=False, y=True)
    legend = throughput.addLegend(
        offset=(12, 12),
        labelTextSize=f"{FONT_PT - 1}pt",
        labelTextColor=FOREGROUND,
        brush=pg.mkBrush("#FFFFFFD8"),
        pen=pg.mkPen(MUTED),
    )
    del legend  # kept alive by its plot
    ticks = [[(level, str(level)) for level in levels]]
    throughput.getAxis("bottom").setTicks(ticks)
    latency.getAxis("bottom").setTicks(ticks)
    for order, route in enumerate(routes):
        colour = colour_of(str(route["route"]), order)
        style = Qt.PenStyle.DashLine if route.get("blocks_loop") else Qt.PenStyle.SolidLine
        pen = pg.mkPen(colour, width=LINE_WIDTH, style=style)
        symbol = {"symbol": "o", "symbolSize": 11, "symbolBrush": colour, "symbolPen": "w"}
        steps = sorted(route["levels"], key=lambda level: int(level["users"]))
        users = [int(level["users"]) for level in steps]
        throughput.plot(
            users,
            [_number(level["throughput_rps"]) for level in steps],
            pen=pen,
            name=_legend_text(route),
            **symbol,
        )
        latency.plot(
            users, [_number(level["latency_p50_ms"]) for level in steps], pen=pen, **symbol
        )
    latencies = [_number(level["latency_p50_ms"]) for route in routes for level in route["levels"]]
    latency.getAxis("left").setTicks([_log_ticks([v for v in latencies if v > 0])])
    x_max = max(levels) * 1.04
    top = _top(throughput)
    throughput.setYRange(-0.02 * top, top, padding=0)
    for plot in (throughput, latency):
        plot.setXRange(0, x_max, padding=0)
    _save(layout, out)


def _log_ticks(values: Sequence[float]) -> list[tuple[float, str]]:
    """Ticks of a log axis as plain numbers (1, 2, 5, 10, 20, 50 ms ...), not 5·10¹."""
    if not values:
        return []
    low, high = min(values) / 1.5, max(values) * 1.5
    ticks: list[tuple[float, str]] = []
    for power in range(-1, 7):
        for step in (1, 2, 5):
            value = step * 10.0**power
            if low <= value <= high:
                ticks.append((math.log10(value), f"{value:g}"))
    return ticks


def main(argv: Sequence[str]) -> int:
    return render_main(argv, "loopscope.desktop_app.audit_png", "AUDIT.json", render)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
