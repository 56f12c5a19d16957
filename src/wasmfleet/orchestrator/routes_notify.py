"""``/api/v1/notifications``: the recorded deliveries, and a test notification."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request

from wasmfleet.core import rbac
from wasmfleet.core.notify_targets import EVENTS, parse_targets
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.routes_identities import caller
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.service.http import read_body, read_json

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
}


def redacted(target: str) -> str:
    """A webhook URL without its path and query (they often hold a secret), an address
    with only its first letter: what callers other than admins see."""
    if "@" in target and "://" not in target:
        local, _, domain = target.rpartition("@")
        return f"{local[:1]}***@{domain}"
    parts = urlsplit(target)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/***"


def notify_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1/notifications routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=_ERRORS)
    limit = orch.settings.body_limit.fixed(64 * 1024)

    @router.get("")
    async def deliveries(
        request: Request, limit: Annotated[int, Query(ge=1, le=100_000)] = 100
    ) -> Any:
        """The last deliveries, newest first, and where notifications go (webhook paths and
        addresses are shown in full to admins only, docs/notifications.md)."""
        notifier = orch.notifier
        config = notifier.config
        role = caller(request).role
        full = not orch.auth.enabled or role is rbac.Role.ADMIN
        show = (lambda t: t) if full else redacted
        items = notifier.deliveries(limit)
        for item in items:
            item["target"] = show(item["target"])
        return {
            "targets": {k: [show(t) for t in v] for k, v in config.targets.to_dict().items()},
            "smtp": config.smtp.shown if config.smtp and full else None,
            "signed": bool(config.secret),
            "events": list(EVENTS),
            "counts": dict(notifier.counts),
            "deliveries": items,
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
