"""Changing the module version of a deployment's copies, device by device.

``CopyUpdater.update`` points every copy (plan entry) whose module has the name of the
reference — on the given devices, or all — at the version it resolves to, rebuilds only
those devices' documents and sends them. The epoch is *not* raised: a document with the
same epoch replaces the installed copy (the supervisor refuses only older epochs), and the
copies left alone are never fenced. Before anything is sent it refuses (4xx, nothing
changed) a version that lacks a function the deployment calls, or that imports host
functions a target device does not offer (worded as placement words it). A device refusing
the new version puts the devices that took it back on their previous versions, unless told
not to (rollouts decide themselves). Used by the API, the CLI, ``wasmfleet dev`` and
rollouts.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from wasmfleet.core.errors import Conflict, InvalidDocument, PlacementFailed
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.openapi import description_operations
from wasmfleet.core.placement.filters import dialect_reason, interface_reason
from wasmfleet.orchestrator.deployments import DeploymentService
from wasmfleet.orchestrator.documents import build_documents
from wasmfleet.orchestrator.modules import ModuleService
from wasmfleet.orchestrator.planning import is_bridge, snapshot, step_features
from wasmfleet.orchestrator.store import DeploymentRecord, ModuleRecord, Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class UpdateResult:
    """What an update did: the version asked for and, per device, its answer."""

    deployment: str
    module: str
    version: int
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Device → ``{"ok", "status", "message", "from_version", "to_version"}``."""
    rolled_back: bool = False
    """A device refused and the others were put back on their previous versions."""

    @property
    def ok(self) -> bool:
        """True when every targeted device took the new version."""
        return all(answer["ok"] for answer in self.devices.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON answer of the update route."""
        return {
            "deployment": self.deployment,
            "module": self.module,
            "version": self.version,
            "devices": self.devices,
            "rolled_back": self.rolled_back,
        }


class CopyUpdater:
    """Move a deployment's copies of a module to another version of it."""

    def __init__(
        self, store: Store, modules: ModuleService, deployments: DeploymentService
    ) -> None:
        self.store = store
        self.modules = modules
        self.deployments = deployments

    async def update(
        self,
        deployment: str,
        module_ref: str,
        *,
        devices: Collection[str] | None = None,
        roll_back_on_refusal: bool = True,
    ) -> UpdateResult:
        """Point the copies of ``module_ref``'s module (on ``devices``, or all) at the version
        it names and send those devices their new documents (same epoch)."""
        found = await asyncio.to_thread(self.deployments.get, deployment)
        target = await asyncio.to_thread(self.modules.resolve, module_ref)
        async with self.deployments.lock_for(found.id):
            record = await asyncio.to_thread(self.deployments.get, found.id)
            entries = self._entries(record, target, devices)
            await asyncio.to_thread(self._check, record, target, entries)
            return await self._apply(record, target, entries, roll_back_on_refusal)

    def _entries(
        self, record: DeploymentRecord, target: ModuleRecord, devices: Collection[str] | None
    ) -> list[dict[str, Any]]:
        """The plan entries to move: copies of ``target``'s module name on ``devices``."""
        steps = (record.plan or {}).get("steps", [])
        copies = [s for s in steps if not is_bridge(s) and s.get("module") == target.name]
        if not copies:
            names = sorted({str(s.get("module")) for s in steps if not is_bridge(s)})
            raise InvalidDocument(
                f"Deployment {record.name!r} runs no copy of module {target.name!r} (it runs: "
                f"{', '.join(names) or 'nothing'}); update one of those."
            )
        if devices is None:
            return copies
        wanted = set(devices)
        unknown = sorted(wanted - {str(s["device"]) for s in copies})
        if unknown:
            held = ", ".join(sorted({str(s["device"]) for s in copies}))
            raise InvalidDocument(
                f"Deployment {record.name!r} has no copy of {target.name!r} on "
                f"{', '.join(unknown)} (its copies are on: {held})."
            )
        return [s for s in copies if s["device"] in wanted]

    def _check(
        self, record: DeploymentRecord, target: ModuleRecord, entries: list[dict[str, Any]]
    ) -> None:
        """Refuse, before anything changes, a version missing a called function or needing
        host functions a target device lacks."""
        described = description_operations(target.description or {})
        for entry in entries:
            if entry["function"] not in described:
                raise InvalidDocument(
                    f"{target.name} version {target.version} lacks function "
                    f"{entry['function']!r}, which deployment {record.name!r} calls (it "
                    f"describes: {', '.join(sorted(described)) or 'nothing'}); nothing was "
                    "changed."
                )
        manifest = parse_manifest(record.manifest)
        requires = frozenset(
            f"{r['module']}.{r['name']}" for r in target.requirements if r.get("kind") == "func"
        )
        devices = {d.name: d for d in self.store.list_devices()}
        states = {s.name: s for s in snapshot(list(devices.values()), []).devices}
        reasons: dict[str, str] = {}
        for entry in entries:
            state = states.get(str(entry["device"]))
            if state is None:
                reasons[str(entry["device"])] = f"{entry['device']} is not a known device"
                continue
            step = manifest.steps[int(entry["step"])]
            features = step_features(step, requires, described[entry["function"]][1])
            why = dialect_reason(state, features) or interface_reason(state, requires)
            if why:
                reasons[state.name] = why
        if reasons:
            raise PlacementFailed(
                f"{target.name} version {target.version} cannot run on "
                f"{', '.join(sorted(reasons))}: "
                + "; ".join(reasons[n] for n in sorted(reasons))
                + "; nothing was changed.",
                reasons,
            )

    async def _apply(
        self,
        record: DeploymentRecord,
        target: ModuleRecord,
        entries: list[dict[str, Any]],
        roll_back: bool,
    ) -> UpdateResult:
        result = UpdateResult(record.name, target.name, target.version)
        before = copy.deepcopy(record.plan)
        old_documents = dict(record.documents)
        from_versions: dict[str, int | None] = {}
        for entry in entries:
            from_versions.setdefault(str(entry["device"]), entry.get("version"))
            entry["module_id"], entry["version"] = target.id, target.version
        names = sorted(from_versions)
        self._set_modules(record)
        if not old_documents:  # never sent: the plan changes, nothing goes to devices
            for name in names:
                result.devices[name] = _answer(
                    {"ok": True, "status": None, "message": "plan updated (not deployed yet)"},
                    from_versions[name],
                    target.version,
                )
            await asyncio.to_thread(self.store.update_deployment, record)
            return result
        answers = await self._send(record, names, old_documents)
        refused = [n for n in names if not answers[n]["ok"]]
        if refused and roll_back:
            record.plan = before
            self._set_modules(record)
            took = [n for n in names if answers[n]["ok"]]
            back = await self._send(record, took, old_documents)
            for name in took:
                how = "put back" if back[name]["ok"] else "could NOT be put back"
                answers[name]["message"] += (
                    f" ({how} on version {from_versions[name]} because "
                    f"{', '.join(refused)} refused)"
                )
            result.rolled_back = True
        elif refused:  # keep the new version where it was taken, the old one elsewhere
            for entry in record.plan["steps"] if record.plan else []:
                if entry in entries and entry["device"] in refused:
                    old = _entry_of(before, entry)
                    entry["module_id"], entry["version"] = old["module_id"], old["version"]
            self._set_modules(record)
            for name in refused:
                record.documents[name] = old_documents[name]
        for name in names:
            landed = answers[name]["ok"] and not result.rolled_back
            result.devices[name] = _answer(
                answers[name], from_versions[name], target.version if landed else None
            )
            record.results[name] = {k: answers[name][k] for k in ("ok", "status", "message")}
        await asyncio.to_thread(self.store.update_deployment, record)
        log.info(
            "copies updated" if result.ok else "update refused by a device",
            extra={"deployment": record.name, "version": target.version, "devices": names},
        )
        return result

    async def _send(
        self, record: DeploymentRecord, names: list[str], old: dict[str, dict[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """Rebuild the documents (same epoch), keep the others' as sent, send ``names``'."""
        documents, _urls, _dialects = await asyncio.to_thread(
            build_documents, self.store, record, self.deployments.settings
        )
        record.documents = {**old, **{n: documents[n] for n in names if n in documents}}
        missing = [n for n in names if n not in documents]
        if missing:
            raise Conflict(f"No document could be built for {', '.join(missing)}.")
        answers = await asyncio.gather(*(self.deployments.send(n, record) for n in names))
        return dict(zip(names, answers, strict=True))

    @staticmethod
    def _set_modules(record: DeploymentRecord) -> None:
        steps = (record.plan or {}).get("steps", [])
        record.module_ids = sorted({str(s["module_id"]) for s in steps if s.get("module_id")})


def _entry_of(plan: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
    """The entry of ``plan`` for the same copy (step index and device) as ``entry``."""
    for old in (plan or {}).get("steps", []):
        if old["step"] == entry["step"] and old["device"] == entry["device"]:
            return dict(old)
    return dict(entry)


def _answer(
    sent: dict[str, Any], from_version: int | None, to_version: int | None
) -> dict[str, Any]:
    return {
        "ok": bool(sent["ok"]),
        "status": sent.get("status"),
        "message": str(sent.get("message", "")),
        "from_version": from_version,
        "to_version": to_version,
    }
