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

# Routes of the user's own app, in the order they come (the same family, in another order).
ROUTE_COLOURS: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#7F3C8D",
    "#000000",
)


def colour_of(name: str, order: int) -> str:
    """A demo scenario's own colour, else the `order`-th route colour."""
    return SCENARIO_COLOURS.get(name) or ROUTE_COLOURS[order % len(ROUTE_COLOURS)]
