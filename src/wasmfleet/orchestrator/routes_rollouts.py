"""``/api/v1/rollouts``: start a rollout, follow it, pause, resume or undo it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.store import RolloutRecord
from wasmfleet.service.http import read_json

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
    404: {"model": schemas.ErrorBody, "description": "No such deployment, module or rollout."},
    409: {"model": schemas.ErrorBody, "description": "The deployment has an active rollout."},
    422: {"model": schemas.ErrorBody, "description": "A device cannot run the version."},
}


def rollout_view(record: RolloutRecord) -> dict[str, Any]:
    """A rollout as /api/v1 shows it."""
    return {
        "id": record.id,
        "deployment": record.deployment,
        "deployment_id": record.deployment_id,
        "to": record.target,
        "module_id": record.module_id,
        "status": record.status,
        "reason": record.reason,
        "options": record.options,
        "waves": record.waves,
        "wave": record.wave,
        "updated": record.updated,
        "gates": record.gates,
        "owed": record.owed,
        "skipped": record.skipped,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "finished_at": record.finished_at,
    }


def rollouts_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1/rollouts routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1/rollouts", tags=["rollouts"], responses=_ERRORS)
    limit = orch.settings.body_limit.fixed(64 * 1024)

    @router.post("", status_code=201)
    async def start(request: Request) -> Any:
        """Start a rollout: `{"deployment", "to": "fibo@4", options...}` (see docs/rollouts.md)."""
        body = await read_json(request, limit)
        if not isinstance(body, dict):
            raise InvalidDocument(
                'Send a JSON object like {"deployment": "cams", "to": "fibo@4", "canary": 1}.'
            )
        deployment, to = body.pop("deployment", None), body.pop("to", None)
        if not isinstance(deployment, str) or not deployment:
            raise InvalidDocument('Name the deployment to roll out: "deployment": "<name>".')
        if not isinstance(to, str) or not to:
            raise InvalidDocument('Name the version to roll out to: "to": "fibo@4".')
        return rollout_view(await orch.rollouts.start(deployment, to, body))

    @router.get("")
    def list_rollouts(
        deployment: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> Any:
        """Rollouts, newest first (of one deployment with `deployment`)."""
        dep_id = orch.deployments.get(deployment).id if deployment else None
        rows = orch.store.list_rollouts(dep_id, None, limit)
        return [rollout_view(r) for r in rows]

    @router.get("/{rollout_id}")
    def get_rollout(rollout_id: str) -> Any:
        """One rollout: waves, updated copies, gates, reason."""
        return rollout_view(orch.rollouts.get(rollout_id))

    @router.post("/{rollout_id}/pause")
    async def pause(rollout_id: str) -> Any:
        """Stop after the current step."""
        return rollout_view(await orch.rollouts.pause(rollout_id))

    @router.post("/{rollout_id}/resume")
    async def resume(rollout_id: str) -> Any:
        """Continue a paused rollout."""
        return rollout_view(await orch.rollouts.resume(rollout_id))

    @router.post("/{rollout_id}/undo")
    async def undo(rollout_id: str) -> Any:
        """Put every updated copy back on its previous version (also after success)."""
        return rollout_view(await orch.rollouts.undo(rollout_id))

    return router
