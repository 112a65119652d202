"""`Recorder`: per-window throughput, errors and latency histograms, with bounded memory.

Records are pushed in as responses complete; readers pull `snapshot()` and `summary()`.
Percentiles come from HdrHistogram (2 significant digits, 1 µs to 1 h), never from a
list of samples, so memory does not grow with the length of a run.

Two latencies are kept side by side: `latency` counts from each request's intended start
(open loop: corrected for coordinated omission, as wrk2 does), `latency_uncorrected` from
its actual send, which is what a naive tool reports. In a closed loop they are equal.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from hdrh.histogram import HdrHistogram

from ._rate import RateEstimator
from ._records import RequestRecord

_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_SIGNIFICANT_DIGITS = 2
NAN = float("nan")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)


def _clamped_us(seconds: float) -> int:
    return min(_HIGHEST_US, max(_LOWEST_US, round(seconds * 1e6)))


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Latency in milliseconds; NaN when nothing was measured."""

    p50: float = NAN
    p90: float = NAN
    p99: float = NAN
    max: float = NAN
    mean: float = NAN

    @classmethod
    def from_histogram(
        cls, histogram: HdrHistogram, exact_max_s: float, exact_mean_s: float | None = None
    ) -> LatencySummary:
        if histogram.get_total_count() == 0:
            return cls()
        max_ms = exact_max_s * 1000

        def at(percentile: float) -> float:
            # A bucket's top edge can lie above the exact maximum: never report p99 > max.
            return float(min(histogram.get_value_at_percentile(percentile) / 1000, max_ms))

        return cls(
            p50=at(50),
            p90=at(90),
            p99=at(99),
            max=max_ms,
            # hdrh computes the mean by walking every bucket in Python (~5 ms, on the GUI's
            # loop once a second per scenario and histogram): a running sum is exact and free.
            mean=histogram.get_mean_value() / 1000 if exact_mean_s is None else exact_mean_s * 1000,
        )

    def to_json(self) -> dict[str, float | None]:
        return {
            name: (None if math.isnan(value) else round(value, 3))
            for name, value in (
                ("p50", self.p50),
                ("p90", self.p90),
                ("p99", self.p99),
                ("max", self.max),
                ("mean", self.mean),
            )
        }


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One closed time window of one scenario. `start_s` counts from the recorder's origin."""

    start_s: float
    duration_s: float
    ok: int
    errors: int
    latency: LatencySummary
    server_wait_ms_mean: float = NAN
    server_work_ms_mean: float = NAN
    latency_uncorrected: LatencySummary = LatencySummary()
    # Successes per second at the window's end from a span of several latencies
    # (RateEstimator): what a live chart should draw, since `throughput_rps`, one window's
    # count, aliases with users finishing in step (10, 20, 10, 20 for a steady 16.7).
    rate_rps: float = NAN
    # Final answers by status class ("1xx".."5xx"); requests without an answer have none.
    status_classes: dict[str, int] = field(default_factory=dict)

    @property
    def throughput_rps(self) -> float:
        return self.ok / self.duration_s

    @property
    def error_rps(self) -> float:
        return self.errors / self.duration_s


@dataclass(frozen=True, slots=True)
class Summary:
    """A scenario over the measured interval (warm-up excluded)."""

    scenario: str
    duration_s: float
    ok: int
    errors: dict[str, int]
    latency: LatencySummary
    server_wait_ms_mean: float
    server_work_ms_mean: float
    # From the actual send instead of the intended start; equal to `latency` in a closed loop.
    latency_uncorrected: LatencySummary = LatencySummary()
    # Final answers by status class ("1xx".."5xx"); requests without an answer have none.
    status_classes: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())

    @property
    def throughput_rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s > 0 else NAN

    @property
    def error_rps(self) -> float:
        return sum(self.errors.values()) / self.duration_s if self.duration_s > 0 else NAN


@dataclass(frozen=True, slots=True)
class ScenarioSnapshot:
    windows: tuple[WindowStats, ...]
    total_ok: int
    total_errors: int

    @property
    def last(self) -> WindowStats | None:
        return self.windows[-1] if self.windows else None

    @property
    def rate_rps(self) -> float:
        """The non-aliasing throughput at the end of the last closed window."""
        return self.windows[-1].rate_rps if self.windows else NAN


@dataclass(frozen=True, slots=True)
class RecorderSnapshot:
    now_s: float
    scenarios: dict[str, ScenarioSnapshot]


