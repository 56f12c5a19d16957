"""The supervisor's Prometheus metrics: call counters kept on the hot path, the rest at scrape.

``CallMetrics`` is what ``CallService`` updates per call: per deployed function, a count per
outcome and a duration histogram, as plain Python cells (every call runs its bookkeeping on
the event loop, so no lock). ``SupervisorMetrics.render`` builds the text format when
``GET /metrics`` is scraped, reading the counters the supervisor already keeps (compile
cache, MQTT, instances, QoA book). Series of a function whose deployment is gone are
dropped at the next scrape: labels stay bounded by what is deployed. docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from wasmfleet.core.errors import BadRequest, Conflict, Unavailable, WasmfleetError
from wasmfleet.service.metrics import (
    CALL_BUCKETS,
    HistogramCells,
    counter_family,
    gauge_family,
    histogram_family,
    render,
)

if TYPE_CHECKING:
    from wasmfleet.supervisor.service import Supervisor

OUTCOMES = ("ok", "error", "bad_request", "busy")
"""``outcome`` label values: the function ran and answered; it (or the next hop) failed;
the call's input was refused (4xx); the call was refused for now (fenced copy, expired
lease, 409/503)."""
OK, ERROR, BAD_REQUEST, BUSY = range(4)
FUNCTION_LABELS = ("deployment", "module", "function")

Key = tuple[str, str, str]


class _FunctionCells:
    __slots__ = ("durations", "outcomes")

    def __init__(self) -> None:
        self.outcomes = [0, 0, 0, 0]
        self.durations = HistogramCells(CALL_BUCKETS)


class CallMetrics:
    """Per-function call counts by outcome and run-time histograms."""

    def __init__(self) -> None:
        self._cells: dict[Key, _FunctionCells] = {}

    def observe(self, key: Key, outcome: int, seconds: float) -> None:
        """One call of ``key`` that ran for ``seconds`` (its own run time)."""
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = _FunctionCells()
        cells.outcomes[outcome] += 1
        cells.durations.observe(seconds)

    def refused(self, key: Key, err: WasmfleetError) -> None:
        """A call of a deployed function refused before it ran (bad input or busy)."""
        if isinstance(err, BadRequest):
            outcome = BAD_REQUEST
        elif isinstance(err, Conflict | Unavailable):
            outcome = BUSY
        else:
            return
        cells = self._cells.get(key)
        if cells is None:
            cells = self._cells[key] = _FunctionCells()
        cells.outcomes[outcome] += 1

    def prune(self, alive: set[Key]) -> None:
        """Forget the functions not in ``alive`` (their deployment was removed)."""
        for key in [k for k in self._cells if k not in alive]:
            del self._cells[key]

    def items(self) -> list[tuple[Key, _FunctionCells]]:
        """The cells by function, sorted."""
        return sorted(self._cells.items())


def deployed_functions(sup: Supervisor) -> set[Key]:
    """Every (deployment, module, function) installed now."""
    return {
        (dep_id, module, function)
        for dep_id, dep in sup.manager.deployments.items()
        for module, function in dep.functions
    }


def supervisor_families(sup: Supervisor, calls: CallMetrics) -> Iterator[Any]:
    """Every metric family of the supervisor, computed now."""
    calls.prune(deployed_functions(sup))
    items = calls.items()
    yield counter_family(
        "wasmfleet_calls",
        "Function calls by outcome (ok, error, bad_request, busy).",
        (*FUNCTION_LABELS, "outcome"),
        (
            ((*key, outcome), float(cells.outcomes[i]))
            for key, cells in items
            for i, outcome in enumerate(OUTCOMES)
            if cells.outcomes[i]
        ),
    )
    yield histogram_family(
        "wasmfleet_call_duration_seconds",
        "Run time of a function on this device (without forwarding to a next hop).",
        FUNCTION_LABELS,
        ((key, cells.durations) for key, cells in items if cells.durations.count),
    )
    yield gauge_family(
        "wasmfleet_instances",
        "Wasm module instances loaded on this device.",
        (),
        [((), float(sum(len(d.modules) for d in sup.manager.deployments.values())))],
    )
    stats = sup.engine.stats
    yield counter_family(
        "wasmfleet_compile_cache_hits",
        "Modules taken from the compile cache (memory or disk) instead of being compiled.",
        (),
        [((), float(stats.memory_hits + stats.disk_hits))],
    )
    yield counter_family(
        "wasmfleet_compile_cache_misses",
        "Modules compiled because the compile cache did not have them.",
        (),
        [((), float(stats.compiled))],
    )
    yield counter_family(
        "wasmfleet_mqtt_messages",
        "MQTT messages: in (received by triggers), out (published), dead_lettered.",
        ("direction",),
        _mqtt_rows(sup),
    )
    latency, confidence = sup.quality.histograms()
    yield histogram_family(
        "wasmfleet_qoa_latency_seconds",
        "Inference latency modules report with wasmfleet.qoa_report.",
        FUNCTION_LABELS,
        latency,
    )
    yield histogram_family(
        "wasmfleet_qoa_confidence",
        "Inference confidence (0..1) modules report with wasmfleet.qoa_report.",
        FUNCTION_LABELS,
        confidence,
    )


def _mqtt_rows(sup: Supervisor) -> Iterable[tuple[tuple[str], float]]:
    counters = sup.streams.counters_for_heartbeat() or {}
    out = counters.get("published", 0) + counters.get("guest_published", 0)
    return [
        (("in",), float(counters.get("received", 0))),
        (("out",), float(out)),
        (("dead_lettered",), float(counters.get("dead_lettered", 0))),
    ]


def render_metrics(sup: Supervisor, calls: CallMetrics) -> bytes:
    """The text format of every supervisor metric."""
    return render(lambda: supervisor_families(sup, calls))
