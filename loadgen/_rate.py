"""`RateEstimator`: completions per second that cannot alias with the load's own rhythm.

Counting completions per fixed 1 s window aliases whenever users finish in step: 10 users
of a 600 ms route finish in batches of 10 every 0.6 s, so 1 s windows hold one batch or two
and read 10, 20, 10, 20 req/s where the truth is 16.7; 20 users queued behind a loop that
a `blocking` route stalls finish in bursts, and a window between bursts reads 0.

Here the rate at time t is a weighted count of the completions of a span before t,
the span adapting to the latency: `SPAN_LATENCIES` recent mean latencies (at least
`MIN_SPAN_S`, at most `MAX_SPAN_S`). The weights form a triangle, 0 at both ends of the
span (two boxes of half the span, convolved): batches that arrive with period P count
the same whatever their phase, exactly when half the span is a multiple of P and nearly so
otherwise (lock-step batches every 0.6 s or 0.1 s, no jitter: within 4 %), where a plain
count over a box swings by P/span. Any completion inside the span weighs something, so
the rate is above 0 while requests complete; it falls to 0 one span after the last one,
and reads low (a rising ramp) for one span after the first. Memory is fixed: counts in
`BIN_S` bins over `MAX_SPAN_S`.
"""

from __future__ import annotations

import math

# Width of one count bin: fine against the shortest span (1/40 of it).
BIN_S = 0.05
# The span: this many mean latencies, so that lock-step batches (one per latency) are
# many per span and their phase no longer shows...
SPAN_LATENCIES = 4.0
# ...but never shorter than two 1 s windows (below that a 0 ms route's noise shows)...
MIN_SPAN_S = 2.0
# ...nor longer than this (a slider change shows within it; blocking at 20 users x 2 s
# has 40 s latencies but still completes one request every 2 s).
MAX_SPAN_S = 20.0
# The mean latency that sets the span is taken over this recent stretch.
_LATENCY_LOOKBACK_S = 5.0
_BINS = math.ceil(MAX_SPAN_S / BIN_S) + 1


class RateEstimator:
    """Completions per second of one scenario, as `rate_at(t)` (t: a clock time in s)."""

    def __init__(self) -> None:
        self._counts = [0] * _BINS
        self._latency_sums = [0.0] * _BINS
        self._newest = -1  # absolute index of the newest bin written; -1: none yet
        self._last_end = -math.inf

    def add(self, end: float, latency_s: float) -> None:
        """A request that completed at `end` after `latency_s`."""
        index = math.floor(end / BIN_S)
        if index > self._newest:
            # Clear the bins between the newest and this one: they are a new lap of the ring.
            for stale in range(max(self._newest + 1, index - _BINS + 1), index + 1):
                self._counts[stale % _BINS] = 0
                self._latency_sums[stale % _BINS] = 0.0
            self._newest = index
        elif index <= self._newest - _BINS:
            return  # older than the ring holds
        slot = index % _BINS
        self._counts[slot] += 1
        self._latency_sums[slot] += latency_s
        self._last_end = max(self._last_end, end)

    def _bins_before(self, t: float, span_s: float) -> list[tuple[int, int]]:
        """(age in bins, slot) of the whole bins in [t - span_s, t), newest first."""
        last = math.floor(t / BIN_S) - 1  # the newest bin wholly before t
        count = min(round(span_s / BIN_S), _BINS)
        first = max(last - count + 1, self._newest - _BINS + 1)
        return [(last - i, i % _BINS) for i in range(last, first - 1, -1) if i <= self._newest]

    def span_at(self, t: float) -> float:
        """The span the rate at `t` counts over (seconds)."""
        completed = 0
        latency_sum = 0.0
        for _, slot in self._bins_before(t, _LATENCY_LOOKBACK_S):
            completed += self._counts[slot]
            latency_sum += self._latency_sums[slot]
        if completed == 0:  # nothing recent: the latencies of all the ring holds
            for _, slot in self._bins_before(t, MAX_SPAN_S):
                completed += self._counts[slot]
                latency_sum += self._latency_sums[slot]
        mean = latency_sum / completed if completed else 0.0
        return min(MAX_SPAN_S, max(MIN_SPAN_S, SPAN_LATENCIES * mean))

    def rate_at(self, t: float) -> float:
        """Completions per second in the span before `t`, triangle-weighted (module notes)."""
        if t - self._last_end > MAX_SPAN_S + BIN_S:
            return 0.0
        span = self.span_at(t)
        bins = round(span / BIN_S)
        half = bins / 2
        weighted = 0.0
        for age, slot in self._bins_before(t, span):
            count = self._counts[slot]
            if count:
                # Bin centre's distance from the middle of the span, in bins.
                weighted += count * (1.0 - abs(age + 0.5 - half) / half)
        # The weights integrate to half the span (a triangle of height 1).
        return weighted / (span / 2)
