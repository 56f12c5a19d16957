"""``/api/v1/events`` and ``/api/v1/logs/stream``: live server-sent events (see events.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.orchestrator.events import KINDS, log_filter
from wasmfleet.orchestrator.service import Orchestrator

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "A stream of events."}
}


def events_router(orch: Orchestrator) -> APIRouter:
    """The live streams bound to one orchestrator's event hub."""
    router = APIRouter(prefix="/api/v1", tags=["events"])
    hub = orch.events

    @router.get("/events", response_class=StreamingResponse, responses=_SSE)
    async def events(kinds: str | None = None) -> StreamingResponse:
        """Live changes as server-sent events (`event: device|deployment|execution|log|
        rollout|install`, JSON data); `kinds=device,log` narrows them. A `: keep-alive`
        comment every 15 s; a `dropped` event when this client read too slowly and lost
        some."""
        wanted = set(KINDS)
        if kinds:
            wanted = {k.strip() for k in kinds.split(",") if k.strip()}
            unknown = sorted(wanted - set(KINDS))
            if unknown:
                raise InvalidDocument(
                    f"Unknown event kind {', '.join(unknown)}; the kinds are {', '.join(KINDS)}."
                )

        def accept(kind: str, data: dict[str, Any]) -> bool:
            return kind in wanted

        sub = hub.subscribe(accept)
        body = hub.stream(sub, {"kinds": sorted(wanted)})
        return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)

    @router.get("/logs/stream", response_class=StreamingResponse, responses=_SSE)
    async def log_stream(
        device: str | None = None,
        deployment: str | None = None,
        level: str | None = None,
        q: str | None = None,
    ) -> StreamingResponse:
        """New supervisor log entries as they arrive (`event: log`), filtered by device,
        deployment (its name or id in the entry), least level and a text `q` in the message."""
        if level and level.upper() not in LEVELS:
            raise InvalidDocument(f"'level' must be one of {', '.join(LEVELS)}, got {level!r}.")
        if q is not None and len(q) > 200:
            raise InvalidDocument("'q' is at most 200 characters.")
        sub = hub.subscribe(log_filter(device, deployment, level, q))
        hello = {"device": device, "deployment": deployment, "level": level, "q": q}
        body = hub.stream(sub, hello)
        return StreamingResponse(body, media_type="text/event-stream", headers=SSE_HEADERS)

    return router
