"""Self-healing: move the work of dead devices, and retry what could not move.

*Moving.* When the monitor declares a device dead, every deployment with a step on it is
re-solved with that device excluded: steps on healthy devices stay where they are, and a
moved step tries its hand-listed ``failovers`` first (in order), then wherever the solver
puts it — unless the user pinned it to the dead device, in which case only its failovers
may take it. The decision (new plan, a ``moves`` entry per step, status ``moving``) is
stored *before* anything is sent, so an orchestrator killed half-way resumes the move on
restart. Then every device of the new plan gets its document with a new epoch. A
deployment that cannot be re-placed is ``degraded`` with the solver's reasons and is
retried whenever the fleet changes (a device registers or comes back) and every
``heal_retry_s``.

*Fleet-wide steps* (``replicas``) are reconciled like a DaemonSet, not moved: a copy on a
dead or forgotten device is dropped, a device that registers or comes back and matches
gets one, and a device whose labels no longer match loses its copy. When only such copies
change, ``fleetwide.apply_copies`` sends the documents of the devices concerned at the
*same* epoch (other copies keep serving, unfenced) and the deployment stays ``active``.
Every retry (a device registering or returning, and every ``heal_retry_s``) re-solves
active deployments with fleet-wide steps too; an unchanged plan sends nothing.

Fencing stale copies on devices that come back is ``reconcile.py``'s job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from wasmfleet.core.errors import PlacementFailed, WasmfleetError
from wasmfleet.core.failure_detector import Transition
from wasmfleet.core.lifecycle import (
    AWAITING_HEAL,
    HEALABLE,
    DeploymentEvent,
    DeploymentStatus,
    advance,
)
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.versions import carry_versions
from wasmfleet.orchestrator.deployments import DeploymentService
from wasmfleet.orchestrator.fleetwide import apply_copies, fleet_wide_steps, has_fleet_wide
from wasmfleet.orchestrator.planning import copies_of, step_label
from wasmfleet.orchestrator.reconcile import Reconciler
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import DeploymentRecord, Store
from wasmfleet.orchestrator.tasks import BackgroundTasks

log = logging.getLogger(__name__)


SETTLE_S = 0.5
"""Devices that register within this time of each other cause one retry of degraded
deployments."""


class Healer:
    """Moves work off dead devices; asks the reconciler to clean up after devices that return."""

    def __init__(
        self,
        store: Store,
        settings: OrchestratorSettings,
        deployments: DeploymentService,
        reconciler: Reconciler,
    ) -> None:
        self.store = store
        self.settings = settings
        self.deployments = deployments
        self.reconciler = reconciler
        self.tasks = BackgroundTasks("healing")
        self.moved = 0
        self._waiting: dict[str, list[str]] = {}
        """Deployment id -> the reasons of the move waiting for its lock: a further request
        meanwhile joins it (the waiting move reads every device's state when it starts)."""
        self.coalesced = 0
        """Move requests that joined one already waiting."""
        self._joined: list[str] = []
        """Why the fleet changed since the last retry was scheduled (``fleet_changed``)."""
        self._settling = False

    # -- events --------------------------------------------------------------------------

    async def on_transition(self, transition: Transition) -> None:
        """Monitor listener: a death moves work; a return reconciles and retries."""
        if transition.status == "dead":
            self.tasks.spawn(self.device_dead(transition.device, transition.reason))
        elif transition.status == "active" and transition.previous == "dead":
            self.tasks.spawn(self.reconciler.reconcile(transition.device, None))
            self.tasks.spawn(self.retry(f"{transition.device} is back"))

    def fleet_changed(self, why: str) -> None:
        """A device registered: degraded deployments may fit now. Devices that join within
        ``SETTLE_S`` of each other are one retry (a thousand registering after a power cut
        asked for a thousand retries, each reading every deployment and device)."""
        if why not in self._joined:
            self._joined.append(why)
        if self._settling:
            return
        self._settling = True
        self.tasks.spawn(self._retry_settled())

    async def _retry_settled(self) -> None:
        await asyncio.sleep(SETTLE_S)
        whys, self._joined, self._settling = self._joined, [], False
        await self.retry(_joined(whys))

    async def device_dead(self, device: str, reason: str) -> None:
        """Move every healable deployment with a step on ``device``."""
        deployments = await asyncio.to_thread(self.store.list_deployments)
        affected = [
            d
            for d in deployments
            if d.status in HEALABLE
            and any(s["device"] == device for s in (d.plan or {}).get("steps", []))
        ]
        if affected:
            log.warning(
                "device %s is dead; moving the steps of %d deployment(s)",
                device,
                len(affected),
                extra={"device": device},
            )
        await asyncio.gather(*(self.move(d.id, f"{device} is dead: {reason}") for d in affected))

    async def retry(self, why: str) -> None:
        """Try again every degraded deployment and finish every interrupted move."""
        deployments = await asyncio.to_thread(self.store.list_deployments)
        pending = [
            d
            for d in deployments
            if d.status in AWAITING_HEAL
            or (d.status == DeploymentStatus.ACTIVE and has_fleet_wide(d.manifest))
        ]
        await asyncio.gather(*(self.move(d.id, why) for d in pending))

    async def run(self) -> None:
        """Resume interrupted moves now, then retry degraded deployments periodically."""
        await self.retry("resuming after an orchestrator restart")
        while True:
            await asyncio.sleep(self.settings.heal_retry_s)
            try:
                await self.retry("periodic retry")
            except Exception:
                log.exception("retrying degraded deployments failed")

    # -- moving ----------------------------------------------------------------------

    async def move(self, deployment_id: str, why: str) -> None:
        """Re-place the steps of one deployment that sit on devices that are not active.

        Ten devices dying together are one move of each deployment they shared (two at
        most: one under way, one waiting), not ten: a fleet-wide deployment's record holds a
        document per device, and re-solving and rewriting it ten times in a row kept the
        leader's event loop so busy that judging the rest of the fleet was held."""
        waiting = self._waiting.get(deployment_id)
        if waiting is not None:
            if why not in waiting:
                waiting.append(why)
            self.coalesced += 1
            return
        reasons = self._waiting[deployment_id] = [why]
        try:
            async with self.deployments.lock_for(deployment_id):
                del self._waiting[deployment_id]
                await self._move_locked(deployment_id, _joined(reasons))
        finally:  # cancelled while waiting: later requests must not join a move that is gone
            if self._waiting.get(deployment_id) is reasons:
                del self._waiting[deployment_id]

    async def _move_locked(self, deployment_id: str, why: str) -> None:
        try:
            await self._move(deployment_id, why)
        except WasmfleetError as err:
            log.warning(
                "could not move deployment %s: %s",
                deployment_id,
                err.message,
                extra={"deployment": deployment_id},
            )

    async def _move(self, deployment_id: str, why: str) -> None:
        record = await asyncio.to_thread(self.store.get_deployment, deployment_id)
        if record is None or record.status not in HEALABLE or not record.plan:
            return
        devices = {d.name: d for d in await asyncio.to_thread(self.store.list_devices)}
        # Only dead (or forgotten) devices lose their steps; a suspect one keeps them.
        gone = {
            s["device"]
            for s in record.plan["steps"]
            if s["device"] not in devices or devices[s["device"]].status in ("dead", "inactive")
        }
        wide = fleet_wide_steps(record.manifest)
        plain = [s for s in record.plan["steps"] if s["step"] not in wide]
        down = {s["device"] for s in plain if s["device"] in gone}
        if not down and record.status == DeploymentStatus.ACTIVE:
            if wide:
                await self._refresh_copies(record, gone, why)
            return
        before = {int(s["step"]): s["device"] for s in plain}
        async with self.deployments.solve_lock:
            try:
                record = await asyncio.to_thread(self._replan, record, gone)
            except PlacementFailed as err:
                await self._degrade(record, down, err, why)
                return
            after = {
                int(s["step"]): s["device"]
                for s in (record.plan or {}).get("steps", [])
                if s["step"] not in wide
            }
            now = datetime.now(UTC).isoformat()
            for step, old in sorted(before.items()):
                new = after.get(step)
                if new != old:
                    info: dict[str, Any] = next(
                        (s for s in (record.plan or {}).get("steps", []) if s["step"] == step), {}
                    )
                    record.moves.append(
                        {
                            "at": now,
                            "step": step,
                            "function": step_label(info),
                            "from": old,
                            "to": new,
                            "reason": why,
                            "epoch": record.epoch + 1,
                        }
                    )
                    self.moved += 1
                    log.warning(
                        "moved step %d (%s) of deployment %s from %s to %s: %s",
                        step + 1,
                        step_label(info),
                        record.name,
                        old,
                        new,
                        why,
                        extra={"deployment": record.name, "from": old, "to": new},
                    )
            record.moves = record.moves[-50:]
            record.status = advance(record.status, DeploymentEvent.MOVE)
            record.error = None
            record = await asyncio.to_thread(self.store.update_deployment, record)
            self.deployments.changed(record)
        done = await self.deployments.deploy_locked(record.id, rollback=False)
        self.reconciler.forget_cache()
        if done.status == DeploymentStatus.ACTIVE:
            log.info(
                "deployment %s runs again (epoch %d)",
                done.name,
                done.epoch,
                extra={"deployment": done.name},
            )
        else:
            log.warning(
                "deployment %s is degraded: %s",
                done.name,
                done.error,
                extra={"deployment": done.name},
            )

    async def _refresh_copies(self, record: DeploymentRecord, gone: set[str], why: str) -> None:
        """Re-solve the copies of fleet-wide steps (the rest stays); send only what changed,
        at the same epoch."""
        before = copies_of(record.plan)
        async with self.deployments.solve_lock:
            try:
                solved = await asyncio.to_thread(self._replan, replace(record), gone)
            except PlacementFailed as err:
                await self._degrade(record, gone, err, why)
                return
        after = copies_of(solved.plan)
        if after == before:
            return
        for step in sorted(after.keys() | before.keys()):
            added = sorted(set(after.get(step, [])) - set(before.get(step, [])))
            removed = sorted(set(before.get(step, [])) - set(after.get(step, [])))
            if added or removed:
                log.info(
                    "deployment %s step %d: copies added on %s, removed from %s (%s)",
                    record.name,
                    step + 1,
                    ", ".join(added) or "none",
                    ", ".join(removed) or "none",
                    why,
                    extra={"deployment": record.name, "added": added, "removed": removed},
                )
        await apply_copies(self.deployments, solved, record.documents)
        self.reconciler.forget_cache()

    def _replan(self, record: DeploymentRecord, down: set[str]) -> DeploymentRecord:
        """Keep healthy steps in place; failovers first for the others (worker thread).

        Fleet-wide steps are not pinned: their copies on healthy devices are kept (``keep``)
        and the solver adds or drops the others as the fleet now matches."""
        manifest = parse_manifest(record.manifest)
        before = list((record.plan or {}).get("steps", []))
        wide = {i for i, s in enumerate(manifest.steps) if s.fleet_wide}
        copies = copies_of(record.plan)
        keep = {i: tuple(d for d in copies.get(i, []) if d not in down) for i in wide}
        current = {i: devices[0] for i, devices in copies.items() if i not in wide}
        names = {d.id: d.name for d in self.store.list_devices()}
        kept = frozenset(d for i, ds in copies.items() for d in ds if d not in down)
        steps = [
            replace(step, device=current[i]) if i in current and current[i] not in down else step
            for i, step in enumerate(manifest.steps)
        ]
        for i, step in enumerate(manifest.steps):
            if i in wide or current.get(i) not in down:
                continue
            failovers = [names.get(f, f) for f in step.failovers]
            chosen = None
            for failover in failovers:
                if failover in down:
                    continue
                trial = list(steps)
                trial[i] = replace(step, device=failover)
                try:
                    self.deployments.solve_into(
                        replace(record), replace(manifest, steps=tuple(trial)), kept, keep
                    )
                except PlacementFailed:
                    continue
                chosen = failover
                break
            if chosen is not None:
                steps[i] = replace(step, device=chosen)
            elif step.device is not None and names.get(step.device, step.device) in down:
                tried = ", ".join(failovers) or "none listed"
                raise PlacementFailed(
                    f"Step {i + 1} ({step.label}) is pinned to "
                    f"{current.get(i)}, which is not active, and none of its failovers "
                    f"({tried}) can host it.",
                    {},
                    f"{i + 1}:{step.label}",
                )
        solved = self.deployments.solve_into(
            record, replace(manifest, steps=tuple(steps)), kept, keep
        )
        solved.manifest = manifest.to_dict()  # the user's manifest, not the pinned copy
        if solved.plan is not None:  # copies keep the versions they run (core/versions.py)
            solved.plan["steps"] = carry_versions(before, solved.plan["steps"])
            solved.module_ids = sorted(
                {str(s["module_id"]) for s in solved.plan["steps"] if s.get("module_id")}
            )
        return solved

    async def _degrade(
        self, record: DeploymentRecord, down: set[str], err: PlacementFailed, why: str
    ) -> None:
        reasons = "; ".join(f"{d}: {r}" for d, r in sorted(err.reasons.items()))
        message = f"{why}. No device can take over: {err.message}"
        if reasons and reasons not in message:
            message += f" ({reasons})"
        if record.status != DeploymentStatus.DEGRADED or record.error != message:
            log.warning(
                "deployment %s is degraded: %s",
                record.name,
                message,
                extra={"deployment": record.name, "down": sorted(down)},
            )
        record.status = advance(record.status, DeploymentEvent.STRANDED)
        record.error = message
        self.deployments.changed(await asyncio.to_thread(self.store.update_deployment, record))

    async def stop(self) -> None:
        """Cancel background work."""
        await self.tasks.stop()


def _joined(reasons: list[str], shown: int = 3) -> str:
    """Several reasons for one move in one sentence (the first few, then how many more)."""
    text = "; ".join(reasons[:shown])
    return text if len(reasons) <= shown else f"{text}; and {len(reasons) - shown} more"
