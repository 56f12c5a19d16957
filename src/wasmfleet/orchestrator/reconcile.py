"""Keeping each device's copies in step with the plan: fence, delete, re-send.

Every send raises a deployment's epoch. Heartbeats report which deployments a device holds
at which epoch; the answer tells the device the current epochs, so a stale copy refuses
calls at once, and the reconciler deletes (with ``?epoch=``, so the device's fence rises
too) copies the device should no longer have, or re-sends a document a device lost or
holds at an old epoch. Devices that do not push heartbeats are reconciled from
``GET /deploy`` when they come back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx

from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.orchestrator.deployments import DeploymentService
from wasmfleet.orchestrator.devices import url_of
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import DeploymentRecord, Store
from wasmfleet.orchestrator.tasks import BackgroundTasks

log = logging.getLogger(__name__)

RECONCILE_EVERY_S = 5.0
"""The least time between two reconciling actions for one (device, deployment)."""
CACHE_S = 0.5
"""How long the epoch map answered to heartbeats may be reused."""


class Reconciler:
    """Compares what devices hold with what the plans say, and fixes the difference."""

    def __init__(
        self,
        store: Store,
        client: httpx.AsyncClient,
        settings: OrchestratorSettings,
        deployments: DeploymentService,
    ) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.deployments = deployments
        self.tasks = BackgroundTasks("reconciling")
        self._acted: dict[tuple[str, str], float] = {}
        self._cache: tuple[float, dict[str, DeploymentRecord]] = (-CACHE_S, {})
        self._generation = 0
        self._refresh: asyncio.Future[dict[str, DeploymentRecord]] | None = None
        self.fenced = 0

    def forget_cache(self) -> None:
        """Deployments changed: read them again on the next heartbeat (a read already under
        way may have missed the change: it is not used)."""
        self._generation += 1
        self._cache = (-CACHE_S, {})
        self._refresh = None

    async def heartbeat(self, device: str, reported: dict[str, int]) -> dict[str, int]:
        """Compare a heartbeat's deployments with the plan; act on drift in the background.

        Returns the current epoch of each reported deployment the orchestrator knows: the
        device raises its fences to them, so a stale copy stops serving at once."""
        known = await self._known()
        if self._drift(device, reported, known):
            self.tasks.spawn(self.reconcile(device, dict(reported)))
        return {d: known[d].epoch for d in reported if d in known}

    async def _known(self) -> dict[str, DeploymentRecord]:
        """The deployments, read at most every ``CACHE_S``: one read at a time, which every
        heartbeat arriving meanwhile awaits (at 2,000 heartbeats/s, a read per heartbeat
        that found the cache old queued hundreds of reads on the worker threads, and the
        heartbeats behind them waited half a second)."""
        at, known = self._cache
        if time.monotonic() - at < CACHE_S:
            return known
        refresh = self._refresh
        if refresh is None or refresh.get_loop() is not asyncio.get_running_loop():
            refresh = self._refresh = asyncio.ensure_future(self._read(self._generation))
        return await asyncio.shield(refresh)

    async def _read(self, generation: int) -> dict[str, DeploymentRecord]:
        started = time.monotonic()
        try:
            known = {d.id: d for d in await asyncio.to_thread(self.store.list_deployments)}
        finally:
            if generation == self._generation:
                self._refresh = None
        if generation == self._generation:
            self._cache = (started, known)
        return known

    @staticmethod
    def _drift(device: str, reported: dict[str, int], known: dict[str, DeploymentRecord]) -> bool:
        for dep_id, epoch in reported.items():
            dep = known.get(dep_id)
            if dep is None:
                if epoch > 0:
                    return True
            elif device not in dep.documents or epoch < dep.epoch:
                return True
        return any(
            device in d.documents and d.status == DeploymentStatus.ACTIVE and d.id not in reported
            for d in known.values()
        )

    async def reconcile(
        self, device: str, reported: dict[str, int] | dict[str, int | None] | None
    ) -> None:
        """Delete copies ``device`` should not have; re-send documents it lacks or has old."""
        if reported is None:
            reported = await self._listed(device)
            if reported is None:
                return
        deployments = {d.id: d for d in await asyncio.to_thread(self.store.list_deployments)}
        jobs: list[Coroutine[Any, Any, None]] = []
        for dep_id, epoch in reported.items():
            dep = deployments.get(dep_id)
            if dep is None:
                if epoch:  # ours (fenced) but deleted while the device was away
                    jobs.append(self._remove(device, dep_id, epoch + 1, "it was deleted meanwhile"))
            elif device not in dep.documents:
                where = sorted(dep.documents) or ["nowhere"]
                jobs.append(
                    self._remove(
                        device,
                        dep_id,
                        dep.epoch,
                        f"its work moved to {', '.join(where)} (epoch {dep.epoch})",
                    )
                )
            elif epoch is not None and epoch < dep.epoch:
                jobs.append(self._resend(device, dep, f"it holds epoch {epoch} of {dep.epoch}"))
        for dep in deployments.values():
            if device in dep.documents and dep.id not in reported:
                jobs.append(self._resend(device, dep, "it does not hold the deployment"))
        if jobs:
            await asyncio.gather(*jobs)
            self.forget_cache()

    async def _listed(self, device: str) -> dict[str, int | None] | None:
        """What a device holds, from ``GET /deploy`` (devices that do not push heartbeats)."""
        found = await asyncio.to_thread(self.store.get_device, device)
        if found is None:
            return None
        try:
            response = await self.client.get(
                url_of(found) + "/deploy", timeout=self.settings.health_timeout_s
            )
            body = response.json()
        except (httpx.HTTPError, ValueError):
            return None
        if response.status_code != 200 or not isinstance(body, list):
            return None
        listed: dict[str, int | None] = {}
        for item in body:
            if isinstance(item, dict) and isinstance(item.get("deploymentId"), str):
                epoch = item.get("epoch")
                listed[item["deploymentId"]] = epoch if isinstance(epoch, int) else None
        return listed

    def _due(self, device: str, dep_id: str) -> bool:
        now = time.monotonic()
        key = (device, dep_id)
        if key in self.deployments.sending or now - self._acted.get(key, -1e9) < RECONCILE_EVERY_S:
            return False
        self._acted[key] = now
        return True

    async def _remove(self, device: str, dep_id: str, epoch: int, why: str) -> None:
        if not self._due(device, dep_id):
            return
        answer = await self.deployments.delete_from(device, dep_id, epoch)
        if answer.get("ok"):
            self.fenced += 1
            log.warning(
                "removed the stale copy of deployment %s from %s: %s",
                dep_id,
                device,
                why,
                extra={"device": device, "deployment": dep_id},
            )

    async def _resend(self, device: str, dep: DeploymentRecord, why: str) -> None:
        if dep.status != DeploymentStatus.ACTIVE or not self._due(device, dep.id):
            return
        if dep.updated_at and (datetime.now(UTC) - dep.updated_at).total_seconds() < 3:
            return  # just deployed: the device's report predates it
        answer = await self.deployments.send(device, dep)
        log.info(
            "re-sent deployment %s to %s (%s): %s",
            dep.name,
            device,
            why,
            answer.get("message"),
            extra={"device": device, "deployment": dep.name},
        )

    async def stop(self) -> None:
        """Cancel background work."""
        await self.tasks.stop()
