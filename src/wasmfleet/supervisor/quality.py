"""``QualityBook``: per-function aggregates of the quality-of-analytics reports.

Modules report each inference with ``wasmfleet.qoa_report(latency_ms, confidence)``
(runtime/host/qoa.py); the book keeps, per ``<deployment>/<module>/<function>``:

- ``count``: reports since the function's first one (or since the book forgot it);
- a ring of the last ``samples`` reports (latency and confidence): ``latency_p50_ms``,
  ``latency_p99_ms`` and ``latency_max_ms`` are nearest-rank percentiles of that window
  (the value at rank ceil(p/100 * n) of the n sorted latencies), ``confidence_mean`` its
  mean, ``window`` its size;
- ``last_latency_ms``, ``last_confidence`` and ``last_report_at`` (Unix time, seconds).

Memory is bounded: at most ``max_functions`` functions (a report of a new one when full
forgets the function reported least recently) of at most ``samples`` samples each. The
book follows deployments (a ``DeploymentWatcher``): removing one forgets its functions.
Reports arrive from worker threads (and inline calls on the event loop), so one lock
guards the book; a report costs a dictionary lookup and a ring append.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from typing import Any

from wasmfleet.core.models import DeploymentSpec
from wasmfleet.runtime.engine import CompiledModule
from wasmfleet.service.metrics import CONFIDENCE_BUCKETS, QOA_LATENCY_BUCKETS, HistogramCells
from wasmfleet.supervisor.deployment import Deployment

DEFAULT_FUNCTIONS = 256
"""Functions the book follows at most."""
DEFAULT_SAMPLES = 1024
"""Reports per function the percentiles and the mean are computed over (the last ones)."""


class _Series:
    """The reports of one function: a total count and a ring of the last samples."""

    __slots__ = (
        "confidence_cells",
        "confidences",
        "count",
        "last_at",
        "latencies",
        "latency_cells",
    )

    def __init__(self, samples: int) -> None:
        self.count = 0
        self.latencies: deque[float] = deque(maxlen=samples)
        self.confidences: deque[float] = deque(maxlen=samples)
        self.last_at = 0.0
        # Histograms since the first report (Prometheus, docs/metrics.md): unlike the
        # windowed percentiles they add up across devices.
        self.latency_cells = HistogramCells(QOA_LATENCY_BUCKETS)
        self.confidence_cells = HistogramCells(CONFIDENCE_BUCKETS)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        window = len(ordered)
        return {
            "count": self.count,
            "window": window,
            "latency_p50_ms": _round(nearest_rank(ordered, 50.0)),
            "latency_p99_ms": _round(nearest_rank(ordered, 99.0)),
            "latency_max_ms": _round(ordered[-1]) if ordered else None,
            "confidence_mean": _round(sum(self.confidences) / window) if window else None,
            "last_latency_ms": _round(self.latencies[-1]) if window else None,
            "last_confidence": _round(self.confidences[-1]) if window else None,
            "last_report_at": round(self.last_at, 3),
        }


def nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The nearest-rank percentile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


Histogram = tuple[tuple[str, ...], HistogramCells]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class QualityBook:
    """Bounded per-function QoA aggregates (a ``QoaSink`` and a ``DeploymentWatcher``)."""

    def __init__(
        self, max_functions: int = DEFAULT_FUNCTIONS, samples: int = DEFAULT_SAMPLES
    ) -> None:
        if max_functions < 1 or samples < 1:
            raise ValueError("a QualityBook needs room for one function and one sample")
        self.max_functions = max_functions
        self.samples = samples
        self.reports = 0
        self.forgotten = 0
        """Functions dropped to make room for new ones."""
        self._series: OrderedDict[str, _Series] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, key: str, latency_ms: float, confidence: float) -> None:
        """Add one report (values already checked by ``runtime.host.qoa.valid_report``)."""
        with self._lock:
            series = self._series.get(key)
            if series is None:
                if len(self._series) >= self.max_functions:
                    self._series.popitem(last=False)
                    self.forgotten += 1
                series = self._series[key] = _Series(self.samples)
            else:
                self._series.move_to_end(key)
            series.count += 1
            series.latencies.append(latency_ms)
            series.confidences.append(confidence)
            series.latency_cells.observe(latency_ms / 1000.0)
            series.confidence_cells.observe(confidence)
            series.last_at = time.time()
            self.reports += 1

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{"deployment/module/function": aggregates}``, sorted by key."""
        with self._lock:
            return {key: self._series[key].summary() for key in sorted(self._series)}

    def histograms(self) -> tuple[list[Histogram], list[Histogram]]:
        """Latency (seconds) and confidence histograms: ``((dep, module, fn), cells)`` rows."""
        latency: list[Histogram] = []
        confidence: list[Histogram] = []
        with self._lock:
            for key in sorted(self._series):
                series = self._series[key]
                labels = tuple(key.split("/", 2))
                latency.append((labels, series.latency_cells.copy()))
                confidence.append((labels, series.confidence_cells.copy()))
        return latency, confidence

    def forget(self, deployment: str) -> None:
        """Drop the aggregates of every function of a deployment."""
        prefix = f"{deployment}/"
        with self._lock:
            for key in [k for k in self._series if k.startswith(prefix)]:
                del self._series[key]

    # -- following deployments (DeploymentWatcher) ----------------------------------------

    def check(self, spec: DeploymentSpec, compiled: dict[str, CompiledModule]) -> None:
        """Any deployment is fine: the book only follows them."""

    def installed(self, dep: Deployment) -> None:
        """A replaced deployment keeps its functions' aggregates."""

    def removed(self, dep_id: str) -> None:
        """Forget the removed deployment's functions."""
        self.forget(dep_id)