@dataclass(slots=True)
class _Accumulator:
    """Counts and histograms for one window or one measured interval."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    # A second histogram, not a list: an open-loop run can be hours long.
    histogram_uncorrected: HdrHistogram = field(default_factory=new_histogram)
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    max_s: float = 0.0
    max_uncorrected_s: float = 0.0
    sum_s: float = 0.0
    sum_uncorrected_s: float = 0.0
    wait_sum_s: float = 0.0
    wait_count: int = 0
    work_sum_s: float = 0.0
    work_count: int = 0
    # Answers of status 100-199, 200-299, ... 500-599 (index 0 to 4).
    classes: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])

    def add(self, record: RequestRecord) -> None:
        status = record.status
        if status is not None and 100 <= status < 600:
            self.classes[status // 100 - 1] += 1
        if record.error is not None:
            self.errors[record.error] += 1
            return
        self.ok += 1
        latency = record.latency_s
        self.histogram.record_value(_clamped_us(latency))
        self.max_s = max(self.max_s, latency)
        self.sum_s += latency
        uncorrected = record.end - record.start
        self.histogram_uncorrected.record_value(_clamped_us(uncorrected))
        self.max_uncorrected_s = max(self.max_uncorrected_s, uncorrected)
        self.sum_uncorrected_s += uncorrected
        if record.server_wait_s is not None:
            self.wait_sum_s += record.server_wait_s
            self.wait_count += 1
        if record.server_work_s is not None:
            self.work_sum_s += record.server_work_s
            self.work_count += 1

    def latency(self) -> LatencySummary:
        mean_s = self.sum_s / self.ok if self.ok else None
        return LatencySummary.from_histogram(self.histogram, self.max_s, mean_s)

    def latency_uncorrected(self) -> LatencySummary:
        mean_s = self.sum_uncorrected_s / self.ok if self.ok else None
        return LatencySummary.from_histogram(
            self.histogram_uncorrected, self.max_uncorrected_s, mean_s
        )

    def wait_ms_mean(self) -> float:
        return self.wait_sum_s / self.wait_count * 1000 if self.wait_count else NAN

    def work_ms_mean(self) -> float:
        return self.work_sum_s / self.work_count * 1000 if self.work_count else NAN

    def status_classes(self) -> dict[str, int]:
        return {f"{index + 1}xx": count for index, count in enumerate(self.classes)}


class _ScenarioSeries:
    def __init__(self, history: int) -> None:
        self.closed: deque[WindowStats] = deque(maxlen=history)
        self.current_index = 0
        self.current = _Accumulator()
        self.total_ok = 0
        self.total_errors = 0
        self.measured = _Accumulator()
        self.rate = RateEstimator()
        # Requests *intended* in the measured interval, answered whenever, and those a
        # drain cut off (their latency's lower bound only).
        self.drained = _Accumulator()
        self.censored = _Accumulator()


@dataclass(slots=True)
class _Period:
    """A pooled accumulator for records completing from `start` on (a settled period)."""

    start: float
    # Made at the first record: the session restarts a period for every scenario when a
    # setting changes, most of which never run.
    acc: _Accumulator | None = None


class Recorder:
    """Turns request records into windowed series and warm-up-free summaries.

    window_s: width of one window (live values are per window: 1 s by default).
    history: closed windows kept per scenario (600 one-second windows = 10 minutes).
    """

    def __init__(
        self,
        *,
        window_s: float = 1.0,
        history: int = 600,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        self.window_s: Final[float] = window_s
        self._history = history
        self._clock = clock
        self._origin = clock()
        self._series: dict[str, _ScenarioSeries] = {}
        self._measure_from: float | None = None
        self._measure_until: float | None = None
        # One pooled period per scenario, not a histogram per window: 600 windows x 2
        # scenarios of HdrHistograms (27 KiB each at 1 us..1 h, 2 digits) would be 32 MiB
        # per latency kind, where a period per scenario is 54 KiB.
        self._periods: dict[str, _Period] = {}
        # When the load stopped (a clock time; None: it runs, or no one said).
        self._stopped_at: float | None = None

    @property
    def origin(self) -> float:
        return self._origin

    def reset(self) -> None:
        """Forget everything; windows count again from now."""
        self._origin = self._clock()
        self._series.clear()
        self._periods.clear()
        self._measure_from = None
        self._measure_until = None

    def load_stopped(self, at: float | None = None) -> None:
        """The load stopped at `at` (default now): windows after it read a rate of 0. The
        rate counts the completions of a span of several latencies before each window,
        weighted most in its middle, so the stopped run's last completions would be drawn
        as a hump of throughput half a span after the Stop (up to 10 s)."""
        self._stopped_at = self._clock() if at is None else at

    def load_started(self) -> None:
        """The load runs again: rates are estimated as before."""
        self._stopped_at = None

    def _rate_at(self, series: _ScenarioSeries, end: float) -> float:
        """The live rate of the window ending at `end`: as the estimator says while the
        load runs; at the Stop's window, its estimate then; after it, 0."""
        stopped = self._stopped_at
        if stopped is None or end <= stopped:
            return series.rate.rate_at(end)
        if end - self.window_s < stopped:
            return series.rate.rate_at(stopped)
        return 0.0

    def begin_period(self, scenario: str, at: float | None = None) -> None:
        """Pool `scenario`'s records completing from `at` (a clock time; default now) on,
        forgetting its previous period: call it whenever the load's level changes."""
        self._periods[scenario] = _Period(self._clock() if at is None else at)

    def period(self, scenario: str, until: float | None = None) -> Summary | None:
        """The pooled figures of `scenario` from its period's start to `until` (default
        now): one histogram for the whole span, as `summary()` pools a measured run, so a
        settled live level and a sweep step of the same records agree. None without a
        period, or before it starts."""
        period = self._periods.get(scenario)
        end = self._clock() if until is None else until
        if period is None or end <= period.start:
            return None
        return _summarise(scenario, period.acc or _Accumulator(), end - period.start)

    def begin_measurement(self, at: float | None = None) -> None:
        """Summaries count records completing from now on (ends the warm-up)."""
        self._measure_from = self._clock() if at is None else at
        self._measure_until = None
        for series in self._series.values():
            series.measured = _Accumulator()
            series.drained = _Accumulator()
            series.censored = _Accumulator()

    def end_measurement(self, at: float | None = None) -> None:
        self._measure_until = self._clock() if at is None else at

    def _window_index(self, t: float) -> int:
        return max(0, math.floor((t - self._origin) / self.window_s))

    def _series_for(self, scenario: str) -> _ScenarioSeries:
        series = self._series.get(scenario)
        if series is None:
            series = _ScenarioSeries(self._history)
            series.current_index = self._window_index(self._clock())
            self._series[scenario] = series
        return series

    def _close_until(self, series: _ScenarioSeries, index: int) -> None:
        """Close every window before `index`; gaps become windows with no completions."""
        if index <= series.current_index:
            return
        self._close_current(series)
        # Only the last `history` empty windows can still be seen: skip the rest.
        first_empty = max(series.current_index + 1, index - self._history)
        for empty_index in range(first_empty, index):
            start_s = empty_index * self.window_s
            rate = self._rate_at(series, self._origin + start_s + self.window_s)
            series.closed.append(
                WindowStats(start_s, self.window_s, 0, 0, LatencySummary(), rate_rps=rate)
            )
        series.current_index = index
        series.current = _Accumulator()

    def _close_current(self, series: _ScenarioSeries) -> None:
        acc = series.current
        end = self._origin + (series.current_index + 1) * self.window_s
        series.closed.append(
            WindowStats(
                start_s=series.current_index * self.window_s,
                duration_s=self.window_s,
                ok=acc.ok,
                errors=sum(acc.errors.values()),
                latency=acc.latency(),
                server_wait_ms_mean=acc.wait_ms_mean(),
                server_work_ms_mean=acc.work_ms_mean(),
                latency_uncorrected=acc.latency_uncorrected(),
                rate_rps=self._rate_at(series, end),
                status_classes=acc.status_classes(),
            )
        )

    def add(self, record: RequestRecord) -> None:
        series = self._series_for(record.scenario)
        self._close_until(series, self._window_index(record.end))
        series.current.add(record)
        if record.error is None:
            series.total_ok += 1
            series.rate.add(record.end, record.latency_s)
        else:
            series.total_errors += 1
        if (self._measure_from is None or record.end >= self._measure_from) and (
            self._measure_until is None or record.end <= self._measure_until
        ):
            series.measured.add(record)
        if self._measure_from is not None:
            begin = record.start if record.intended_start is None else record.intended_start
            if begin >= self._measure_from and (
                self._measure_until is None or begin < self._measure_until
            ):
                series.drained.add(record)
        period = self._periods.get(record.scenario)
        if period is not None and record.end >= period.start:
            if period.acc is None:
                period.acc = _Accumulator()
            period.acc.add(record)

    def add_all(self, records: Iterable[RequestRecord]) -> None:
        for record in records:
            self.add(record)

    def track(self, scenario: str) -> None:
        """Show `scenario` in snapshots even before its first response."""
        self._series_for(scenario)

    def snapshot(self) -> RecorderSnapshot:
        now = self._clock()
        index = self._window_index(now)
        scenarios: dict[str, ScenarioSnapshot] = {}
        for name, series in self._series.items():
            self._close_until(series, index)
            scenarios[name] = ScenarioSnapshot(
                windows=tuple(series.closed),
                total_ok=series.total_ok,
                total_errors=series.total_errors,
            )
        return RecorderSnapshot(now_s=now - self._origin, scenarios=scenarios)

    def summary(self, scenario: str) -> Summary:
        series = self._series.get(scenario)
        acc = series.measured if series is not None else _Accumulator()
        start = self._origin if self._measure_from is None else self._measure_from
        end = self._clock() if self._measure_until is None else self._measure_until
        return _summarise(scenario, acc, max(0.0, end - start))

    def censor(self, scenario: str, since: Iterable[float], cut_at: float) -> None:
        """Requests of the measured interval a drain cut off at `cut_at`, by their intended
        starts: each one's latency is at least `cut_at - since`."""
        series = self._series_for(scenario)
        for start in since:
            if self._measure_from is not None and start < self._measure_from:
                continue  # intended in the warm-up: not the measurement's
            if self._measure_until is not None and start >= self._measure_until:
                continue
            series.censored.add(RequestRecord(scenario=scenario, start=start, end=cut_at))

    def drained(self, scenario: str, drain_s: float) -> DrainedSummary:
        """The requests intended in the measured interval (see `DrainedSummary`)."""
        series = self._series.get(scenario)
        answered = series.drained if series is not None else _Accumulator()
        censored = series.censored if series is not None else _Accumulator()
        both = new_histogram()
        both.add(answered.histogram)
        both.add(censored.histogram)
        count = answered.ok + censored.ok
        latency = LatencySummary.from_histogram(
            both,
            max(answered.max_s, censored.max_s),
            (answered.sum_s + censored.sum_s) / count if count else None,
        )
        lowest = censored.histogram.get_min_value() / 1e6 if censored.ok else NAN
        return DrainedSummary(
            scenario=scenario,
            answered=answered.ok,
            errors=dict(answered.errors),
            censored=censored.ok,
            censored_min_ms=lowest * 1000,
            latency=latency,
            drain_s=drain_s,
        )


