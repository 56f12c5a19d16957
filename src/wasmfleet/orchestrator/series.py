"""Time series for the dashboard, kept in memory, and the metric routes of the orchestrator.

``SeriesSampler`` scrapes the live devices' ``/metrics`` every ``metrics_sample_s`` seconds —
only while somebody asked ``GET /api/v1/metrics/series`` in the last ``IDLE_AFTER_S``
seconds, so an idle fleet of a thousand devices costs nothing — with bounded concurrency
and a timeout per device, and turns two successive scrapes into one point per function
(core/series_points.py). Each series is a ring of at most ``POINTS`` points; a series whose
function no longer appears on its device, or whose device is gone, is dropped.
docs/metrics.md describes the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Annotated, Any

import httpx
from fastapi import APIRouter, Query
from starlette.responses import Response

from wasmfleet.core.errors import NotFound
from wasmfleet.core.series_points import Cumulative, point
from wasmfleet.orchestrator.devices import url_of
from wasmfleet.service.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from wasmfleet.orchestrator.service import Orchestrator

log = logging.getLogger(__name__)

IDLE_AFTER_S = 120.0
"""The sampler stops when the series were not asked for this long."""
POINTS = 720
"""Points kept per series (an hour at the default 5 s step)."""
MAX_SERIES = 4096
"""Series kept at most (device x function); the oldest-updated go first beyond it."""
CONCURRENCY = 16
"""Devices scraped at the same time."""
MAX_SCRAPE_BYTES = 4 * 1024 * 1024
"""A device's /metrics answer larger than this is ignored."""

SeriesKey = tuple[str, str, str, str]
"""(device, deployment, module, function)."""


