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


def label_of(name: str) -> str:
    """A demo scenario's label, or the route's own ("GET /items")."""
    return SCENARIO_LABELS.get(name, name)


# Beside demo scenarios a route takes these first: none is close to a demo colour that a
# lesson shows (the blue of async, the orange of sync).
ROUTE_COLOURS_BESIDE_DEMO: tuple[str, ...] = ("#009E73", "#CC79A7", "#7F3C8D", "#000000")


def endpoint_colours(names: list[str]) -> dict[str, str]:
    """Each name's colour: a demo scenario its own, the user's routes the route colours in
    the order they come, skipping those of the demo scenarios shown beside them."""
    colours = {name: SCENARIO_COLOURS[name] for name in names if name in SCENARIO_COLOURS}
    order = (*ROUTE_COLOURS_BESIDE_DEMO, *ROUTE_COLOURS) if colours else ROUTE_COLOURS
    free = [c for c in dict.fromkeys(order) if c not in colours.values()]
    routes = [name for name in names if name not in SCENARIO_COLOURS]
    for index, name in enumerate(routes):
        colours[name] = free[index % len(free)]
    return colours
