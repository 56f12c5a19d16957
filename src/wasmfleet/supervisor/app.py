"""The supervisor's ASGI application: routes, error handling, start-up and shut-down."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.protocol import ErrorCode
from wasmfleet.service.http import (
    JSONResponse,
    RefuseContentEncoding,
    error_body,
    internal_error,
    route_error,
)
from wasmfleet.service.lifespan import Lifecycle, lifespan_of
from wasmfleet.service.probes import Check, OffLoop, Probes
from wasmfleet.supervisor.call_endpoint import CallEndpoint, CallFastPath
from wasmfleet.supervisor.routes import SupervisorRoutes
from wasmfleet.supervisor.service import Supervisor
from wasmfleet.supervisor.settings import SupervisorSettings
from wasmfleet.supervisor.trust import DeviceGuard

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
        return JSONResponse(error_body(400, ErrorCode.INVALID_MOUNT, message), status_code=400)
    return route_error(request, exc, "GET / lists the API")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc, "supervisor", log)


def data_dir_problem(path: Path) -> str | None:
    """None when ``path`` is a directory this process can write in, else why not."""
    if not path.is_dir():
        why = "it no longer exists"
    elif os.statvfs(path).f_flag & os.ST_RDONLY:
        why = "its file system is mounted read-only"
    elif not os.access(path, os.W_OK | os.X_OK):
        why = "this process may not write in it"
    else:
        return None
    return (
        f"The data directory {path} is not writable ({why}): deployments cannot be "
        "installed, and functions cannot write their files."
    )


def probes_of(sup: Supervisor, lifecycle: Lifecycle) -> Probes:
    """Ready = started (deployments restored), the engine runs, the data directory is writable."""

    async def runtime() -> str | None:
        if sup.engine.running:
            return None
        return "The WebAssembly engine is stopped; restart the supervisor."

    data_dir = sup.settings.resolved_data_dir
    checks: dict[str, Check] = {
        "runtime": runtime,
        "data_dir": OffLoop(lambda: data_dir_problem(data_dir)),
    }
    return Probes("supervisor", lifecycle, checks)


def create_app(settings: SupervisorSettings, supervisor: Supervisor | None = None) -> ASGIApp:
    """Build the ASGI app; the supervisor starts and stops with the app's lifespan."""
    sup = supervisor or Supervisor(settings)
    calls = CallEndpoint(sup.calls, settings.base_url, settings.body_limit)
    lifecycle = Lifecycle()
    probes = probes_of(sup, lifecycle)

    app = Starlette(
        routes=SupervisorRoutes(sup, calls, probes).routes(),
        exception_handlers={
            WasmfleetError: _wasmfleet_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
        lifespan=lifespan_of(sup, lifecycle),
    )
    app.state.supervisor = sup
    app.state.probes = probes
    guarded = DeviceGuard(CallFastPath(app, calls), sup.credentials, settings.calls)
    return RefuseContentEncoding(guarded, "supervisor")
