"""The supervisor's ASGI application: routes, error handling, start-up and shut-down."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.service.http import JSONResponse, error_body, internal_error, route_error
from wasmfleet.service.lifespan import lifespan_of
from wasmfleet.supervisor.call_endpoint import CallEndpoint, CallFastPath
from wasmfleet.supervisor.routes import SupervisorRoutes
from wasmfleet.supervisor.service import Supervisor
from wasmfleet.supervisor.settings import SupervisorSettings

log = logging.getLogger("wasmfleet.supervisor.http")


async def _wasmfleet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WasmfleetError)
    if exc.status >= 500:
        log.warning("request failed", extra={"path": request.url.path, "error": exc.message})
    return JSONResponse(exc.to_dict(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    raw_path = request.scope.get("raw_path", b"").lower()
    if exc.status_code == 404 and (b"%2f" in raw_path or b"/../" in raw_path + b"/"):
        message = (
            "File and mount names must be plain names: '/' (also as %2F) and '..' are not "
            "allowed in them."
        )
        return JSONResponse(error_body(400, "invalid_mount", message), status_code=400)
    return route_error(request, exc, "GET / lists the API")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc, "supervisor", log)


def create_app(settings: SupervisorSettings, supervisor: Supervisor | None = None) -> ASGIApp:
    """Build the ASGI app; the supervisor starts and stops with the app's lifespan."""
    sup = supervisor or Supervisor(settings)
    calls = CallEndpoint(sup.calls, settings.base_url, settings.body_limit)

    app = Starlette(
        routes=SupervisorRoutes(sup, calls).routes(),
        exception_handlers={
            WasmfleetError: _wasmfleet_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan_of(sup),
    )
    app.state.supervisor = sup
    return CallFastPath(app, calls)
