"""One colour per scenario, the same in every chart and table (Okabe-Ito, colour-blind safe)."""

from __future__ import annotations

SCENARIO_COLOURS: dict[str, str] = {
    "async": "#0072B2",
    "sync": "#E69F00",
    "blocking": "#D55E00",
    "cpu-async": "#56B4E9",
    "cpu-sync": "#CC79A7",
    "fanout-sequential": "#009E73",
    "fanout-gather": "#7F3C8D",
}

SCENARIO_LABELS: dict[str, str] = {
    "async": "async def + await",
    "sync": "def (thread pool)",
    "blocking": "async def + time.sleep",
    "cpu-async": "CPU in async def",
    "cpu-sync": "CPU in def",
    "fanout-sequential": "fan-out, sequential",
    "fanout-gather": "fan-out, gather",
}
