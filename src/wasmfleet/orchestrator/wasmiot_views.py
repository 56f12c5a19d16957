"""The wasmiot orchestrator's answer shapes, built from stored records.

Each view follows one document of the wasmiot orchestrator (LiquidAI-project/
wasmiot-orchestrator at dfa3f55, read from its source; docs/wasmiot-compat.md cites the file
and function of each): the same keys, the same types, ``_id`` for ids, times as JavaScript
writes them. Facts only wasmfleet has (labels, epochs, scores...) stay in ``/api/v1``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.lifecycle import RESERVING
from wasmfleet.core.openapi import description_operations, operation_mounts
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    ModuleRecord,
    StatusEntry,
)

INACTIVE = frozenset({"dead", "inactive"})
"""Our statuses the original calls ``inactive``; ``suspect`` is still ``active`` there (it
turns a device inactive only after several failed checks)."""


def js_time(value: datetime | None) -> str | None:
    """A time as JavaScript's ``Date.toISOString`` writes it: ``2026-03-01T12:00:00.654Z``."""
    if value is None:
        return None
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def device_status(status: str) -> str:
    """``active`` or ``inactive``, the only two statuses of the original."""
    return "inactive" if status in INACTIVE else "active"


def wasmiot_device(d: DeviceRecord, log: list[StatusEntry]) -> dict[str, Any]:
    """A device (deviceDiscovery.js ``Device`` after ``#addNewDevice`` and a health check).

    ``log`` is the device's status log, oldest first; the original keeps only changes between
    active and inactive, newest first."""
    changes: list[dict[str, Any]] = []
    for entry in log:
        status = device_status(entry.status)
        if not changes or changes[0]["status"] != status:
            changes.insert(0, {"status": status, "time": js_time(entry.time)})
    view: dict[str, Any] = {
        "_id": d.id,
        "name": d.name,
        "communication": {"addresses": list(d.addresses), "port": d.port},
        "description": d.description,
        "status": device_status(d.status),
        "failedHealthCheckCount": d.failures,
        # We keep no count of good checks in a row: 1 says the last one was good.
        "okHealthCheckCount": 0 if d.failures or d.last_seen is None else 1,
        "statusLog": changes,
    }
    if d.last_seen is not None or d.health is not None:
        view["health"] = {"report": d.health, "timeOfQuery": js_time(d.last_seen)}
    return view


def wasmiot_module(m: ModuleRecord) -> dict[str, Any]:
    """A module (module.js ``createNewModule`` + ``addModuleBinary`` + ``describeExistingModule``).

    ``path`` of a file is the URL path it is served at (the original shows a path on its own
    disk); the binary's ``originalFilename`` is ``<name>.wasm`` (the upload's is not kept)."""
    base = f"/file/module/{m.id}"
    return {
        "_id": m.id,
        "name": m.name,
        "wasm": {
            "originalFilename": f"{m.name}.wasm",
            "fileName": m.sha256,
            "path": f"{base}/wasm",
        },
        "requirements": [
            {"module": r["module"], "name": r["name"], "kind": "function"}
            for r in m.requirements
            if r.get("kind") in ("func", "function")
        ],
        "exports": [{"name": e["name"], "parameterCount": e["parameterCount"]} for e in m.exports],
        "dataFiles": {
            name: {
                "originalFilename": str(meta.get("filename") or name),
                "fileName": str(meta.get("sha256", "")),
                "path": f"{base}/{name}",
            }
            for name, meta in m.data_files.items()
        },
        "mounts": function_mounts(m.description or {}),
        "description": m.description or {},
    }


