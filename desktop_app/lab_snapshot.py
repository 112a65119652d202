"""What the window reads of a session: one frozen snapshot per timer tick, and its parts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loopscope.loadgen import RecorderSnapshot, theory

from .annotations import Marker

if TYPE_CHECKING:
    from .finished_run import FinishedRun


@dataclass(frozen=True, slots=True)
class ProbeSample:
    t_s: float  # seconds since the session's origin
    in_flight: dict[str, int]
    threads_total: int
    threads_borrowed: int
    threads_waiting: int
    loop_lag_ms: float  # the window's loop (the server's too, when it shares it)
    users: dict[str, int]
    theory_rps: dict[str, float]
    #: The server's loop lag (its worst worker's) when it runs in its own process; None:
    #: it shares the window's loop, whose lag is `loop_lag_ms`.
    server_loop_lag_ms: float | None = None
    #: The theory's latency per scenario (NaN where it has none, or grows without bound),
    #: dashed on the latency chart as theory_rps is on the throughput chart.
    theory_latency_ms: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class CurvePoint:
    scenario: str
    users: int
    throughput_rps: float
    latency_p50_ms: float
    latency_p99_ms: float
    generator_limited: bool = False


@dataclass(frozen=True, slots=True)
class LabSnapshot:
    recorder: RecorderSnapshot
    probes: tuple[ProbeSample, ...]
    curve: tuple[CurvePoint, ...]
    running: bool
    scenarios: tuple[str, ...]
    users: dict[str, int]
    predictions: dict[str, theory.Prediction] = field(default_factory=dict)
    mode: str = "closed"
    rate: float = 0.0
    # Setting changes during the run, and when the run began (both in recorder seconds).
    markers: tuple[Marker, ...] = ()
    run_start_s: float = 0.0
    pins: tuple[PinnedRun, ...] = ()
    #: Scenarios whose users were lowered and whose queue still drains: the requests of
    #: the users taken away are still queued ahead, so latency stays above theory.
    settling: frozenset[str] = frozenset()
    #: The run kept on screen after Stop (its recorder and probes are this snapshot's),
    #: until Reset or the next Start; None while running or after them.
    finished: FinishedRun | None = None


@dataclass(frozen=True, slots=True)
class PinnedRun:
    """A run frozen for comparison: the charts draw it faintly under the live one, its
    time series shifted so that it starts where the current run starts."""

    number: int  # 1, 2, 3... for the legend and the line style
    label: str  # its settings ("100 users, 10 threads, 1000 ms")
    snapshot: LabSnapshot  # with no pins of its own
