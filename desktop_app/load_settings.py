"""The load's settings, shared by the parts that act on them (load, theory, your app)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from loopscope.embedded_server import (
    DEFAULT_CPU_ITERATIONS,
    DEFAULT_FANOUT,
    DEFAULT_THREADS,
    MAX_BLOCKING_DELAY_MS,
    SCENARIOS,
)
from loopscope.loadgen import ScenarioRequest

# The blocking scenario freezes the loop the window runs on for users × delay at a time;
# 20 users at the 2 s route maximum is already 40 s, so it is capped (and said so in the UI),
# as is a route of the user's found to hold the loop.
MAX_BLOCKING_USERS = 20


def capped_users(scenario: str, users: int, *, holds_loop: bool = False) -> int:
    """Users as the scenario's slider allows them: MAX_BLOCKING_USERS for blocking, and
    for a route of the user's found to hold the loop (`holds_loop`)."""
    return min(users, MAX_BLOCKING_USERS) if scenario == "blocking" or holds_loop else users


def users_text(users: int, endpoints: Sequence[str], capped: Mapping[str, int]) -> str:
    """The users label: the slider's value, and the figure the endpoints capped below it
    run at (those that hold the loop), so that the label never shows a load not sent."""
    if not capped:
        return f"Users: {users}"
    value = min(capped.values())
    if set(capped) >= set(endpoints):
        why = "blocking" if list(capped) == ["blocking"] else "it holds the loop"
        return f"Users: {value} (capped: {why})"
    return f"Users: {users}\n{', '.join(capped)}: {value} (capped)"


class LessonLoad(TypedDict):
    """A lesson's load, as `LabSession.apply` takes it (and passes it on as it is)."""

    scenarios: tuple[str, ...]
    users: int
    delay_ms: float
    threads: int
    iterations: NotRequired[int]
    fanout: NotRequired[int]


@dataclass(slots=True)
class LoadSettings:
    """What the load is set to; `LoadControl` changes it, the others read it."""

    #: "closed" (users that wait for their answer) or "open" (a fixed arrival rate).
    mode: str = "closed"
    #: Requests per second of each scenario in open-loop mode.
    rate: float = 50.0
    scenarios: tuple[str, ...] = ("sync", "async")
    #: Users per scenario (the demo's, and the route of the user's own while it is set).
    users: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SCENARIOS, 10))
    delay_ms: float = 200.0
    threads: int = DEFAULT_THREADS
    iterations: int = DEFAULT_CPU_ITERATIONS
    fanout: int = DEFAULT_FANOUT

    def request(self, scenario: str) -> ScenarioRequest:
        """What a user of a demo scenario sends."""
        delay = self.delay_ms
        if scenario == "blocking":
            delay = min(delay, MAX_BLOCKING_DELAY_MS)
        return ScenarioRequest(
            scenario=scenario, delay_ms=delay, iterations=self.iterations, fanout=self.fanout
        )
