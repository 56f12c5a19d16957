"""The orchestrator's ASGI application (FastAPI): both APIs, error handling, lifespan."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

import wasmfleet
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.protocol import ErrorCode
from wasmfleet.dashboard import dashboard_router, static_files
from wasmfleet.orchestrator.audit import AuditMiddleware
from wasmfleet.orchestrator.execution import ExecutionFailed
from wasmfleet.orchestrator.hot_routes import HotRoutes
from wasmfleet.orchestrator.routes_api import api_router
from wasmfleet.orchestrator.routes_apps import apps_router
from wasmfleet.orchestrator.routes_events import events_router
from wasmfleet.orchestrator.routes_identities import identities_router
from wasmfleet.orchestrator.routes_installs import installs_router
from wasmfleet.orchestrator.routes_notify import notify_router
from wasmfleet.orchestrator.routes_places import places_router
from wasmfleet.orchestrator.routes_rollouts import rollouts_router
from wasmfleet.orchestrator.routes_wasmiot import wasmiot_router
from wasmfleet.orchestrator.series import metrics_router
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.views import execution_view
from wasmfleet.service.http import (
    JSONResponse,
    RefuseContentEncoding,
    error_body,
    internal_error,
    route_error,
)
from wasmfleet.service.lifespan import Lifecycle, lifespan_of
from wasmfleet.service.probes import (
    LIVEZ_RESPONSES,
    READYZ_RESPONSES,
    OffLoop,
    Probes,
    first_line,
)

log = logging.getLogger("wasmfleet.orchestrator.http")

DOCS_ASSETS = "/docs/assets"
"""Where the Swagger UI and ReDoc scripts, styles and icon are served."""


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
    return JSONResponse(error_body(400, ErrorCode.INVALID_REQUEST, message), status_code=400)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return route_error(request, exc, "see /docs for the API")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc, "orchestrator", log, unchanged=False)


def probes_of(orch: Orchestrator, lifecycle: Lifecycle) -> Probes:
    """Ready = started, and the store answers a small query (in a worker thread, bounded)."""

    def store() -> str | None:
        try:
            orch.store.ping()
        except WasmfleetError as err:
            return err.message
        except Exception as err:
            return f"The database at {orch.store.url} does not answer: {first_line(err)}"
        return None

    return Probes("orchestrator", lifecycle, {"store": OffLoop(store)})


def create_app(
    settings: OrchestratorSettings,
    orchestrator: Orchestrator | None = None,
    *,
    hot_routes: bool = True,
) -> FastAPI:
    """Build the app; the orchestrator starts and stops with the app's lifespan.

    ``hot_routes``: heartbeats and executions answered by hot_routes.HotRoutes (False: by
    their FastAPI routes, which answer the same; tests compare the two)."""
    orch = orchestrator or Orchestrator(settings)
    lifecycle = Lifecycle()
    probes = probes_of(orch, lifecycle)

    # /docs (Swagger UI) and /redoc load their scripts and styles from this process (the
    # fastapi-offline package ships them), not from a CDN: they work on an offline site.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="wasmfleet orchestrator",
        version=wasmfleet.__version__,
        description=(
            "The control plane of a wasmfleet: devices, modules, deployments, executions and "
            "logs. `/api/v1` is the versioned API; the untagged `/file/...`, `/execute` and "
            "`/device/logs` routes speak the wasmiot orchestrator's dialect."
        ),
        lifespan=lifespan_of(orch, lifecycle),
        # every route: the caller's token and role (docs/security.md), before the handler
        dependencies=[Depends(orch.auth.check)],
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
                    "/ui/",
                    "/docs",
                    "/api/v1/status",
                    "/livez",
                    "/readyz",
                    "/file/device",
                    "/file/module",
                    "/file/manifest",
                ],
            }
        )

    app.add_api_route(
        "/livez",
        probes.livez,
        methods=["GET"],
        tags=["probes"],
        summary="Liveness: the process and its event loop answer",
        response_class=JSONResponse,
        responses=LIVEZ_RESPONSES,
    )
    app.add_api_route(
        "/readyz",
        probes.readyz,
        methods=["GET"],
        tags=["probes"],
        summary="Readiness: started, and the database answers",
        response_class=JSONResponse,
        responses=READYZ_RESPONSES,
    )
    app.include_router(api_router(orch))
    app.include_router(rollouts_router(orch))
    app.include_router(places_router(orch))
    app.include_router(apps_router(orch))
    app.include_router(installs_router(orch))
    app.include_router(wasmiot_router(orch))
    app.include_router(identities_router(orch))
    app.include_router(notify_router(orch))
    app.include_router(metrics_router(orch, orch.series))
    app.include_router(events_router(orch))
    app.include_router(dashboard_router(auth=orch.auth.enabled))
    app.mount("/ui/static", static_files(), name="ui-static")
    # innermost: the heartbeat and execute routes answered without FastAPI's routing
    if hot_routes:
        app.add_middleware(HotRoutes, orch=orch, on_error=_wasmfleet_error)
    app.add_middleware(AuditMiddleware, store=orch.store)
    # before the routes read a body: an encoded (compressed) body is refused, never expanded
    app.add_middleware(RefuseContentEncoding, service="orchestrator")
    app.state.orchestrator = orch
    app.state.probes = probes
    return app
