"""``/api/v1/apps``: publish an app (a manifest, or a bundle with its modules), read, delete.

The installs of apps are ``routes_installs.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.routes_identities import caller
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.service.http import JSONResponse, read_body

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
    404: {"model": schemas.ErrorBody, "description": "No such app."},
    409: {"model": schemas.ErrorBody, "description": "The app is installed."},
}
_APP_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
            "application/gzip": {"schema": {"type": "string", "format": "binary"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "An app manifest (docs/apps.md), or a bundle: app.yaml plus the "
        "modules' .wasm (and optional .json descriptions) in a tar.gz or zip.",
    }
}


def apps_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1/apps routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1/apps", tags=["apps"], responses=_ERRORS)
    limit = orch.settings.body_limit

    @router.post("", status_code=201, openapi_extra=_APP_BODY)
    async def publish(request: Request) -> Any:
        """Publish the next version of an app; the same manifest and modules again answer the
        existing version (200)."""
        data = await read_body(request, limit)
        who = caller(request).actor
        done = await asyncio.to_thread(orch.apps.publish, data, who)
        view = {**orch.apps.view(done.app), "created": done.created, "pushed": done.pushed}
        orch.events.publish("app", {"name": done.app.name, "version": done.app.version})
        return JSONResponse(view, status_code=201 if done.created else 200)

    @router.get("")
    def list_apps(all: bool = False) -> Any:
        """The newest version of each app (every version with `all=true`), by name."""
        counts = orch.store.install_counts()
        found = orch.store.list_apps(every_version=all)
        return [orch.apps.view(a, counts.get(a.id, 0)) for a in found]

    @router.get("/{key}")
    def get_app(key: str) -> Any:
        """One app version: by id, `name@N`, or `name` (the newest)."""
        return orch.apps.view(orch.apps.get(key))

    @router.get("/{name}/versions")
    def app_versions(name: str) -> Any:
        """Every version of an app, newest first."""
        counts = orch.store.install_counts()
        return [orch.apps.view(a, counts.get(a.id, 0)) for a in orch.apps.versions(name)]

    @router.delete("/{key}", status_code=204)
    def delete_app(key: str) -> Response:
        """Delete a version (id or `name@N`) or every version of a name; 409 while installed."""
        for app in orch.apps.delete(key):
            orch.events.publish("app", {"name": app.name, "version": app.version, "removed": True})
        return Response(status_code=204)

    return router
