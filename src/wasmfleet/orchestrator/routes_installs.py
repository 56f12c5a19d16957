"""``/api/v1/installs``: install an app at a place, list, show, run now, uninstall.

End users see and change only their own installs (others' answer 404 to them) and install
only at or below their locations (403 elsewhere); see orchestrator/installs.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from wasmfleet.core.protocol import ErrorCode
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.install_views import fire_view
from wasmfleet.orchestrator.routes_identities import caller
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.service.http import JSONResponse, read_json

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
    403: {"model": schemas.ErrorBody, "description": "Outside the end user's locations."},
    404: {"model": schemas.ErrorBody, "description": "No such app, location or install."},
    409: {"model": schemas.ErrorBody, "description": "A controller is held by another install."},
    422: {"model": schemas.ErrorBody, "description": "The location lacks a needed type."},
}


def installs_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1/installs routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1/installs", tags=["installs"], responses=_ERRORS)
    limit = orch.settings.body_limit.fixed(64 * 1024)

    @router.post("", status_code=201)
    async def install(request: Request) -> Any:
        """Install an app: `{"app", "location", "name"?, "params"?, "schedule"?, "notify"?,
        "dry_run"?}` (docs/apps.md). 502 with the install when a device refused it."""
        body = await read_json(request, limit)
        view, ok = await orch.installs.install(body, caller(request))
        if view.get("dry_run"):
            return JSONResponse(view, status_code=200)
        if not ok:
            message = view.get("reason") or "The app's deployment failed."
            return JSONResponse(
                {
                    "error": {"status": 502, "code": ErrorCode.DEPLOY_FAILED, "message": message},
                    "install": view,
                },
                status_code=502,
            )
        return JSONResponse(view, status_code=201)

    @router.get("")
    def list_installs(request: Request) -> Any:
        """The installs the caller may see (an end user: their own), by name."""
        return [orch.installs.view(i) for i in orch.installs.list(caller(request))]

    @router.get("/{name}")
    def get_install(name: str, request: Request) -> Any:
        """One install: binding, schedule with its next fires, status and where it runs."""
        return orch.installs.view(orch.installs.get(name, caller(request)))

    @router.delete("/{name}")
    async def uninstall(name: str, request: Request) -> Any:
        """Remove the install's deployment from its devices and delete the install."""
        return await orch.installs.uninstall(name, caller(request))

    @router.post("/{name}/run")
    async def run_now(name: str, request: Request) -> Any:
        """Run the install's app once now (recorded among its fires)."""
        return await orch.installs.run_now(name, caller(request))

    @router.get("/{name}/fires")
    def fires(
        name: str, request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> Any:
        """The install's claimed fires, newest first: who ran each and how it went."""
        install = orch.installs.get(name, caller(request))
        return [fire_view(f) for f in orch.store.list_fires(install.id, limit)]

    return router
