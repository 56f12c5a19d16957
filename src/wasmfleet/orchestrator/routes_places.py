"""``/api/v1/locations``, ``/api/v1/sensors``, ``/api/v1/controllers``: where things are.

A location path contains ``/`` (``campus/lab-1``), so its routes take the rest of the URL
(``{path:path}``); the access table names them ``/api/v1/locations/{path}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from wasmfleet.core.places import ThingKind
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.places import Places
from wasmfleet.orchestrator.routes_identities import caller
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.service.http import JSONResponse, read_json

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
    404: {"model": schemas.ErrorBody, "description": "No such location, sensor or controller."},
    409: {
        "model": schemas.ErrorBody,
        "description": "A taken name, a thing held by installs, or a location that is not empty.",
    },
    422: {"model": schemas.ErrorBody, "description": "The thing's location is not registered."},
}
MAX_BODY = 64 * 1024


def actor_of(request: Request) -> str:
    """Who is registering: the signed-in user, else the X-Wasmfleet-User header, else
    ``anonymous``."""
    identity = caller(request)
    if identity.signed_in:
        return identity.actor
    said = (request.headers.get("x-wasmfleet-user") or "").strip()
    return said[:100] or identity.actor


def places_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1 routes of locations, sensors and controllers bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1", tags=["places"], responses=_ERRORS)
    places = Places(orch.store)
    limit = orch.settings.body_limit.fixed(MAX_BODY)

    @router.get("/locations")
    def list_locations() -> Any:
        """Every location (by path) with its counts of sensors and controllers at or below."""
        return places.locations()

    @router.post("/locations", status_code=201)
    async def add_location(request: Request) -> Any:
        """Register `{"path": "campus/lab-1", "description"?}`; missing parents are added
        too (`created` lists every path added). A registered path is 409."""
        body = await read_json(request, limit)
        return await asyncio.to_thread(places.add_location, body, actor_of(request))

    @router.get("/locations/{path:path}")
    def get_location(path: str) -> Any:
        """One location: description, parent, counts of sensors and controllers at or below."""
        return places.location(path)

    @router.delete("/locations/{path:path}", status_code=204)
    def delete_location(path: str) -> Response:
        """Remove a location; 409 naming the locations, things or installs at or below it."""
        places.remove_location(path)
        return Response(status_code=204)

    for kind in ("sensor", "controller"):
        _thing_routes(router, places, kind, limit)
    return router


def _thing_routes(router: APIRouter, places: Places, kind: ThingKind, limit: Any) -> None:
    plural = f"{kind}s"
    other = "outputs" if kind == "sensor" else "inputs"

    async def register(request: Request, replace: bool = False) -> Response:
        body = await read_json(request, limit)
        view, created = await asyncio.to_thread(
            places.register, kind, body, actor_of(request), replace=replace
        )
        return JSONResponse(view, status_code=201 if created else 200)

    def list_things(location: str | None = None, type: str | None = None) -> Any:
        return places.things(kind, location, type)

    def get_thing(name: str) -> Any:
        return places.thing(kind, name)

    def delete_thing(name: str) -> Response:
        places.remove(kind, name)
        return Response(status_code=204)

    router.add_api_route(
        f"/{plural}",
        register,
        methods=["POST"],
        status_code=201,
        summary=f"Register a {kind}",
        description=(
            f"A {kind} document (`name`, `type`, `location`, `device` or `topic`, `{other}`; "
            f"`kind` optional). 201 when created, 200 when the same document is registered "
            f"again or replaced with `?replace=true`; 409 when the name is taken, 422 when "
            "the location is not registered (see docs/apps.md)."
        ),
    )
    router.add_api_route(
        f"/{plural}",
        list_things,
        methods=["GET"],
        summary=f"List {plural}",
        description=f"{plural.capitalize()} by name; `location` (at or below) and `type` filter.",
    )
    router.add_api_route(
        f"/{plural}/{{name}}",
        get_thing,
        methods=["GET"],
        summary=f"One {kind}",
        description=f"The {kind}'s document, who registered it and `held_by` (installs).",
    )
    router.add_api_route(
        f"/{plural}/{{name}}",
        delete_thing,
        methods=["DELETE"],
        status_code=204,
        summary=f"Remove a {kind}",
        description=f"409 while installs hold the {kind}, naming them.",
    )
