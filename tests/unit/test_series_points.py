"""core/series_points.py: a point from two scrapes, quantiles from histogram buckets."""

from __future__ import annotations

import math

from wasmfleet.core.series_points import Cumulative, point, quantile

INF = math.inf


def test_quantile_interpolates_within_the_bucket() -> None:
    buckets = [(0.001, 0.0), (0.002, 10.0), (0.004, 20.0), (INF, 20.0)]
    assert quantile(0.5, buckets) == 0.002  # rank 10: the top of the second bucket
    assert quantile(0.75, buckets) == 0.003  # rank 15: half-way through (0.002, 0.004]
    assert quantile(0.5, [(0.1, 0.0), (INF, 0.0)]) is None
    assert quantile(0.99, [(0.1, 1.0), (INF, 5.0)]) == 0.1  # in +Inf: the largest bound


def test_point_is_the_difference_of_two_scrapes() -> None:
    before = Cumulative(calls=10, errors=1, duration_sum=0.01, duration_count=10)
    before.buckets = [(0.001, 10.0), (0.01, 10.0), (INF, 10.0)]
    now = Cumulative(calls=30, errors=3, duration_sum=0.11, duration_count=30)
    now.buckets = [(0.001, 10.0), (0.01, 30.0), (INF, 30.0)]
    now.qoa_latency_sum, now.qoa_latency_count = 0.5, 10
    now.qoa_confidence_sum, now.qoa_confidence_count = 8.0, 10
    got = point(before, now, 2.0, 100.0)
    assert got["calls_per_s"] == 10.0 and got["errors_per_s"] == 1.0
    assert got["latency_mean_ms"] == 5.0  # 0.1 s over 20 calls
    assert got["latency_p95_ms"] is not None and 1.0 < got["latency_p95_ms"] <= 10.0
    assert (got["qoa_latency_ms"], got["qoa_confidence"]) == (50.0, 0.8)


def test_no_calls_between_scrapes_gives_nulls_and_a_reset_counts_from_zero() -> None:
    same = Cumulative(calls=5, duration_sum=0.5, duration_count=5)
    idle = point(same, same, 5.0, 1.0)
    assert idle["calls_per_s"] == 0.0
    assert idle["latency_mean_ms"] is None and idle["latency_p95_ms"] is None
    assert idle["qoa_latency_ms"] is None and idle["qoa_confidence"] is None
    restarted = Cumulative(calls=2, duration_sum=0.002, duration_count=2)
    restarted.buckets = [(0.001, 2.0), (INF, 2.0)]
    assert point(same, restarted, 1.0, 2.0)["calls_per_s"] == 2.0
