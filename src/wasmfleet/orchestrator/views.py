"""JSON views of stored records as ``/api/v1`` shows them (the wasmiot ones: wasmiot_views.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wasmfleet.orchestrator.devices import capacity_of, url_of
from wasmfleet.orchestrator.modules import function_names
from wasmfleet.orchestrator.planning import step_label
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    ModuleRecord,
    StatusEntry,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def device_view(d: DeviceRecord, live: dict[str, Any] | None = None) -> dict[str, Any]:
    """A device as /api/v1 shows it; ``live`` adds the monitor's view (phi, reason...)."""
    return {
        **(live or {}),
        "id": d.id,
        "name": d.name,
        "url": url_of(d),
        "addresses": list(d.addresses),
        "port": d.port,
        "status": d.status,
        "labels": dict(d.labels),
        "interfaces": list(d.interfaces),
        "platform": d.description.get("platform") or {},
        "capacity": capacity_of(d.description),
        "health": d.health,
        "last_seen": _iso(d.last_seen),
        "failures": d.failures,
    }


def status_entry_view(e: StatusEntry) -> dict[str, Any]:
    """One status-log line."""
    return {"time": _iso(e.time), "status": e.status, "reason": e.reason}


def module_view(m: ModuleRecord, signed_by: str | None = None) -> dict[str, Any]:
    """A module as /api/v1 shows it (``signed_by``: the key id its binary is signed with)."""
    return {
        "id": m.id,
        "name": m.name,
        "sha256": m.sha256,
        "size": m.size,
        "exports": m.exports,
        "requirements": m.requirements,
        "description": m.description,
        "functions": function_names(m),
        "data_files": m.data_files,
        "created_at": _iso(m.created_at),
        "version": m.version,
        "note": m.note,
        "created_by": m.created_by,
        "signed_by": signed_by,
    }


def module_version_view(m: ModuleRecord, deployments: list[str]) -> dict[str, Any]:
    """One version of a module in its history: identity, who/when/why, who uses it."""
    return {
        "id": m.id,
        "name": m.name,
        "version": m.version,
        "sha256": m.sha256,
        "size": m.size,
        "created_at": _iso(m.created_at),
        "created_by": m.created_by,
        "note": m.note,
        "functions": function_names(m),
        "deployments": deployments,
    }


def deployment_view(d: DeploymentRecord) -> dict[str, Any]:
    """A deployment as /api/v1 shows it."""
    return {
        "id": d.id,
        "name": d.name,
        "status": d.status,
        "manifest": d.manifest,
        "plan": d.plan,
        "devices": {  # the device's own answer ("data") is for the wasmiot dialect
            name: {k: v for k, v in result.items() if k != "data"}
            for name, result in d.results.items()
        },
        "created_at": _iso(d.created_at),
        "updated_at": _iso(d.updated_at),
        "error": d.error,
        "epoch": d.epoch,
        "moves": list(d.moves),
        "warnings": list(d.warnings),
        "copies": copies_view(d.plan),
    }


def copies_view(plan: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every copy of every step, ordered by (step, device): its device and module version
    (a plan entry's ``"version"``, or ``"-"`` for a plan made before versions)."""
    return [
        {
            "step": int(s["step"]),
            "function": step_label(s),
            "device": s["device"],
            "version": s["version"] if isinstance(s.get("version"), int) else "-",
        }
        for s in sorted((plan or {}).get("steps", []), key=lambda s: (s["step"], s["device"]))
    ]


def execution_view(e: ExecutionRecord) -> dict[str, Any]:
    """An execution as /api/v1 shows it."""
    return {
        "id": e.id,
        "deployment_id": e.deployment_id,
        "success": e.success,
        "result": e.result,
        "result_url": e.result_url,
        "steps": e.steps,
        "started_at": _iso(e.started_at),
        "finished_at": _iso(e.finished_at),
        "duration_ms": e.request.get("duration_ms"),
        "error": e.error,
        "trace_id": e.trace_id,
    }


def log_view(r: LogRecord) -> dict[str, Any]:
    """A log entry as /api/v1 shows it."""
    return {
        "id": r.id,
        "time": _iso(r.time),
        "device": r.device,
        "level": r.level,
        "message": r.message,
        "data": r.data,
    }
