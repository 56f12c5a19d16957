"""``Supervisor``: every part of one supervisor process, wired together explicitly.

Start-up order: restore stored deployments (so they are callable before anyone learns
about us), connect to the MQTT broker (when there is one), then advertise over mDNS,
register with the orchestrator, send heartbeats and ship logs. Shut-down reverses it.
Nothing here reads the environment: settings come in whole.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import httpx

from wasmfleet import __version__
from wasmfleet.core.bridge_step import BRIDGE_INTERFACE
from wasmfleet.core.history import RequestHistory
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.camera import open_camera
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import offered_interfaces
from wasmfleet.runtime.host.sensors import SimulatedDht
from wasmfleet.runtime.nn.models import ModelRegistry
from wasmfleet.service.http_clients import tls_context
from wasmfleet.supervisor.bridges import BridgeService
from wasmfleet.supervisor.calls import CallService
from wasmfleet.supervisor.chaining import Chainer
from wasmfleet.supervisor.deployments import DeploymentManager
from wasmfleet.supervisor.executor import CallExecutor
from wasmfleet.supervisor.fencing import FenceBook, lease_state
from wasmfleet.supervisor.heartbeat import Heartbeater
from wasmfleet.supervisor.logship import LogShipper
from wasmfleet.supervisor.metrics import CallMetrics
from wasmfleet.supervisor.platform_info import device_description, health_report
from wasmfleet.supervisor.quality import QualityBook
from wasmfleet.supervisor.registration import Registrar
from wasmfleet.supervisor.rpc import HttpRpcTransport
from wasmfleet.supervisor.settings import SupervisorSettings
from wasmfleet.supervisor.store import DeploymentStore
from wasmfleet.supervisor.streams import StreamService
from wasmfleet.supervisor.things import ThingService
from wasmfleet.supervisor.trust import OrchestratorBearer, join, load_credentials

if TYPE_CHECKING:
    from wasmfleet.supervisor.advertise import Advertiser

log = logging.getLogger("wasmfleet.supervisor")


class Supervisor:
    """One supervisor: runtime, deployments, calls, history, discovery and log shipping."""

    def __init__(self, settings: SupervisorSettings) -> None:
        self.settings = settings
        self.started_at = time.time()
        self.store = DeploymentStore(settings.resolved_data_dir)
        self.fences = FenceBook(settings.resolved_data_dir, settings.name)
        self.engine = WasmEngine(settings.limits, self.store.cache_dir)
        self.nn = ModelRegistry(settings.nn_models, backends=None if settings.nn else ())
        # Models are parsed on first use: the backends (and numpy) load only on a device
        # that runs a WASI-NN module, never at start.
        self.devices = HostDevices(
            camera=None
            if settings.camera == "none"
            else open_camera(settings.camera, settings.camera_dir, settings.camera_index),
            dht=None
            if settings.sensors == "none"
            else SimulatedDht(settings.dht_temperature, settings.dht_humidity),
            nn=self.nn,
        )
        self.executor = CallExecutor(settings.worker_count)
        self.credentials = load_credentials(settings)
        if self.credentials is None and settings.join_url is not None:
            self.credentials = join(settings)
        self.bearer = OrchestratorBearer(self.credentials)
        self.client = httpx.AsyncClient(
            auth=self.bearer,
            verify=tls_context(settings.ca_file),
            timeout=httpx.Timeout(settings.download_timeout_s),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        self.manager = DeploymentManager(
            settings, self.store, self.engine, self.devices, self.executor, self.client, self.fences
        )
        self.history = RequestHistory(settings.history_size)
        self.calls = CallService(
            self.manager,
            self.history,
            Chainer(self.client, settings.chain_timeout_s, self.credentials),
            self.fences,
            inline_threshold_s=settings.inline_threshold_us / 1e6,
        )
        self.call_metrics = CallMetrics() if settings.metrics else None
        self.calls.metrics = self.call_metrics
        self.streams = StreamService(settings, self.calls)
        self.bridges = BridgeService(settings)
        self.quality = QualityBook()
        self.things = ThingService(settings.name, self.devices)
        self.streams.sensors = self.things
        # things before streams: the streams' subscriptions include the sensor topics
        self.manager.watchers = [self.things, self.streams, self.bridges, self.quality]
        self.devices.mqtt = self.streams.link
        self.devices.things = self.things
        self.devices.qoa = self.quality
        local_host = "127.0.0.1" if settings.host in ("0.0.0.0", "", "::") else settings.host
        # Over TLS, call ourselves by the name our certificate is made for.
        local_url = settings.base_url if settings.tls else f"http://{local_host}:{settings.port}"
        self.rpc = HttpRpcTransport(self.manager, local_url, tls_context(settings.ca_file))
        self.devices.rpc = self.rpc
        bare, qualified = offered_interfaces(self.devices.lacking)
        self.device_description = device_description(
            settings, bare, [*qualified, BRIDGE_INTERFACE], nn=self.nn.advertised()
        )
        self.registrar = Registrar(settings, self._registration_client)
        self.heartbeat = Heartbeater(
            settings,
            self.registrar,
            self.manager,
            self.fences,
            streams=self._message_counters,
        )
        self.heartbeat.auth = self.bearer
        self.advertiser: Advertiser | None = None
        if settings.mdns:  # zeroconf (~3 MB) is imported only where it is used
            from wasmfleet.supervisor.advertise import Advertiser

            self.advertiser = Advertiser(settings)
        self.shipper = LogShipper(
            settings,
            client_factory=lambda: httpx.Client(
                verify=tls_context(settings.ca_file), timeout=5.0, auth=self.bearer
            ),
        )
        if self.credentials is not None:
            self.set_orchestrator(self.credentials.orchestrator_url)

    def _message_counters(self) -> dict[str, int] | None:
        """What the heartbeat tells the orchestrator about messages: triggers and bridges."""
        counters = self.streams.counters_for_heartbeat()
        bridged = self.bridges.counters_for_heartbeat()
        if counters is None:
            return bridged or None
        return {**counters, **bridged}

    @property
    def camera_kind(self) -> str:
        """``simulated``, ``opencv``, or ``none`` when this device offers no camera."""
        return self.devices.camera.kind if self.devices.camera is not None else "none"

    def _registration_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=tls_context(self.settings.ca_file), timeout=httpx.Timeout(5.0), auth=self.bearer
        )

    async def start(self) -> None:
        """Restore deployments, then start discovery, registration, heartbeats, log shipping."""
        self.shipper.start()
        await self.manager.restore()
        await self.streams.start()
        await self.bridges.start()
        if self.advertiser is not None:
            await self.advertiser.start()
        await self.registrar.start()
        await self.heartbeat.start()
        log.info(
            "supervisor ready",
            extra={
                "device": self.settings.name,
                "url": self.settings.base_url,
                "deployments": len(self.manager.deployments),
                "camera": self.camera_kind,
                "sensors": self.settings.sensors,
                "broker": self.streams.link.broker.url if self.streams.link else "none",
                "nn_backends": ",".join(self.nn.backends) or "none",
                "nn_models": ",".join(self.nn.offered()) or "none",
            },
        )

    async def stop(self) -> None:
        """Stop everything started by ``start``, in reverse order."""
        await self.heartbeat.stop()
        await self.registrar.stop()
        if self.advertiser is not None:
            await self.advertiser.stop()
        await self.bridges.stop()
        await self.streams.stop()
        await self.client.aclose()
        self.rpc.close()
        self.manager.swap.close()
        self.executor.shutdown()
        self.engine.close()
        self.shipper.stop(timeout=2.0)

    def set_orchestrator(self, url: str) -> None:
        """Adopt an orchestrator (POST /register): register with it and ship logs to it."""
        self.registrar.set_orchestrator(url)
        self.bearer.follow(url)
        self.shipper.follow_orchestrator(url)

    def health(self) -> dict[str, Any]:
        """The /health body: real CPU and memory usage of this device, and the
        quality-of-analytics aggregates per function (``qoa``, see quality.py)."""
        return {**health_report(), "qoa": self.quality.snapshot()}

    def status(self) -> dict[str, Any]:
        """Counters for /api/v1/status."""
        stats = self.engine.stats
        now = time.monotonic()
        return {
            "name": self.settings.name,
            "version": __version__,
            "uptime_s": round(time.time() - self.started_at, 1),
            "deployments": sorted(self.manager.deployments),
            "runtime": {
                "compiled": stats.compiled,
                "disk_cache_hits": stats.disk_hits,
                "memory_cache_hits": stats.memory_hits,
                "compile_seconds": round(stats.compile_seconds, 4),
                "workers": self.executor.workers,
                "inline_calls": self.calls.inline_calls,
                "lane_calls": self.calls.lane_calls,
                "instances": {
                    f"{dep_id}/{name}": {
                        "calls": m.instance.calls,
                        "failures": m.instance.failures,
                        "memory_bytes": m.instance.memory_bytes_if_idle(),
                        "queued": m.lane.pending,
                    }
                    for dep_id, dep in self.manager.deployments.items()
                    for name, m in dep.modules.items()
                },
            },
            "history": {"entries": len(self.history), "capacity": self.history.capacity},
            "camera": self.camera_kind,
            "logs": self.shipper.stats(),
            "registration": self.registrar.stats(),
            "heartbeat": self.heartbeat.stats(),
            "streams": self.streams.stats(),
            "bridges": self.bridges.stats(),
            "controllers": self.things.snapshot()["controllers"],
            "qoa": self.quality.snapshot(),
            "nn": self.nn.status(),
            "swaps": self.manager.swap.stats(),
            "reuse": self.manager.fetcher.stats(),
            "signatures": (
                self.manager.verifier.stats() if self.manager.verifier is not None else None
            ),
            "epochs": {d: dep.spec.epoch for d, dep in sorted(self.manager.deployments.items())},
            "fences": dict(sorted(self.fences.fences.items())),
            "leases": {
                d: lease_state(dep.lease, dep.spec.stateful, now)
                for d, dep in sorted(self.manager.deployments.items())
                if dep.lease is not None
            },
        }
