"""``/api/v1/notifications``: the recorded deliveries, and a test notification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from wasmfleet.core.notify_targets import EVENTS, parse_targets
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.service.http import read_body, read_json

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
}


def notify_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1/notifications routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=_ERRORS)
    limit = orch.settings.body_limit.fixed(64 * 1024)

    @router.get("")
    async def deliveries(limit: Annotated[int, Query(ge=1, le=100_000)] = 100) -> Any:
        """The last deliveries, newest first, and where notifications go."""
        notifier = orch.notifier
        config = notifier.config
        return {
            "targets": config.targets.to_dict(),
            "smtp": config.smtp.shown if config.smtp else None,
            "signed": bool(config.secret),
            "events": list(EVENTS),
            "counts": dict(notifier.counts),
            "deliveries": notifier.deliveries(limit),
        }

    @router.post("/test")
    async def test(request: Request) -> Any:
        """Send a ``test`` event now, to the global targets or to the body's
        ``{"webhook": [...], "email": [...]}``, and answer with each delivery's outcome."""
        raw = await read_body(request, limit)
        body = await read_json(request, limit) if raw.strip() else None
        targets = parse_targets(body)
        outcomes = await orch.notifier.test(targets or None)
        return {"ok": all(d["status"] == "sent" for d in outcomes), "deliveries": outcomes}

    return router