def parse_functions(text: str) -> dict[tuple[str, str, str], Cumulative]:
    """Per (deployment, module, function): the cumulative figures of a supervisor's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, str, str], Cumulative] = {}

    def cell(labels: dict[str, str]) -> Cumulative | None:
        try:
            key = (labels["deployment"], labels["module"], labels["function"])
        except KeyError:
            return None
        found = out.get(key)
        if found is None:
            found = out[key] = Cumulative()
        return found

    for family in text_string_to_metric_families(text):
        if not family.name.startswith(("wasmfleet_call", "wasmfleet_qoa_")):
            continue
        for s in family.samples:
            c = cell(s.labels)
            if c is None:
                continue
            name, value = s.name, float(s.value)
            if name == "wasmfleet_calls_total":
                c.calls += value
                if s.labels.get("outcome") != "ok":
                    c.errors += value
            elif name == "wasmfleet_call_duration_seconds_sum":
                c.duration_sum = value
            elif name == "wasmfleet_call_duration_seconds_count":
                c.duration_count = value
            elif name == "wasmfleet_call_duration_seconds_bucket":
                c.buckets.append((float(s.labels.get("le", "+Inf")), value))
            elif name == "wasmfleet_qoa_latency_seconds_sum":
                c.qoa_latency_sum = value
            elif name == "wasmfleet_qoa_latency_seconds_count":
                c.qoa_latency_count = value
            elif name == "wasmfleet_qoa_confidence_sum":
                c.qoa_confidence_sum = value
            elif name == "wasmfleet_qoa_confidence_count":
                c.qoa_confidence_count = value
    for c in out.values():
        c.buckets.sort(key=lambda b: (math.isinf(b[0]), b[0]))
    return out


class _Series:
    __slots__ = ("last", "last_at", "points")

    def __init__(self) -> None:
        self.points: deque[dict[str, Any]] = deque(maxlen=POINTS)
        self.last: Cumulative | None = None
        self.last_at = 0.0


class SeriesSampler:
    """Scrapes live devices while the series are wanted; keeps bounded rings of points."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        self.step_s = orch.settings.metrics_sample_s
        self.timeout_s = orch.settings.health_timeout_s
        self.series: dict[SeriesKey, _Series] = {}
        self.asked_at = -math.inf
        self.names: dict[str, str] = {}
        """Deployment id -> name (devices label series with the id)."""
        self.scrapes = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def wanted(self) -> None:
        """The series were asked for: sample (again) until they are not for a while."""
        self.asked_at = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="series")

    @property
    def running(self) -> bool:
        """True while the sampler scrapes."""
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Stop sampling (the orchestrator stops)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while time.monotonic() - self.asked_at < IDLE_AFTER_S:
            started = time.monotonic()
            try:
                await self.sample_once()
            except Exception as err:  # a broken round must not end the sampler
                log.warning("metrics sampling failed", extra={"error": str(err)})
            await asyncio.sleep(max(0.05, self.step_s - (time.monotonic() - started)))

    async def sample_once(self) -> None:
        """Scrape every live device once and add a point to each of its series."""
        devices = await asyncio.to_thread(self.orch.store.list_devices)
        deployments = await asyncio.to_thread(self.orch.store.list_deployments)
        self.names = {d.id: d.name for d in deployments}
        monitor = self.orch.monitor
        known = {d.name for d in devices}
        for key in [k for k in self.series if k[0] not in known]:
            del self.series[key]
        live = [d for d in devices if monitor.status(d.name) not in (None, "dead")]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(device: Any) -> None:
            async with gate:
                text = await self._scrape(url_of(device))
            if text is not None:
                self._add(device.name, parse_functions(text), time.time())

        await asyncio.gather(*(one(d) for d in live))
        self._bound()

    async def _scrape(self, url: str) -> str | None:
        self.scrapes += 1
        try:
            answer = await self.orch.client.get(url + "/metrics", timeout=self.timeout_s)
        except httpx.HTTPError:
            self.failures += 1
            return None
        if answer.status_code != 200 or len(answer.content) > MAX_SCRAPE_BYTES:
            self.failures += 1
            return None
        return answer.text

    def _add(self, device: str, found: dict[tuple[str, str, str], Cumulative], t: float) -> None:
        for key in [k for k in self.series if k[0] == device and k[1:] not in found]:
            del self.series[key]  # its deployment is gone from the device
        for names, now in found.items():
            key = (device, *names)
            series = self.series.get(key)
            if series is None:
                series = self.series[key] = _Series()
            if series.last is not None:
                series.points.append(point(series.last, now, t - series.last_at, t))
            series.last, series.last_at = now, t

    def _bound(self) -> None:
        if len(self.series) > MAX_SERIES:
            oldest = sorted(self.series, key=lambda k: self.series[k].last_at)
            for key in oldest[: len(self.series) - MAX_SERIES]:
                del self.series[key]

    def answer(
        self, device: str | None, deployment: str | None, function: str | None, window_s: float
    ) -> dict[str, Any]:
        """The series matching the filters, with their points of the last ``window_s``."""
        since = time.time() - window_s
        out = []
        for key in sorted(self.series):
            dev, dep_id, module, fn = key
            dep = self.names.get(dep_id, dep_id)
            if (device and dev != device) or (deployment and deployment not in (dep, dep_id)):
                continue
            if function and fn != function:
                continue
            points = [p for p in self.series[key].points if p["t"] >= since]
            out.append(
                {
                    "device": dev,
                    "deployment": dep,
                    "deployment_id": dep_id,
                    "module": module,
                    "function": fn,
                    "points": points,
                }
            )
        return {"step_s": self.step_s, "sampling": self.running, "series": out}


Window = Annotated[float, Query(ge=1, le=86400, description="Seconds back from now.")]


def metrics_router(orch: Orchestrator, sampler: SeriesSampler) -> APIRouter:
    """GET /metrics, GET /api/v1/metrics/series, GET /api/v1/devices/{key}/usage."""
    router = APIRouter()

    @router.get("/metrics", tags=["metrics"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics of the orchestrator (text format; docs/metrics.md)."""
        body = orch.metrics.render(orch.monitor, orch.healer)
        return Response(body, headers={"content-type": CONTENT_TYPE})

    @router.get("/api/v1/metrics/series", tags=["metrics"])
    async def series(
        window_s: Window = 600,
        device: str | None = None,
        deployment: str | None = None,
        function: str | None = None,
    ) -> Any:
        """Per-function call rate, latency and QoA over time, sampled from the live devices
        while this is asked (the first answer may have no points yet)."""
        sampler.wanted()
        return sampler.answer(device, deployment, function, window_s)

    @router.get("/api/v1/devices/{key}/usage", tags=["devices"])
    def usage(key: str, window_s: Window = 600) -> Any:
        """A device's CPU and memory usage over time, from its heartbeats and health polls."""
        found = orch.store.get_device(key)
        if found is None:
            raise NotFound(f"No device {key!r}; GET /api/v1/devices lists them.")
        return {"points": orch.metrics.usage.window(found.name, window_s)}

    return router
