"""Points of the dashboard's per-function time series, from two scrapes of a device's counters.

A device's ``/metrics`` has cumulative counters and histograms per function (docs/metrics.md);
two scrapes ``dt`` seconds apart give one point: rates, the mean and the 95th percentile of
the calls in between, and the QoA means of the reports in between. A counter that went down
was reset (the supervisor restarted or the deployment was replaced): the new value counts as
the delta. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Cumulative:
    """One function's cumulative figures in one scrape."""

    calls: float = 0.0
    errors: float = 0.0
    """Calls whose outcome was not ``ok``."""
    duration_sum: float = 0.0
    duration_count: float = 0.0
    buckets: list[tuple[float, float]] = field(default_factory=list)
    """``(upper bound, cumulative count)`` of the duration histogram, +Inf last."""
    qoa_latency_sum: float = 0.0
    qoa_latency_count: float = 0.0
    qoa_confidence_sum: float = 0.0
    qoa_confidence_count: float = 0.0


def _delta(now: float, before: float) -> float:
    return now if now < before else now - before


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile (0..1) of a cumulative histogram, interpolated linearly within
    its bucket as Prometheus' ``histogram_quantile`` does; None without observations. An
    answer in the +Inf bucket is the largest finite bound."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        lower_bound, lower_count = bound, count
    return lower_bound


def point(before: Cumulative, now: Cumulative, dt: float, t: float) -> dict[str, Any]:
    """The point at Unix time ``t`` for the ``dt`` seconds between two scrapes."""
    dt = max(dt, 1e-6)
    calls = _delta(now.calls, before.calls)
    errors = _delta(now.errors, before.errors)
    count = _delta(now.duration_count, before.duration_count)
    total = _delta(now.duration_sum, before.duration_sum) if count else 0.0
    buckets: list[tuple[float, float]] = []
    if count and len(now.buckets) == len(before.buckets):
        reset = now.duration_count < before.duration_count
        buckets = [
            (bound, value if reset else max(0.0, value - old))
            for (bound, value), (_, old) in zip(now.buckets, before.buckets, strict=True)
        ]
    elif count:
        buckets = list(now.buckets)
    p95 = quantile(0.95, buckets)
    qoa_n = _delta(now.qoa_latency_count, before.qoa_latency_count)
    qoa_sum = _delta(now.qoa_latency_sum, before.qoa_latency_sum) if qoa_n else 0.0
    conf_n = _delta(now.qoa_confidence_count, before.qoa_confidence_count)
    conf_sum = _delta(now.qoa_confidence_sum, before.qoa_confidence_sum) if conf_n else 0.0
    return {
        "t": round(t, 3),
        "calls_per_s": round(calls / dt, 4),
        "errors_per_s": round(errors / dt, 4),
        "latency_mean_ms": round(total / count * 1000, 4) if count else None,
        "latency_p95_ms": round(p95 * 1000, 4) if p95 is not None else None,
        "qoa_latency_ms": round(qoa_sum / qoa_n * 1000, 4) if qoa_n else None,
        "qoa_confidence": round(conf_sum / conf_n, 4) if conf_n else None,
    }
