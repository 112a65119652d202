"""Drawing an audit's PNG in a child process, as a sweep's is (`_sweep_png`): the `loopscope`
process never imports Qt (`loopscope.desktop_app.audit_png` does the drawing)."""

from __future__ import annotations

from pathlib import Path

from loopscope.loadgen.audit import AuditReport

from ._sweep_png import render_png_in_child

#: Hidden first argument of the `loopscope` executable that draws an audit PNG (bundle only).
RENDER_AUDIT_PNG_COMMAND = "_render-audit-png"


def render_audit_png(report: AuditReport, path: Path, *, timeout_s: float = 120.0) -> None:
    """Throughput and latency p50 per route at each level, its verdict in the legend.
    SweepPngError (one line) when it cannot be drawn."""
    render_png_in_child(
        report.to_json(),
        path,
        module="loopscope.desktop_app.audit_png",
        bundle_command=RENDER_AUDIT_PNG_COMMAND,
        timeout_s=timeout_s,
    )