@dataclass(frozen=True, slots=True)
class DrainedSummary:
    """The requests *intended* (open loop) or started (closed loop) in the measured
    interval, wherever they ended: answered during the run or during the drain that
    followed it, or cut off by the drain's limit (censored). A censored request counts
    at its lower bound (cut time minus intended start), so with `censored` > 0 every
    percentile is a lower bound of the true one; `censored_min_ms` is the least of those
    bounds. wrk2 and the completed-only summary leave the slowest requests out."""

    scenario: str
    answered: int
    errors: dict[str, int]
    censored: int
    censored_min_ms: float
    latency: LatencySummary
    drain_s: float

    def to_json(self) -> dict[str, object]:
        return {
            "answered": self.answered,
            "errors": self.errors,
            "censored": self.censored,
            "censored_min_latency_ms": None
            if math.isnan(self.censored_min_ms)
            else round(self.censored_min_ms, 3),
            "latency_ms": self.latency.to_json(),
            "latency_is_lower_bound": self.censored > 0,
            "drain_s": round(self.drain_s, 3),
        }


def _summarise(scenario: str, acc: _Accumulator, duration_s: float) -> Summary:
    return Summary(
        scenario=scenario,
        duration_s=duration_s,
        ok=acc.ok,
        errors=dict(acc.errors),
        latency=acc.latency(),
        server_wait_ms_mean=acc.wait_ms_mean(),
        server_work_ms_mean=acc.work_ms_mean(),
        latency_uncorrected=acc.latency_uncorrected(),
        status_classes=acc.status_classes(),
    )
