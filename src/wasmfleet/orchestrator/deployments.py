"""Deployments: solve a manifest, send each device its document, report every answer.

``create`` parses and solves (pure solver, frozen snapshot) and stores the plan and the
per-device documents. ``deploy`` posts the documents to all devices in parallel; a device
that refuses or cannot be reached is reported as failed with its reason, the deployment is
marked ``failed`` and the devices that did accept it are rolled back, so a pipeline is
never left half-installed. ``redeploy`` re-solves; ``remove`` deletes it from the devices.
Every change of a deployment's status goes through ``core.lifecycle.advance``.

Every send raises the deployment's *epoch* and writes it into each document: supervisors
refuse calls to a copy older than an epoch they have heard of (fencing, see healing.py).

Each device is sent the document of its dialect (``core.dialect``, recognised from its
device description): an original wasmiot supervisor gets the wasmiot document, and its
answer is read its way (``{"status": "success"}``, else an error page).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from wasmfleet.core.dialect import Dialect, dialect_of, wasmiot_deploy_error
from wasmfleet.core.errors import Conflict, NotFound, PlacementFailed, WasmfleetError
from wasmfleet.core.lifecycle import RESERVING, DeploymentEvent, advance
from wasmfleet.core.manifest import Manifest, parse_manifest
from wasmfleet.orchestrator.answers import error_of, json_of
from wasmfleet.orchestrator.devices import url_of
from wasmfleet.orchestrator.documents import build_documents
from wasmfleet.orchestrator.events import Notify, quiet
from wasmfleet.orchestrator.metrics import OrchestratorMetrics
from wasmfleet.orchestrator.planning import (
    check_cycles,
    check_failovers,
    plan_record,
    request_for,
    snapshot,
    solve,
)
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import DeploymentRecord, Store

ANSWER_KEPT_BYTES = 16 * 1024
"""A device's JSON answer to a deploy is kept with the deployment up to this size."""

log = logging.getLogger(__name__)


