"""The orchestrator's ASGI application (FastAPI): both APIs, error handling, lifespan."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

import wasmfleet
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.orchestrator.execution import ExecutionFailed
from wasmfleet.orchestrator.routes_api import api_router
from wasmfleet.orchestrator.routes_wasmiot import wasmiot_router
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.views import execution_view
from wasmfleet.supervisor.http_util import JSONResponse, error_body

log = logging.getLogger("wasmfleet.orchestrator.http")


async def _wasmfleet_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WasmfleetError)
    body = exc.to_dict()
    if isinstance(exc, ExecutionFailed):
        body["execution"] = execution_view(exc.execution)
    return JSONResponse(body, status_code=exc.status)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        problems.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    message = "The request is not valid: " + "; ".join(problems) + "."
    return JSONResponse(error_body(400, "invalid_request", message), status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"No route {request.method} {request.url.path}; see /docs for the API."
        code = "not_found"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
        code = "method_not_allowed"
    else:
        message, code = str(exc.detail), "http_error"
    return JSONResponse(error_body(exc.status_code, code, message), status_code=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    incident = uuid.uuid4().hex[:12]
    log.error(
        "internal error", exc_info=exc, extra={"incident": incident, "path": request.url.path}
    )
    message = (
        f"The orchestrator hit an internal error (incident {incident}, see its log). "
        "Please report it if it happens again."
    )
    return JSONResponse(error_body(500, "internal", message), status_code=500)


def create_app(settings: OrchestratorSettings, orchestrator: Orchestrator | None = None) -> FastAPI:
    """Build the app; the orchestrator starts and stops with the app's lifespan."""
    orch = orchestrator or Orchestrator(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await orch.start()
        try:
            yield
        finally:
            await orch.stop()

    app = FastAPI(
        title="wasmfleet orchestrator",
        version=wasmfleet.__version__,
        description=(
            "The control plane of a wasmfleet: devices, modules, deployments, executions and "
            "logs. `/api/v1` is the versioned API; the untagged `/file/...`, `/execute` and "
            "`/device/logs` routes speak the wasmiot orchestrator's dialect."
        ),
        lifespan=lifespan,
        exception_handlers={
            WasmfleetError: _wasmfleet_error,
            RequestValidationError: _validation_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return JSONResponse(
            {
                "service": "wasmfleet orchestrator",
                "version": wasmfleet.__version__,
                "see": [
                    "/docs",
                    "/api/v1/status",
                    "/file/device",
                    "/file/module",
                    "/file/manifest",
                ],
            }
        )

    app.include_router(api_router(orch))
    app.include_router(wasmiot_router(orch))
    app.state.orchestrator = orch
    return app
