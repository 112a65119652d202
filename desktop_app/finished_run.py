"""A run kept on screen after Stop: the figures, series and probes as they were at Stop,
until Reset or the next Start. Qt-free, like the session that keeps it.

Why a copy taken at Stop rather than the live parts read later: after Stop the recorder
closes empty windows every second, the probes go on sampling an idle server (the charts
slid the run out of view within a minute, the table fell to 0.0 and "–" within
seconds), and moving a slider between runs restarts the settled period the held figures
pool. The copy is bounded by what it copies: the recorder's windows (its history) and
the probe history (PROBE_HISTORY).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loopscope.loadgen import Recorder, RecorderSnapshot

from .lab_snapshot import ProbeSample


@dataclass(frozen=True, slots=True)
class HeldFigures:
    """One route over the run's held part: from when its last level had settled in
    (CURVE_SKIP_S after it was set) until Stop, pooled in one histogram, as a response
    curve point is."""

    held_s: float
    throughput_rps: float
    latency_p50_ms: float
    latency_p99_ms: float
    error_rps: float


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """The run as it stood at Stop. Times are run seconds (from Start, the recorder's
    origin); `origin` is that Start on the perf_counter clock (the timeline's)."""

    origin: float
    ended_s: float
    recorder: RecorderSnapshot
    probes: tuple[ProbeSample, ...]
    #: Per route, the figures over its held part (a route with nothing answered in its
    #: held part has none: the table shows its last window's).
    held: dict[str, HeldFigures] = field(default_factory=dict)

    def requests(self, scenario: str) -> int:
        """Requests of `scenario` answered in the run (errors included)."""
        series = self.recorder.scenarios.get(scenario)
        return 0 if series is None else series.total_ok + series.total_errors

    def summary(self, scenario: str) -> str:
        """'stopped: 1,234 requests in 12.3 s' for the table's load column."""
        return f"stopped: {self.requests(scenario):,} requests in {self.ended_s:.1f} s"


def finish_run(recorder: Recorder, probes: tuple[ProbeSample, ...], end: float) -> FinishedRun:
    """The run `recorder` measured until `end` (a perf_counter time: the Stop click)."""
    snapshot = recorder.snapshot()
    held: dict[str, HeldFigures] = {}
    for name in snapshot.scenarios:
        pooled = recorder.period(name, until=end)
        if pooled is None or pooled.ok == 0:
            continue
        held[name] = HeldFigures(
            held_s=pooled.duration_s,
            throughput_rps=pooled.throughput_rps,
            latency_p50_ms=pooled.latency.p50,
            latency_p99_ms=pooled.latency.p99,
            error_rps=pooled.error_rps,
        )
    ended_s = end - recorder.origin
    kept = tuple(p for p in probes if p.t_s <= ended_s + recorder.window_s)
    return FinishedRun(
        origin=recorder.origin,
        ended_s=max(0.0, ended_s),
        recorder=snapshot,
        probes=kept,
        held=held,
    )
