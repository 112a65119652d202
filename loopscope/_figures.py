"""How the `run` and `sweep` reports write their figures, and the error rate they judge a
run (or a step) by against `--max-error-rate`."""

from __future__ import annotations

import math

from loopscope.loadgen import ERROR_ABANDONED


def error_rate(ok: int, errors: dict[str, int]) -> float:
    """The fraction of requests that failed, for `--max-error-rate`; 1 when none succeeded.

    Requests cut off at the end (`abandoned`) count only when nothing succeeded: with a
    route slower than the run is long (`blocking`, many users) they are the load's own
    queue, not failures, and the report shows them apart.
    """
    if ok == 0:
        return 1.0
    failed = sum(n for kind, n in errors.items() if kind != ERROR_ABANDONED)
    return failed / (ok + failed)


def percent(fraction: float) -> str:
    """e.g. "90 %", "0.5 %": whole percents unless that would round a failure to 0."""
    value = fraction * 100
    return f"{value:.0f} %" if value >= 1 or value == 0 else f"{value:.1g} %"


def error_counts(errors: dict[str, int]) -> str:
    """e.g. "abandoned: 5, connect: 4,500"."""
    return ", ".join(f"{kind}: {count:,}" for kind, count in sorted(errors.items()))


def fmt(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def ratio(measured: float, predicted: float) -> str:
    if math.isnan(measured) or math.isnan(predicted) or predicted <= 0 or math.isinf(predicted):
        return "-"
    return f"{measured / predicted:.2f}"
