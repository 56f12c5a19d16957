"""How /api/v1 shows installs, their schedules and fires."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wasmfleet.core.schedule import next_fires, parse_schedule
from wasmfleet.orchestrator.store import DeploymentRecord
from wasmfleet.orchestrator.store.installs import FireRecord, InstallRecord

SHOWN_FIRES = 3


def schedule_view(install: InstallRecord, now: datetime | None = None) -> dict[str, Any] | None:
    """The schedule as stored, plus its next fires in UTC and on the zone's clock."""
    if install.schedule is None:
        return None
    doc = dict(install.schedule)
    function = doc.pop("function", None)
    schedule = parse_schedule(doc)
    after = now or datetime.now(UTC)
    if install.last_fire is not None and install.last_fire > after:
        after = install.last_fire
    fires = next_fires(schedule, after, SHOWN_FIRES, fired=install.fired)
    shown: dict[str, Any] = {**install.schedule}
    if function is None and schedule.mode.value == "run":
        shown["function"] = None
    shown["next_fires"] = [
        {"utc": _iso(f), "local": f.astimezone(schedule.zone).isoformat()} for f in fires
    ]
    return shown


def where_view(deployment: DeploymentRecord | None) -> list[dict[str, Any]]:
    """Where the install runs: per placed copy, the step's module, function and device."""
    if deployment is None or not deployment.plan:
        return []
    return [
        {
            "step": s.get("step"),
            "module": s.get("module"),
            "version": s.get("version"),
            "function": s.get("function"),
            "device": s.get("device"),
        }
        for s in deployment.plan.get("steps", [])
    ]


def install_view(install: InstallRecord, deployment: DeploymentRecord | None) -> dict[str, Any]:
    """An install as /api/v1 shows it."""
    return {
        "id": install.id or None,
        "name": install.name,
        "app": install.app,
        "location": install.location,
        "owner": install.owner,
        "params": install.params,
        "binding": install.binding.get("bindings", {}),
        "schedule": schedule_view(install),
        "notify": install.notify,
        "status": install.status,
        "reason": install.reason,
        "fired": install.fired,
        "next_fire": _iso(install.next_fire) if install.next_fire else None,
        "deployment": (
            {"id": deployment.id, "name": deployment.name, "status": str(deployment.status)}
            if deployment is not None
            else None
        ),
        "where": where_view(deployment),
        "created_at": install.created_at,
        "updated_at": install.updated_at,
    }


def fire_view(fire: FireRecord) -> dict[str, Any]:
    """One claimed fire."""
    return {
        "key": fire.key,
        "fire_at": _iso(fire.fire_at),
        "claimed_by": fire.claimed_by,
        "claimed_at": fire.claimed_at,
        "outcome": fire.outcome,
        "detail": fire.detail,
    }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
