"""The orchestrator's Prometheus metrics (``GET /metrics``, access VIEW; docs/metrics.md).

``OrchestratorMetrics`` holds what only the hooks can count — placements and their
duration, executions by deployment and outcome, finished rollouts — and the usage ring per
device the dashboard plots (``UsageBook``). Gauges (devices by status, phi per device) and
counters the services keep already (heartbeats, moved steps) are read at scrape time.
Placements run in worker threads, so one lock guards the counters.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from wasmfleet.service.metrics import (
    CALL_BUCKETS,
    HistogramCells,
    counter_family,
    gauge_family,
    histogram_family,
    render,
)

if TYPE_CHECKING:
    from wasmfleet.orchestrator.healing import Healer
    from wasmfleet.orchestrator.monitor import FleetMonitor

DEVICE_STATUSES = ("active", "suspect", "dead")
"""``status`` label values of ``wasmfleet_devices`` (the failure detector's statuses)."""
EXECUTION_OUTCOMES = ("ok", "failed", "bad_input")
"""``outcome`` of ``wasmfleet_executions_total``: every step succeeded; a step failed or the
execution timed out; the first device refused the input (4xx)."""
PLACEMENT_OUTCOMES = ("placed", "unplaceable")
ROLLOUT_OUTCOMES = ("succeeded", "rolled_back", "undone", "failed")
PLACEMENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
USAGE_POINTS = 720
"""Usage points kept per device (an hour at a 5 s heartbeat write cadence)."""
USAGE_EVERY_S = 5.0
"""A device's usage is recorded at most this often."""


class UsageBook:
    """CPU and memory usage per device over time, from heartbeats and health polls."""

    def __init__(self, points: int = USAGE_POINTS, every_s: float = USAGE_EVERY_S) -> None:
        self.points = points
        self.every_s = every_s
        self._rings: dict[str, deque[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def record(self, device: str, usage: dict[str, Any], now: float | None = None) -> None:
        """Add a point from a heartbeat's ``usage`` or a /health answer (``cpuUsage`` ...)."""
        t = time.time() if now is None else now
        cpu = _number(usage.get("cpu", usage.get("cpuUsage")))
        memory = _number(usage.get("memory", usage.get("memoryUsage")))
        used = _number(usage.get("memory_used_mb"))
        if cpu is None and memory is None:
            return
        with self._lock:
            ring = self._rings.get(device)
            if ring is None:
                ring = self._rings[device] = deque(maxlen=self.points)
            elif ring and t - ring[-1]["t"] < self.every_s:
                return
            ring.append({"t": round(t, 3), "cpu": cpu, "memory": memory, "memory_used_mb": used})

    def window(
        self, device: str, window_s: float, now: float | None = None
    ) -> list[dict[str, Any]]:
        """The points of the last ``window_s`` seconds, oldest first."""
        since = (time.time() if now is None else now) - window_s
        with self._lock:
            return [dict(p) for p in self._rings.get(device, ()) if p["t"] >= since]

    def forget(self, device: str) -> None:
        """Drop a device's points (it was removed)."""
        with self._lock:
            self._rings.pop(device, None)

    def keep_only(self, devices: set[str]) -> None:
        """Drop the points of every device not in ``devices``."""
        with self._lock:
            for name in [n for n in self._rings if n not in devices]:
                del self._rings[name]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class OrchestratorMetrics:
    """Counters the orchestrator's hooks update; rendered at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.placements = dict.fromkeys(PLACEMENT_OUTCOMES, 0)
        self.placement_seconds = HistogramCells(PLACEMENT_BUCKETS)
        self.executions: dict[tuple[str, str], int] = {}
        self.execution_seconds = HistogramCells(CALL_BUCKETS)
        self.rollouts = dict.fromkeys(ROLLOUT_OUTCOMES, 0)
        self.usage = UsageBook()
        self.leading: Callable[[], bool] | None = None
        """Whether this orchestrator leads now (set by the service; docs/scale-out.md)."""

    def placed(self, ok: bool, seconds: float) -> None:
        """One run of the solver: placed or not, and how long it took."""
        with self._lock:
            self.placements[PLACEMENT_OUTCOMES[0] if ok else PLACEMENT_OUTCOMES[1]] += 1
            self.placement_seconds.observe(seconds)

    def executed(self, deployment: str, outcome: str, seconds: float) -> None:
        """One execution of ``deployment`` (its name) finished with ``outcome``."""
        with self._lock:
            key = (deployment, outcome)
            self.executions[key] = self.executions.get(key, 0) + 1
            self.execution_seconds.observe(seconds)

    def forget_deployment(self, deployment: str) -> None:
        """A deployment was removed: its series go."""
        with self._lock:
            for key in [k for k in self.executions if k[0] == deployment]:
                del self.executions[key]

    def rollout_finished(self, status: str) -> None:
        """A rollout reached a final status."""
        if status in self.rollouts:
            with self._lock:
                self.rollouts[status] += 1

    def families(self, monitor: FleetMonitor, healer: Healer) -> Iterator[Any]:
        """Every metric family of the orchestrator, computed now."""
        statuses = dict.fromkeys(DEVICE_STATUSES, 0)
        phis: list[tuple[tuple[str], float]] = []
        now = monitor.clock()
        for name, live in sorted(monitor.live_devices().items()):
            statuses[live.status] = statuses.get(live.status, 0) + 1
            phi = live.detector.phi(now)
            phis.append(((name,), min(float(phi), 1e9)))
        yield gauge_family(
            "wasmfleet_devices",
            "Devices by the failure detector's status.",
            ("status",),
            (((s,), float(n)) for s, n in statuses.items()),
        )
        yield counter_family(
            "wasmfleet_heartbeats",
            "Heartbeats devices sent to this orchestrator.",
            (),
            [((), float(monitor.heartbeats))],
        )
        yield counter_family(
            "wasmfleet_heartbeats_relayed",
            "Heartbeats other orchestrators of the fleet received and relayed to this one.",
            (),
            [((), float(monitor.relayed))],
        )
        yield gauge_family(
            "wasmfleet_device_phi", "Phi accrual suspicion of each device.", ("device",), phis
        )
        with self._lock:
            placements = dict(self.placements)
            placement_cells = self.placement_seconds.copy()
            executions = sorted(self.executions.items())
            execution_cells = self.execution_seconds.copy()
            rollouts = dict(self.rollouts)
        yield counter_family(
            "wasmfleet_placements",
            "Runs of the placement solver by outcome (placed, unplaceable).",
            ("outcome",),
            (((o,), float(n)) for o, n in placements.items()),
        )
        yield histogram_family(
            "wasmfleet_placement_duration_seconds",
            "Time the placement solver took.",
            (),
            [((), placement_cells)],
        )
        yield counter_family(
            "wasmfleet_executions",
            "Executions by deployment and outcome (ok, failed, bad_input).",
            ("deployment", "outcome"),
            ((key, float(n)) for key, n in executions),
        )
        yield histogram_family(
            "wasmfleet_execution_duration_seconds",
            "Time an execution took, all its steps included.",
            (),
            [((), execution_cells)],
        )
        yield counter_family(
            "wasmfleet_healing_moved_steps",
            "Steps self-healing moved off failed devices.",
            (),
            [((), float(healer.moved))],
        )
        if self.leading is not None:
            yield gauge_family(
                "wasmfleet_leader",
                "1 while this orchestrator holds the leader lease, else 0 (exactly one of a "
                "fleet's orchestrators should report 1).",
                (),
                [((), 1.0 if self.leading() else 0.0)],
            )
        yield counter_family(
            "wasmfleet_rollouts",
            "Rollouts finished, by outcome (succeeded, rolled_back, undone, failed).",
            ("outcome",),
            (((o,), float(n)) for o, n in rollouts.items()),
        )

    def render(self, monitor: FleetMonitor, healer: Healer) -> bytes:
        """The text format of every orchestrator metric."""
        return render(lambda: self.families(monitor, healer))
