"""The orchestrator service: wires the store, registry, discovery and the services together.

One ``Orchestrator`` per process. ``start`` opens the database (creating or upgrading its
schema), starts mDNS browsing and the health monitor; ``stop`` ends them. HTTP layers (the
wasmiot routes and ``/api/v1``) call the same services.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import datetime
from typing import Any

import httpx

import wasmfleet
from wasmfleet.orchestrator.apps import AppService
from wasmfleet.orchestrator.auth import Authenticator
from wasmfleet.orchestrator.blobs import BlobStore
from wasmfleet.orchestrator.deployments import DeploymentService
from wasmfleet.orchestrator.device_trust import ControlAuth, DeviceTrust
from wasmfleet.orchestrator.devices import DeviceRegistry
from wasmfleet.orchestrator.discovery import MdnsDiscovery
from wasmfleet.orchestrator.events import EventHub
from wasmfleet.orchestrator.execution import ExecutionService
from wasmfleet.orchestrator.fanin import FanIn
from wasmfleet.orchestrator.healing import Healer
from wasmfleet.orchestrator.installs import InstallService
from wasmfleet.orchestrator.leadership import LeaderElector
from wasmfleet.orchestrator.logs import LogService
from wasmfleet.orchestrator.metrics import OrchestratorMetrics
from wasmfleet.orchestrator.modules import ModuleService
from wasmfleet.orchestrator.monitor import FleetMonitor
from wasmfleet.orchestrator.notify import Notifier, NotifyConfig
from wasmfleet.orchestrator.reconcile import Reconciler
from wasmfleet.orchestrator.retention import Pruner
from wasmfleet.orchestrator.rollout_gate import FleetGate
from wasmfleet.orchestrator.rollout_plan import RolloutPlanner
from wasmfleet.orchestrator.rollouts import RolloutDriver
from wasmfleet.orchestrator.scheduler import Scheduler
from wasmfleet.orchestrator.series import SeriesSampler
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.signatures import trusted_keys
from wasmfleet.orchestrator.store import DeviceRecord, Store, open_store
from wasmfleet.orchestrator.store.fence import fenced
from wasmfleet.orchestrator.updates import CopyUpdater
from wasmfleet.orchestrator.views import device_view
from wasmfleet.service.http_clients import tls_context
from wasmfleet.service.http_gate import GatedTransport

CONTROL_IN_FLIGHT = 48
"""Control requests to devices in flight at once; the rest wait their turn (http_gate.py)."""

log = logging.getLogger(__name__)


class Orchestrator:
    """The control plane of one fleet."""

    def __init__(self, settings: OrchestratorSettings, store: Store | None = None) -> None:
        self.settings = settings
        data_dir = settings.resolved_data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = store or open_store(settings.resolved_database_url)
        self.auth = Authenticator(self.store, settings)
        shared = self.store if self.store.shares_blobs else None  # PostgreSQL (blobs.py)
        self.blobs = BlobStore(data_dir / "blobs", shared)
        self.trust = DeviceTrust(self.store, settings)
        # Control traffic to devices (deploys, polls, scrapes): a bounded pool behind a gate
        # (service/http_gate.py); executions use their own keep-alive client (step_http.py).
        pool = httpx.AsyncHTTPTransport(
            verify=tls_context(settings.ca_file),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
        )
        self.client = httpx.AsyncClient(
            auth=ControlAuth(self.trust),
            transport=GatedTransport(pool, CONTROL_IN_FLIGHT),
            timeout=httpx.Timeout(30.0, connect=5.0),
            trust_env=False,
        )
        self.monitor = FleetMonitor(self.store, settings)
        self.events = EventHub()
        """Live changes for the dashboard (``/api/v1/events``); services ``notify`` it."""
        self.fanin = FanIn.for_store(self.store)  # heartbeats + events of all orchestrators
        if self.fanin.enabled:  # a peer relaying late or gone quiet is not the devices' fault
            self.monitor.peers_quiet = self.fanin.peers_quiet
        self.devices = DeviceRegistry(self.store, self.client, settings)
        self.devices.revoked = self.trust.revoked
        self.modules = ModuleService(
            self.store,
            self.blobs,
            settings.max_module_bytes,
            settings.keep_module_versions,
            trusted=trusted_keys(settings),
        )
        self.apps = AppService(self.store, self.modules, settings.max_request_bytes)
        self.deployments = DeploymentService(
            self.store, self.client, settings, unavailable=self._unavailable
        )
        self.updates = CopyUpdater(self.store, self.modules, self.deployments)
        self.reconciler = Reconciler(self.store, self.client, settings, self.deployments)
        self.healer = Healer(self.store, settings, self.deployments, self.reconciler)
        self.monitor.listeners.append(self.healer.on_transition)
        self.devices.monitor = self.monitor
        self.devices.on_registered = self._registered
        self.executions = ExecutionService(
            self.store,
            self.client,
            settings.execute_timeout_s,
            settings.execute_retries,
            flush_s=settings.execution_flush_s,
        )
        if settings.otlp_endpoint:
            self._export_traces(settings.otlp_endpoint)
        self.logs = LogService(self.store)
        self.pruner = Pruner(self.store, settings)
        self.rollouts = RolloutDriver(
            self.store,
            RolloutPlanner(self.store, self.modules.resolve),
            self.updates,
            FleetGate(self.store, self.client, settings.health_timeout_s),
        )
        self.monitor.listeners.append(self.rollouts.on_transition)
        self.metrics = OrchestratorMetrics()  # issue 16: /metrics and the usage ring
        self.monitor.usage = self.metrics.usage
        self.deployments.metrics = self.executions.metrics = self.rollouts.metrics = self.metrics
        for service in (self.deployments, self.executions, self.logs, self.rollouts):
            service.notify = self.events.publish
        self.monitor.listeners.append(self._device_changed)
        self.notifier = Notifier(NotifyConfig.from_settings(settings))
        """Webhooks and e-mail (docs/notifications.md); ``notify`` never blocks."""
        self.monitor.listeners.append(self.notifier.device_transition)
        self.rollouts.on_rolled_back = self.notifier.rollout_rolled_back
        self.installs = InstallService(self)
        self.scheduler = Scheduler(self.store, self.installs, settings.schedule_tick_s)
        self.leadership = LeaderElector(self.store, self.scheduler.name, settings.leader_ttl_s)
        self.metrics.leading = lambda: self.leadership.leading
        """One elected leader runs detection, healing, rollouts, schedules and retention."""
        self.leadership.on_gained.append(self._lead)
        self.leadership.on_lost.append(self._follow)
        self.monitor.acting = self.rollouts.acting = self.leadership.context
        self._leader_tasks: list[asyncio.Task[None]] = []
        self.discovery = MdnsDiscovery(settings.host, self.devices.register)
        self.series = SeriesSampler(self)
        self.started_at = time.monotonic()
        self._tasks: list[asyncio.Task[None]] = []

    def _export_traces(self, endpoint: str) -> None:
        """Send every recorded execution's trace to an OTLP collector (docs/tracing.md)."""
        from wasmfleet.orchestrator.traces import trace_view
        from wasmfleet.service.otlp import OtlpExporter

        exporter = OtlpExporter(endpoint, "wasmfleet-orchestrator", self.client)
        self.executions.on_recorded = lambda e, d: exporter.submit(trace_view(e, d))

    def _unavailable(self) -> dict[str, str]:
        """Devices that must get no new work: flapping ones (the monitor), revoked ones."""
        out = self.monitor.unplaceable()
        for name in self.trust.revoked():
            out[name] = "its credential was revoked"
        return out

    async def revoke_device(self, name: str) -> dict[str, Any]:
        """Revoke a joined device: refused from now on, its steps moved elsewhere."""
        answer = await asyncio.to_thread(self.trust.revoke, name)
        await self.monitor.declare_dead(name, "its credential was revoked")
        return answer

    def _registered(self, name: str) -> None:
        """A device registered: its control bearer may be new, and the fleet changed."""
        self.trust.forget()
        context = self.leadership.context()
        if context is not None:  # the leader retries degraded deployments
            context.run(self.healer.fleet_changed, f"{name} registered")
        self.events.publish("device", {"name": name, "registered": True})

    async def _device_changed(self, transition: Any) -> None:
        """A device's status changed: a live ``device`` event."""
        self.events.publish(
            "device",
            {"name": transition.device, "status": transition.status, "reason": transition.reason},
        )

    async def start(self) -> None:
        """Resume monitoring from the stored fleet, then start discovery and health polls."""
        self.events.bind()
        await asyncio.to_thread(self.auth.bootstrap)
        await self.notifier.start()
        await self.monitor.load()
        await self.fanin.start(self.monitor, self.events)  # after load: relayed beats count
        if self.settings.mdns:
            await self.discovery.start()
        self._tasks.append(asyncio.create_task(self.devices.run(), name="health-polls"))
        self._tasks.append(asyncio.create_task(self.monitor.run(), name="failure-detector"))
        await self.leadership.start()
        log.info(
            "orchestrator started",
            extra={"database": self.store.url, "public_url": self.settings.resolved_public_url},
        )

    async def _share_blobs(self) -> None:
        """On PostgreSQL, upload module bytes only this orchestrator's files hold (a database
        used before blobs were shared), so every orchestrator can serve them."""
        if self.blobs.shared is None:
            return
        try:
            count = await asyncio.to_thread(self.modules.share_blobs)
        except Exception:  # the files here still serve; the next start tries again
            log.exception("uploading local module files to the shared database failed")
            return
        if count:
            log.info("shared %d module file(s) this orchestrator alone had", count)

    async def stop(self) -> None:
        """Stop background work and close connections and the database."""
        await self.leadership.stop()
        await self.rollouts.stop()
        await self.series.stop()
        await self.healer.stop()
        await self.reconciler.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.discovery.stop()
        await self.fanin.stop()
        await self.notifier.stop()
        await self.client.aclose()
        self.store.close()

    async def _lead(self, fencing: int) -> None:
        """Leadership gained: catch up on device statuses, then start the work that must
        happen once, every write of it under this fencing number."""
        with fenced(fencing):
            try:
                await self.monitor.adopt()
            except Exception:  # the leader-only work must start anyway; the monitor retries
                log.exception("catching up on device statuses failed")
                self.monitor.catch_up_later()
            jobs = {
                "healer": self.healer.run(),
                "retention": self.pruner.run(),
                "scheduler": self.scheduler.run(),
                "rollouts": self._drive_rollouts(),
            }
            for name, job in jobs.items():
                self._leader_tasks.append(asyncio.create_task(job, name=name))

    async def _drive_rollouts(self) -> None:
        """Drive stored rollouts: now, then every ``heal_retry_s`` (rollouts started on
        another orchestrator are stored there and driven here)."""
        while True:
            try:
                await self.rollouts.resume_all()
            except Exception:
                log.exception("resuming rollouts failed")
            await asyncio.sleep(self.settings.heal_retry_s)

    async def _follow(self) -> None:
        """Leadership lost (or given up): stop every leader-only task before anything else."""
        for task in self._leader_tasks:
            task.cancel()
        await asyncio.gather(*self._leader_tasks, return_exceptions=True)
        self._leader_tasks.clear()
        await self.rollouts.stop()
        await self.healer.stop()
        await self.reconciler.stop()

    async def rescan(self) -> None:
        """Browse mDNS again and health-check every known device now."""
        if self.settings.mdns:
            await self.discovery.rescan()
        await self.devices.check_all()

    def device_view(self, device: DeviceRecord) -> dict[str, Any]:
        """A device as /api/v1 shows it, with the monitor's view and the last status reason."""
        log_entries = self.store.status_log(device.name, limit=1)
        return self._view(device, log_entries[-1].reason if log_entries else None)

    def device_views(self) -> list[dict[str, Any]]:
        """Every device as ``device_view`` shows it, read in two queries."""
        reasons = self.store.last_reasons()
        return [self._view(d, reasons.get(d.name)) for d in self.store.list_devices()]

    def _view(self, device: DeviceRecord, reason: str | None) -> dict[str, Any]:
        live = self.monitor.describe(device.name)
        live["reason"] = reason
        return device_view(device, live)

    def status(self) -> dict[str, Any]:
        """Facts about this orchestrator for /api/v1/status."""
        return {
            "version": wasmfleet.__version__,
            "database": self.store.url,
            "schema_version": self.store.schema_version,
            "public_url": self.settings.resolved_public_url,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "healing": {
                "heartbeats": self.monitor.heartbeats,
                "skipped_rounds": self.monitor.skipped_rounds,
                "holds": self.monitor.holds,
                "steps_moved": self.healer.moved,
                "moves_coalesced": self.healer.coalesced,
                "stale_copies_removed": self.reconciler.fenced,
            },
            "time": datetime.now().astimezone().isoformat(),
            "leader": self.leadership.view(),
            "fanin": self.fanin.stats(),
        }
