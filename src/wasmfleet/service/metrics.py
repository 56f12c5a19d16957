"""Prometheus plumbing both services share: cheap counters for hot paths, rendering at scrape.

Hot paths (a supervisor's function calls) update plain Python cells — a list of bucket
counts and a sum — with no lock and no prometheus_client call; a ``Collector`` turns the
cells into metric families when ``/metrics`` is scraped. prometheus_client itself (about
60 ms to import) is imported on the first scrape, not at start (bench/footprint.py).
docs/metrics.md lists every metric, its labels and their bounds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""Prometheus' text exposition format."""

CALL_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
"""Upper bounds (seconds) of the call duration histograms: 100 µs to 30 s."""
QOA_LATENCY_BUCKETS: tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Upper bounds (seconds) of the QoA latency histograms (modules report milliseconds)."""
CONFIDENCE_BUCKETS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
"""Upper bounds of the QoA confidence histograms (confidence is 0..1)."""


class HistogramCells:
    """One histogram's counts: per bucket (non-cumulative, the last is +Inf), sum and count."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count one observation (not thread-safe: one thread or a lock around it)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def copy(self) -> HistogramCells:
        """A snapshot of these cells."""
        copy = HistogramCells(self.bounds)
        copy.counts = list(self.counts)
        copy.sum = self.sum
        return copy

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, cumulative count)`` pairs as a Prometheus histogram exposes them."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            total += n
            out.append((_float_text(bound), float(total)))
        out.append(("+Inf", float(total + self.counts[-1])))
        return out


def _float_text(value: float) -> str:
    return repr(float(value))


def histogram_family(
    name: str,
    documentation: str,
    labels: Sequence[str],
    rows: Iterable[tuple[Sequence[str], HistogramCells]],
) -> Any:
    """A HistogramMetricFamily with one histogram per ``(label values, cells)`` row."""
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, documentation, labels=list(labels))
    for values, cells in rows:
        family.add_metric(list(values), cells.cumulative(), cells.sum)
    return family


def counter_family(
    name: str,
    documentation: str,
    labels: Sequence[str],
    rows: Iterable[tuple[Sequence[str], float]],
) -> Any:
    """A CounterMetricFamily (``name`` without ``_total``) with one sample per row."""
    from prometheus_client.core import CounterMetricFamily

    return _filled(CounterMetricFamily(name, documentation, labels=list(labels)), rows)


def gauge_family(
    name: str,
    documentation: str,
    labels: Sequence[str],
    rows: Iterable[tuple[Sequence[str], float]],
) -> Any:
    """A GaugeMetricFamily with one sample per row."""
    from prometheus_client.core import GaugeMetricFamily

    return _filled(GaugeMetricFamily(name, documentation, labels=list(labels)), rows)


def _filled(family: Any, rows: Iterable[tuple[Sequence[str], float]]) -> Any:
    for values, value in rows:
        family.add_metric(list(values), value)
    return family


class FamilyCollector:
    """A prometheus_client collector made of a function that yields metric families."""

    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Any]:
        """The families, computed now."""
        return self._collect()


def render(*collects: Callable[[], Iterable[Any]]) -> bytes:
    """The Prometheus text format of the families the functions yield, computed now."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    for collect in collects:
        registry.register(FamilyCollector(collect))
    return generate_latest(registry)