def function_mounts(description: dict[str, Any]) -> dict[str, dict[str, dict[str, str]]]:
    """Each described function's mounts as the original stores them:
    ``{function: {mount name: {"mediaType", "stage"}}}``."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for name, (_method, op) in description_operations(description).items():
        try:
            mounts = operation_mounts(op, name) or ()
        except WasmfleetError:
            mounts = ()
        out[name] = {m.name: {"mediaType": m.media_type, "stage": m.stage} for m in mounts}
    return out


def wasmiot_manifest(
    d: DeploymentRecord, ids: Mapping[str, str], documents: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """A deployment (orchestrator.js ``solve`` + ``createSolution``, deployment.js ``tryDeploy``).

    ``ids`` maps device names to ids (a forgotten device keeps its name); ``documents`` are
    the per-device documents by device name: ``fullManifest`` keys them by device id."""
    steps = [s for s in (d.plan or {}).get("steps", []) if s.get("bridge") is None]
    goal = _goal_devices(d)
    view: dict[str, Any] = {
        "_id": d.id,
        "name": d.name,
        "active": d.status in RESERVING,
        "failoversBySequence": _failovers(d, ids),
        "goalDeployment": [
            ids.get(goal.get(int(s["step"]), s["device"]), s["device"]) for s in steps
        ],
        "fullManifest": {ids.get(name, name): doc for name, doc in documents.items()},
        "sequence": [
            {
                "device": ids.get(s["device"], s["device"]),
                "module": s["module_id"],
                "func": s["function"],
            }
            for s in steps
        ],
    }
    if d.moves:
        view["isInFailover"] = in_failover(d)
    return view


def _goal_devices(d: DeploymentRecord) -> dict[int, str]:
    """Step index -> the device it was on before self-healing first moved it."""
    goal: dict[int, str] = {}
    for move in d.moves:
        if move.get("from") is not None:
            goal.setdefault(int(move.get("step", -1)), str(move["from"]))
    return goal


def in_failover(d: DeploymentRecord) -> bool:
    """True while a step runs elsewhere than where it was before self-healing moved it."""
    goal = _goal_devices(d)
    return any(
        goal.get(int(s["step"]), s["device"]) != s["device"]
        for s in (d.plan or {}).get("steps", [])
    )


def _failovers(d: DeploymentRecord, ids: Mapping[str, str]) -> list[list[str | None]]:
    """Per function step: the device the manifest asked for (None: any), then its failovers."""
    groups: list[list[str | None]] = []
    for step in d.manifest.get("steps") or []:
        if not isinstance(step, dict) or "bridge" in step:
            continue
        wanted = step.get("device")
        group: list[str | None] = [ids.get(wanted, wanted) if wanted else None]
        group += [ids.get(f, f) for f in step.get("failovers") or []]
        groups.append(group)
    return groups


def deploy_answer(d: DeploymentRecord, ids: Mapping[str, str]) -> dict[str, Any]:
    """What deploying answers (deployment.js ``tryDeploy``, orchestrator.js ``deploy``):
    ``{"deviceResponses": {device id: {"status": HTTP status, "data": its JSON answer}}}``."""
    responses: dict[str, Any] = {}
    for name, result in d.results.items():
        data = result.get("data")
        if not isinstance(data, dict):  # the device's own answer, when the record keeps it
            data = (
                {"status": "success"}
                if result.get("ok")
                else {"status": "error", "message": str(result.get("message") or "")}
            )
        responses[ids.get(name, name)] = {"status": result.get("status"), "data": data}
    return {"deviceResponses": responses}


def execute_answer(e: ExecutionRecord, deployment: DeploymentRecord) -> dict[str, Any]:
    """What executing answers (execution.js ``execute``): the last step's result, its URL and
    host, and whether the deployment runs on failover devices."""
    return {
        "result": e.result,
        "fetched_from_device": urlsplit(e.result_url).hostname if e.result_url else None,
        "resultUrl": e.result_url,
        "isInFailover": in_failover(deployment),
    }


def wasmiot_log(r: LogRecord) -> dict[str, Any]:
    """A stored log entry (logs.js ``createSupervisorLogs``): what the supervisor sent, plus
    ``_id`` and ``dateReceived``."""
    return {**r.data, "_id": str(r.id), "dateReceived": js_time(r.time)}