class DeploymentService:
    """Create, deploy, re-solve and remove deployments."""

    def __init__(
        self,
        store: Store,
        client: httpx.AsyncClient,
        settings: OrchestratorSettings,
        *,
        unavailable: Callable[[], dict[str, str]] = dict,
    ) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.unavailable = unavailable
        """Devices that are up but must not get new work (the monitor's flapping ones)."""
        self.solve_lock = asyncio.Lock()  # one solve at a time: reservations must not race
        self.sending: set[tuple[str, str]] = set()
        """(device, deployment id) pairs with a document on its way."""
        self._locks: dict[str, asyncio.Lock] = {}
        self.metrics: OrchestratorMetrics | None = None
        self.notify: Notify = quiet
        """Told of every stored change (the dashboard's live events, orchestrator/events.py)."""

    def lock_for(self, deployment_id: str) -> asyncio.Lock:
        """The lock held while a deployment's documents are made and sent (one epoch at once)."""
        return self._locks.setdefault(deployment_id, asyncio.Lock())

    def get(self, key: str) -> DeploymentRecord:
        """The deployment with this id or name, or NotFound."""
        dep = self.store.get_deployment(key)
        if dep is None:
            known = ", ".join(d.name for d in self.store.list_deployments()) or "none yet"
            raise NotFound(f"No deployment {key!r} (deployments: {known}).")
        return dep

    async def create(self, body: Any) -> DeploymentRecord:
        """Parse, solve and store a manifest (status ``new``); Conflict on a duplicate name.

        The record returned carries the manifest's ``warnings`` (logged here, once)."""
        manifest = _read_manifest(body)
        async with self.solve_lock:
            existing = await asyncio.to_thread(self.store.get_deployment, manifest.name)
            if existing is not None:
                raise Conflict(
                    f"A deployment named {manifest.name!r} already exists (id {existing.id}); "
                    "update it with PUT or delete it first."
                )
            record = DeploymentRecord(name=manifest.name, manifest=manifest.to_dict())
            record = await asyncio.to_thread(self._solve_into, record, manifest)
            record = await asyncio.to_thread(self.store.add_deployment, record)
            self.changed(record)
            record.warnings = manifest.warnings
            return record

    def _solve_into(self, record: DeploymentRecord, manifest: Manifest) -> DeploymentRecord:
        """Solve a user's manifest (failover names and message cycles checked) into
        ``record.plan``; an error carries the manifest's warnings (a step that fits nowhere may
        be a changed spelling)."""
        try:
            check_failovers(manifest, self.store.list_devices())
            record = self.solve_into(record, manifest)
            check_cycles(record, manifest, self.store.list_deployments())
        except WasmfleetError as err:
            err.warnings = manifest.warnings
            raise
        return record

    def solve_into(
        self,
        record: DeploymentRecord,
        manifest: Manifest,
        tolerate: frozenset[str] = frozenset(),
        keep: dict[int, tuple[str, ...]] | None = None,
    ) -> DeploymentRecord:
        """Solve ``manifest`` against the fleet as it is now; PlacementFailed when impossible.

        Devices in ``tolerate`` count as active (they keep steps they already run); ``keep``
        names, per fleet-wide step, the devices whose copies stay put."""
        devices = self.store.list_devices()
        modules = {m.id: m for m in self.store.list_modules()}
        request, resolved = request_for(manifest, modules, devices, keep)
        reasons = {}
        for device in devices:
            if device.status != "active":
                log_entries = self.store.status_log(device.name, limit=1)
                last = log_entries[-1].reason if log_entries else ""
                reasons[device.name] = f"{device.status}: {last}" if last else device.status
        fleet = snapshot(
            devices,
            self.store.list_deployments(),
            exclude=record.id or None,
            reasons=reasons,
            unavailable=self.unavailable(),
            tolerate=tolerate,
        )
        started = time.perf_counter()
        try:
            plan = solve(request, fleet)
        except PlacementFailed:
            if self.metrics is not None:
                self.metrics.placed(False, time.perf_counter() - started)
            raise
        if self.metrics is not None:
            self.metrics.placed(True, time.perf_counter() - started)
        record.plan = plan_record(plan, resolved, manifest)
        record.module_ids = sorted({m.id for m in resolved if m is not None})
        return record

    async def deploy(self, key: str) -> DeploymentRecord:
        """Send every device its document (a new epoch) in parallel and record each answer."""
        record = await asyncio.to_thread(self.get, key)
        async with self.lock_for(record.id):
            return await self.deploy_locked(record.id)

    async def deploy_locked(self, key: str, *, rollback: bool = True) -> DeploymentRecord:
        """``deploy`` for a caller that holds ``lock_for`` the deployment.

        With ``rollback`` (a user's deploy: ``deploying``) any refusal removes the deployment
        from the devices that took it and marks it ``failed``; without (self-healing, which
        has decided a move: ``moving``) the devices that took it keep it and the deployment
        is ``degraded``, to be retried. See core/lifecycle.py."""
        record = await asyncio.to_thread(self.get, key)
        record.epoch += 1
        documents, urls, dialects = await asyncio.to_thread(
            build_documents, self.store, record, self.settings
        )
        record.documents = documents
        sending = DeploymentEvent.SEND if rollback else DeploymentEvent.MOVE
        record.status = advance(record.status, sending)
        record = await asyncio.to_thread(self.store.update_deployment, record)
        self.changed(record)
        names = sorted(documents)
        pairs = {(n, record.id) for n in names}
        self.sending |= pairs
        try:
            answers = await asyncio.gather(
                *(self._send(urls[n], documents[n], dialects.get(n)) for n in names)
            )
        finally:
            self.sending -= pairs
        results = dict(zip(names, answers, strict=True))
        failed = [n for n in names if not results[n]["ok"]]
        if failed and rollback:
            await self._roll_back(record.id, [urls[n] for n in names if n not in failed])
            for name in names:
                if results[name]["ok"]:
                    results[name]["message"] += " (rolled back because another device failed)"
        if failed:
            record.status = advance(record.status, DeploymentEvent.REFUSED)
            record.error = f"{len(failed)} of {len(names)} devices failed: " + "; ".join(
                f"{n}: {results[n]['message']}" for n in failed
            )
        else:
            record.status = advance(record.status, DeploymentEvent.ACCEPTED)
            record.error = None
        record.results = results
        log.info(
            "deployment %s", record.status, extra={"deployment": record.name, "devices": names}
        )
        return self.changed(await asyncio.to_thread(self.store.update_deployment, record))

    def changed(self, record: DeploymentRecord) -> DeploymentRecord:
        """Tell ``notify`` that a deployment was stored; the record."""
        self.notify(
            "deployment",
            {
                "id": record.id,
                "name": record.name,
                "status": str(record.status),
                "epoch": record.epoch,
            },
        )
        return record

    async def send(self, device: str, record: DeploymentRecord) -> dict[str, Any]:
        """Send one device its current document again (reconciling a device that lost it)."""
        found = await asyncio.to_thread(self.store.get_device, device)
        document = record.documents.get(device)
        if found is None or document is None:
            return {"ok": False, "status": None, "message": "nothing to send"}
        pair = (device, record.id)
        self.sending.add(pair)
        try:
            return await self._send(url_of(found), document, dialect_of(found.description))
        finally:
            self.sending.discard(pair)

    async def delete_from(self, device: str, deployment_id: str, epoch: int) -> dict[str, Any]:
        """Remove a stale copy from one device, telling it the ``epoch`` that replaced it."""
        found = await asyncio.to_thread(self.store.get_device, device)
        if found is None:
            return {"ok": False, "message": "unknown device"}
        if dialect_of(found.description) is Dialect.WASMIOT:
            epoch = 0  # the original has no fences: a plain DELETE
        return await self._delete(url_of(found), deployment_id, epoch)

    async def _send(
        self, url: str, document: dict[str, Any], dialect: Dialect | None = None
    ) -> dict[str, Any]:
        try:
            response = await self.client.post(
                url + "/deploy", json=document, timeout=self.settings.deploy_timeout_s
            )
        except httpx.TimeoutException:
            return {
                "ok": False,
                "status": None,
                "message": f"no answer from {url} within {self.settings.deploy_timeout_s:g} s",
            }
        except httpx.HTTPError as err:
            return {"ok": False, "status": None, "message": f"could not reach {url}: {err}"}
        answer = json_of(response)
        if dialect is Dialect.WASMIOT:
            why = wasmiot_deploy_error(response.status_code, answer, response.text)
            ok, message = why is None, "deployed" if why is None else why
        else:
            ok = 200 <= response.status_code < 300
            message = "deployed" if ok else error_of(response)
        result: dict[str, Any] = {"ok": ok, "status": response.status_code, "message": message}
        if answer and len(response.content) <= ANSWER_KEPT_BYTES:
            result["data"] = answer  # the wasmiot dialect's deviceResponses show it
        return result

    async def _roll_back(self, deployment_id: str, urls: list[str]) -> None:
        await asyncio.gather(*(self._delete(url, deployment_id) for url in urls))

    async def _delete(self, url: str, deployment_id: str, epoch: int = 0) -> dict[str, Any]:
        try:
            response = await self.client.delete(
                f"{url}/deploy/{deployment_id}",
                params={"epoch": epoch} if epoch else None,
                timeout=self.settings.deploy_timeout_s,
            )
        except httpx.HTTPError as err:
            why = str(err) or type(err).__name__
            return {"ok": False, "message": f"could not reach {url}: {why}"}
        if response.status_code == 404:
            return {"ok": True, "message": "was not deployed there"}
        ok = 200 <= response.status_code < 300
        return {"ok": ok, "message": "removed" if ok else error_of(response)}

    async def resolve(
        self, key: str, body: Any | None = None, *, unless_deployed: bool = False
    ) -> DeploymentRecord | None:
        """Re-solve (optionally with a new manifest of the same name) and store the plan,
        sending nothing; None, doing nothing, when ``unless_deployed`` and it holds devices."""
        record, manifest = await self._update_of(key, body)
        async with self.lock_for(record.id):
            record = await asyncio.to_thread(self.get, record.id)
            if unless_deployed and record.status in RESERVING:
                return None
            record = await self._resolve_locked(record, manifest)
            record.warnings = manifest.warnings
            return record

    async def redeploy(self, key: str, body: Any | None = None) -> DeploymentRecord:
        """Re-solve (optionally with a new manifest of the same name) and deploy again."""
        record, manifest = await self._update_of(key, body)
        async with self.lock_for(record.id):
            record = await asyncio.to_thread(self.get, record.id)
            old_devices = set(record.documents)
            record = await self._resolve_locked(record, manifest)
            new_devices = {s["device"] for s in (record.plan or {}).get("steps", [])}
            gone = sorted(old_devices - new_devices)
            if gone:
                # A device that is not active keeps its copy until it returns; the healer's
                # reconciliation removes it then (and its epoch is stale meanwhile).
                devices = {d.name: d for d in await asyncio.to_thread(self.store.list_devices)}
                reachable = [
                    devices[n] for n in gone if n in devices and devices[n].status == "active"
                ]
                await self._roll_back(record.id, [url_of(d) for d in reachable])
            record = await self.deploy_locked(record.id)
            record.warnings = manifest.warnings
            return record

    async def _update_of(self, key: str, body: Any | None) -> tuple[DeploymentRecord, Manifest]:
        """The deployment and the manifest to re-solve it with (its own, or ``body``)."""
        record = await asyncio.to_thread(self.get, key)
        manifest = _read_manifest(body) if body is not None else parse_manifest(record.manifest)
        if manifest.name != record.name:
            raise Conflict(
                f"The manifest is named {manifest.name!r} but deployment {record.name!r} is "
                "being updated; names cannot change (create a new deployment instead)."
            )
        return record, manifest

    async def _resolve_locked(
        self, record: DeploymentRecord, manifest: Manifest
    ) -> DeploymentRecord:
        """Solve ``manifest`` into ``record`` and store it (status ``new``); the caller holds
        ``lock_for`` the deployment."""
        async with self.solve_lock:
            record.manifest = manifest.to_dict()
            record = await asyncio.to_thread(self._solve_into, record, manifest)
            record.status = advance(record.status, DeploymentEvent.SOLVED)
            return self.changed(await asyncio.to_thread(self.store.update_deployment, record))

    def documents_of(self, record: DeploymentRecord) -> dict[str, dict[str, Any]]:
        """The documents the devices were sent, or, before the first deploy, the ones its plan
        would send ({} when a module or device of the plan is gone)."""
        if record.documents or record.plan is None:
            return record.documents
        try:
            return build_documents(self.store, record, self.settings)[0]
        except Conflict:
            return {}

    async def remove(self, key: str) -> dict[str, dict[str, Any]]:
        """Delete the deployment from its devices, then from the store; per-device answers."""
        found = await asyncio.to_thread(self.get, key)
        async with self.lock_for(found.id):
            return await self._remove(found.id)

    async def _remove(self, key: str) -> dict[str, dict[str, Any]]:
        record = await asyncio.to_thread(self.get, key)
        devices = {d.name: d for d in await asyncio.to_thread(self.store.list_devices)}
        names = sorted(
            n for n in record.documents if n in devices and devices[n].status == "active"
        )
        answers = await asyncio.gather(
            *(self._delete(url_of(devices[n]), record.id) for n in names)
        )
        removed = dict(zip(names, answers, strict=True))
        for name in sorted(set(record.documents) - set(names)):
            removed[name] = (
                {"ok": False, "message": "device was forgotten; nothing sent"}
                if name not in devices
                else {
                    "ok": True,
                    "message": f"device is {devices[name].status}; its copy is removed "
                    "when it returns",
                }
            )
        await asyncio.to_thread(self.store.delete_deployment, record.id)
        self._locks.pop(record.id, None)
        if self.metrics is not None:
            self.metrics.forget_deployment(record.name)
        self.notify("deployment", {"id": record.id, "name": record.name, "removed": True})
        log.info("deployment removed", extra={"deployment": record.name})
        return removed


def _read_manifest(body: Any) -> Manifest:
    """A manifest a user sent, its warnings logged (once: the stored canonical form, which
    healing and re-solving read, never warns)."""
    manifest = parse_manifest(body)
    for warning in manifest.warnings:
        log.warning("manifest %s: %s", manifest.name, warning, extra={"deployment": manifest.name})
    return manifest
