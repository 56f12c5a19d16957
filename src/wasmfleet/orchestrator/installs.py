"""Installs: an app bound at a place, stored with its holds, deployed, run and removed.

``install`` checks the request (install_request.py), binds the app's needs to the sensors and
controllers at or below the location (core/app_binding.py: 409 when an exclusive controller is
held by another install, 422 when a type is missing), builds the install's manifest
(core/app_steps.py), stores the install and its holds in one transaction, then deploys with
placement as for any manifest: now when it has no schedule or a ``run`` schedule, when its
window opens for a ``window`` schedule (orchestrator/scheduler.py). The deployment is named
after the install. End users see and change only their own installs (others' are 404 to them).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from wasmfleet.core import rbac
from wasmfleet.core.app_binding import Binding, Refusal, bind
from wasmfleet.core.app_steps import install_manifest
from wasmfleet.core.apps import App, resolve_parameters
from wasmfleet.core.errors import Conflict, NotFound, WasmfleetError
from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.core.schedule import Mode, Schedule, parse_schedule
from wasmfleet.core.schedule_due import ScheduleStatus, fire_key
from wasmfleet.orchestrator.auth import Identity
from wasmfleet.orchestrator.install_request import (
    check_function,
    check_place,
    check_schedule,
    read_request,
)
from wasmfleet.orchestrator.install_views import install_view
from wasmfleet.orchestrator.store.installs import InstallRecord
from wasmfleet.orchestrator.store.records import new_id

if TYPE_CHECKING:
    from wasmfleet.orchestrator.service import Orchestrator

log = logging.getLogger(__name__)


class Notifier(Protocol):
    """What the installs need of the notifier (orchestrator/notify.py)."""

    def notify(
        self, event: str, subject: str, text: str, data: Any, targets: Any = None
    ) -> None: ...


class InstallService:
    """Install apps at places, uninstall them, run them now; deploy and remove for schedules."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        self.store = orch.store

    # --- reading ---------------------------------------------------------------------------

    def get(self, name: str, who: Identity) -> InstallRecord:
        """The install named ``name`` as ``who`` may see it, or NotFound."""
        found = self.store.get_install(name)
        if found is None or not _may_see(who, found):
            raise NotFound(f"No install {name!r} of yours; see `wasmfleet app installs`.")
        return found

    def list(self, who: Identity) -> list[InstallRecord]:
        """The installs ``who`` may see (an end user: their own), by name."""
        owner = who.actor if who.role is rbac.Role.END_USER else None
        return list(self.store.list_installs(owner))

    def view(self, install: InstallRecord) -> dict[str, Any]:
        """An install as /api/v1 shows it: binding, schedule, status, deployment and where."""
        deployment = None
        if install.deployment_id:
            deployment = self.store.get_deployment(install.deployment_id)
        return install_view(install, deployment)

    # --- installing ------------------------------------------------------------------------

    async def install(self, body: object, who: Identity) -> tuple[dict[str, Any], bool]:
        """Install an app (or, with ``dry_run``, show what would be bound); the view and
        whether the deployment (when one was made now) is active."""
        request = read_request(body)
        record = await asyncio.to_thread(self.orch.apps.get, request.app)
        await asyncio.to_thread(check_place, self.store, who, request.location)
        app = await asyncio.to_thread(self.orch.apps.app_of, record)
        params = resolve_parameters(app, request.params)
        now = datetime.now(UTC)
        fires = check_schedule(request.schedule, now) if request.schedule else []
        if request.schedule is not None and request.schedule.mode is Mode.RUN:
            check_function(app, request.function)
        name = request.name or f"{app.name}-{request.location.replace('/', '-')}"
        binding = await asyncio.to_thread(self._bind, app, request.location, name)
        manifest = install_manifest(app, binding, params, name)  # refuses two-device steps
        schedule_doc = request.schedule.to_dict() if request.schedule else None
        if schedule_doc is not None and request.function:
            schedule_doc["function"] = request.function
        install = InstallRecord(
            name=name,
            app_id=record.id,
            location=request.location,
            owner=who.actor,
            params=params,
            binding=binding.to_dict(),
            schedule=schedule_doc,
            notify=request.notify,
            status=ScheduleStatus.PENDING if request.schedule else "deploying",
            last_fire=now if request.schedule else None,
            next_fire=fires[0] if fires else None,
            app=record.key,
        )
        if request.dry_run:
            return {**install_view(install, None), "dry_run": True}, True
        held = [
            (need, hold) for need, hold in zip(binding.things, binding.holds(name), strict=True)
        ]
        install = await asyncio.to_thread(self.store.add_install, install, held)
        self.changed(install)
        if request.schedule is not None and request.schedule.mode is Mode.WINDOW:
            return self.view(install), True
        try:
            install, ok = await self.deploy(install, manifest.to_dict())
        except BaseException:
            await asyncio.to_thread(self.store.delete_install, install.id)
            self.changed(install, removed=True)
            raise
        if request.schedule is None:
            status = ScheduleStatus.ACTIVE if ok else ScheduleStatus.FAILED
            install = await asyncio.to_thread(self.store.update_install, install, status=status)
            self.changed(install)
        return self.view(install), ok

    def _bind(self, app: App, location: str, name: str) -> Binding:
        things = [r.thing for r in self.store.list_things(location=location)]
        bound = bind(app, location, things, self.store.all_holds(), install=name)
        if isinstance(bound, Refusal):
            raise bound.to_error()
        return bound

    def binding_of(self, install: InstallRecord) -> Binding:
        """The stored binding of an install, with the things as registered now."""
        shown = install.binding.get("bindings") or {}
        things = {}
        for need, item in shown.items():
            if item.get("kind") == "module":
                continue
            found = self.store.get_thing(item["thing"])
            if found is None:
                raise Conflict(
                    f"The {item['kind']} {item['thing']!r} bound to {need!r} was removed; "
                    f"uninstall {install.name!r} and install it again."
                )
            things[need] = found.thing
        modules = {n: i["module"] for n, i in shown.items() if i.get("kind") == "module"}
        exclusive = frozenset(n for n, i in shown.items() if i.get("exclusive"))
        return Binding(install.binding["app"], install.location, things, modules, exclusive)

    def manifest_of(self, install: InstallRecord) -> dict[str, Any]:
        """The deployment manifest of a stored install (as installing built it)."""
        app = self.orch.apps.app_of(self.orch.apps.get(install.app_id))
        return install_manifest(
            app, self.binding_of(install), install.params, install.name
        ).to_dict()

    async def deploy(
        self, install: InstallRecord, manifest: dict[str, Any] | None = None
    ) -> tuple[InstallRecord, bool]:
        """Create and deploy the install's deployment; (install, whether it is active).
        A placement refusal raises; a device that refuses leaves the deployment failed."""
        if manifest is None:
            manifest = await asyncio.to_thread(self.manifest_of, install)
        deployments = self.orch.deployments
        created = await deployments.create(manifest)
        install = await asyncio.to_thread(
            self.store.update_install, install, deployment_id=created.id
        )
        deployed = await deployments.deploy(created.id)
        ok = deployed.status == DeploymentStatus.ACTIVE
        if ok:
            install = await asyncio.to_thread(self.store.update_install, install, reason=None)
            self.tell("app.started", install, f"{install.name} is running.")
        else:
            install = await asyncio.to_thread(
                self.store.update_install, install, reason=deployed.error
            )
            self.tell("app.failed", install, f"{install.name} failed: {deployed.error}")
        return install, ok

    async def undeploy(self, install: InstallRecord) -> InstallRecord:
        """Remove the install's deployment from its devices (kept installed)."""
        if install.deployment_id:
            with contextlib.suppress(NotFound):
                await self.orch.deployments.remove(install.deployment_id)
            self.tell("app.stopped", install, f"{install.name} was stopped.")
        return await asyncio.to_thread(self.store.update_install, install, deployment_id=None)

    async def uninstall(self, name: str, who: Identity) -> dict[str, Any]:
        """Remove the install's deployment and delete the install with its holds."""
        install = await asyncio.to_thread(self.get, name, who)
        removed: dict[str, Any] = {}
        if install.deployment_id:
            try:
                removed = await self.orch.deployments.remove(install.deployment_id)
            except NotFound:
                removed = {}
            self.tell("app.stopped", install, f"{install.name} was uninstalled.")
        await asyncio.to_thread(self.store.delete_install, install.id)
        self.changed(install, removed=True)
        return {"name": install.name, "removed": removed}

    async def run(self, install: InstallRecord, key: str) -> tuple[str, str | None]:
        """Run the install's app once from its first step; (outcome, detail) recorded on
        the claimed fire ``key``."""
        outcome, detail = "failed", None
        try:
            if not install.deployment_id:
                raise Conflict(f"{install.name} is not deployed now; nothing to run.")
            record = await asyncio.to_thread(self.orch.deployments.get, install.deployment_id)
            execution = await self.orch.executions.execute(record, [], {})
            outcome, detail = "ok", f"execution {execution.id}"
        except WasmfleetError as err:
            detail = err.message
        await asyncio.to_thread(self.store.finish_fire, key, outcome, detail)
        if outcome != "ok":
            self.tell("app.failed", install, f"{install.name}: a run failed: {detail}")
        return outcome, detail

    async def run_now(self, name: str, who: Identity) -> dict[str, Any]:
        """Run an install once now (by hand), recorded among its fires."""
        install = await asyncio.to_thread(self.get, name, who)
        now = datetime.now(UTC)
        key = f"{fire_key(install.id, now)}/run-{new_id()[:8]}"
        await asyncio.to_thread(self.store.claim_fire, key, install.id, now, who.actor)
        outcome, detail = await self.run(install, key)
        return {"install": install.name, "key": key, "outcome": outcome, "detail": detail}

    # --- telling others ----------------------------------------------------------------------

    def changed(self, install: InstallRecord, *, removed: bool = False) -> None:
        """A live ``install`` event for the dashboard."""
        data: dict[str, Any] = {"name": install.name, "app": install.app, "status": install.status}
        if removed:
            data["removed"] = True
        self.orch.events.publish("install", data)

    def tell(self, event: str, install: InstallRecord, text: str) -> None:
        """Notify the install's own targets (and the global ones) of ``event``."""
        notifier: Notifier | None = getattr(self.orch, "notifier", None)
        if notifier is None:
            return
        targets = None
        if install.notify:
            notify = importlib.import_module("wasmfleet.orchestrator.notify")
            targets = notify.Targets(
                tuple(install.notify.get("webhook", ())), tuple(install.notify.get("email", ()))
            )
        data = {"install": install.name, "app": install.app, "location": install.location}
        try:
            notifier.notify(event, f"{install.name}: {event}", text, data, targets)
        except Exception:  # a notification must never break an install
            log.exception("notification failed", extra={"install": install.name})


def schedule_of(install: InstallRecord) -> tuple[Schedule | None, str | None]:
    """The install's parsed schedule and the function a run calls (None, None: no schedule)."""
    if install.schedule is None:
        return None, None
    doc = dict(install.schedule)
    function = doc.pop("function", None)
    return parse_schedule(doc), function


def _may_see(who: Identity, install: InstallRecord) -> bool:
    return who.role is not rbac.Role.END_USER or install.owner == who.actor
