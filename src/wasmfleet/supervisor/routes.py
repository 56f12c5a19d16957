"""The supervisor's HTTP routes: the wasmiot dialect (docs/api.md), /api/v1 status, probes."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wasmfleet import __version__
from wasmfleet.core.errors import InvalidDocument, NotFound
from wasmfleet.core.names import check_file_name
from wasmfleet.service.http import JSONResponse, read_json
from wasmfleet.service.metrics import CONTENT_TYPE
from wasmfleet.supervisor.call_endpoint import CallEndpoint
from wasmfleet.supervisor.call_job import find_output
from wasmfleet.supervisor.fencing import parse_epoch_query
from wasmfleet.supervisor.metrics import render_metrics
from wasmfleet.supervisor.openapi import openapi_document

if TYPE_CHECKING:
    from wasmfleet.service.probes import Probes
    from wasmfleet.supervisor.service import Supervisor


class SupervisorRoutes:
    """Route handlers bound to one running supervisor."""

    def __init__(self, sup: Supervisor, calls: CallEndpoint, probes: Probes) -> None:
        self.sup = sup
        self.settings = sup.settings
        self.calls = calls
        self.probes = probes

    def routes(self) -> list[Route]:
        """The route table; fixed paths come before the catch-all function paths."""
        call_path = "/{deployment}/modules/{module}/{function}"
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/deploy", self.deploy, methods=["POST"]),
            Route("//deploy", self.deploy, methods=["POST"]),
            Route("/deploy", self.list_deployments, methods=["GET"]),
            Route("/deploy/{deployment}", self.delete_deployment, methods=["DELETE"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/metrics", self.metrics, methods=["GET"]),
            Route("/livez", self.probes.livez, methods=["GET"]),
            Route("/readyz", self.probes.readyz, methods=["GET"]),
            Route("/register", self.register, methods=["POST"]),
            Route("/.well-known/wasmiot-device-description", self.description, methods=["GET"]),
            Route("/request-history", self.history_list, methods=["GET"]),
            Route("/request-history/{request_id}", self.history_entry, methods=["GET"]),
            Route("/module_results/{module}/{file}", self.module_result, methods=["GET"]),
            Route("/api/v1/status", self.status, methods=["GET"]),
            Route("/api/v1/things", self.things, methods=["GET"]),
            Route(call_path, self.calls, methods=["GET", "POST"]),
            Route(call_path + "/{file}", self.function_file, methods=["GET"]),
        ]

    async def index(self, request: Request) -> Response:
        """What this is and where to go next."""
        return JSONResponse(
            {
                "name": self.settings.name,
                "service": "wasmfleet supervisor",
                "version": __version__,
                "deployments": sorted(self.sup.manager.deployments),
                "see": [
                    "/openapi.json",
                    "/deploy",
                    "/health",
                    "/metrics",
                    "/livez",
                    "/readyz",
                    "/api/v1/status",
                    "/api/v1/things",
                    "/request-history",
                    "/.well-known/wasmiot-device-description",
                ],
            }
        )

    async def openapi(self, request: Request) -> Response:
        """GET /openapi.json: the OpenAPI document of these routes."""
        return JSONResponse(openapi_document())

    # -- deployments --------------------------------------------------------------------

    async def deploy(self, request: Request) -> Response:
        """POST /deploy: install a deployment; answers when it is ready to call."""
        body = await read_json(request, self.settings.body_limit)
        dep = await self.sup.manager.deploy(body)
        return JSONResponse({"status": "success", **dep.summary()})

    async def list_deployments(self, request: Request) -> Response:
        """GET /deploy: the deployments installed here."""
        deps = self.sup.manager.deployments.values()
        return JSONResponse([d.summary() for d in sorted(deps, key=lambda d: d.spec.id)])

    async def delete_deployment(self, request: Request) -> Response:
        """DELETE /deploy/{id}: remove a deployment and its files."""
        dep_id = request.path_params["deployment"]
        epoch = request.query_params.get("epoch")
        if epoch is not None:
            # The orchestrator removes a stale copy and says which epoch replaced it: the
            # fence rises even if this device never heard that epoch in a heartbeat answer.
            self.sup.manager.fences.raise_to(dep_id, parse_epoch_query(epoch))
        await self.sup.manager.remove(dep_id)
        return JSONResponse({"status": "success", "deploymentId": dep_id})

    # -- device -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """GET /health: CPU and memory usage, QoA aggregates; whether an orchestrator is set.

        It counts as orchestrator contact for the re-registration watchdog only when it comes
        from the orchestrator (registration.py says how that is decided)."""
        registrar = self.sup.registrar
        registrar.note_health_check(request.client.host if request.client else None)
        headers = {"Custom-Orchestrator-Set": "true" if registrar.orchestrator_set else "false"}
        return JSONResponse(self.sup.health(), headers=headers)

    async def metrics(self, request: Request) -> Response:
        """GET /metrics: Prometheus metrics (docs/metrics.md); 404 with --no-metrics."""
        calls = self.sup.call_metrics
        if calls is None:
            raise NotFound("Metrics are off on this supervisor (started with --no-metrics).")
        body = render_metrics(self.sup, calls)
        return Response(body, media_type=None, headers={"content-type": CONTENT_TYPE})

    async def register(self, request: Request) -> Response:
        """POST /register {"url"}: set the orchestrator this supervisor reports to."""
        body = await read_json(request, self.settings.body_limit.fixed(64 * 1024))
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidDocument(
                'Send {"url": "http://orchestrator:3000"}: the orchestrator\'s base URL.'
            )
        self.sup.set_orchestrator(url)
        return JSONResponse({"status": "success", "orchestrator": url})

    async def description(self, request: Request) -> Response:
        """GET /.well-known/wasmiot-device-description."""
        return JSONResponse(self.sup.device_description)

    async def status(self, request: Request) -> Response:
        """GET /api/v1/status: counters of the runtime, calls, logs and registration."""
        return JSONResponse(self.sup.status())

    async def things(self, request: Request) -> Response:
        """GET /api/v1/things: an app install's bound things, readings and commands here."""
        return JSONResponse(self.sup.things.snapshot())

    # -- history and files ----------------------------------------------------------------

    async def history_list(self, request: Request) -> Response:
        """GET /request-history: the most recent calls, oldest first."""
        return JSONResponse(list(self.sup.history))

    async def history_entry(self, request: Request) -> Response:
        """GET /request-history/{id}: one call's record."""
        request_id = request.path_params["request_id"]
        entry = self.sup.history.get(request_id)
        if entry is None:
            raise NotFound(
                f"No request {request_id!r} in the history (it keeps the last "
                f"{self.sup.history.capacity} calls)."
            )
        return JSONResponse(entry)

    async def function_file(self, request: Request) -> Response:
        """GET /{deployment}/modules/{module}/{function}/{file}: a mount file of that function."""
        p = request.path_params
        bound = self.sup.calls.resolve(p["deployment"], p["module"], p["function"])
        file = check_file_name(p["file"])
        declared = {m.name: m.media_type for m in bound.spec.mounts}
        if file not in declared and not (bound.spec.returns_file and bound.output_mount is None):
            raise NotFound(
                f"{p['module']}.{p['function']} has no mount {file!r} "
                f"(mounts: {', '.join(sorted(declared)) or 'none'})."
            )
        path = bound.runtime.workdir / file
        data = await bound.runtime.lane.submit(
            lambda: path.read_bytes() if path.is_file() else None
        )
        if data is None:
            raise NotFound(f"{file!r} has not been written yet; call {p['function']} first.")
        media = declared.get(file) or mimetypes.guess_type(file)[0] or "application/octet-stream"
        return Response(data, media_type=media)

    async def module_result(self, request: Request) -> Response:
        """GET /module_results/{module}/{file}: a module's output file (newest deployment)."""
        module, file = request.path_params["module"], request.path_params["file"]
        found = find_output(self.sup.manager, module, file)
        if found is None:
            raise NotFound(f"No deployed module {module!r} has a file {file!r} yet.")
        path, dep_id = found
        lane = self.sup.manager.deployments[dep_id].modules[module].lane
        data = await lane.submit(path.read_bytes)
        media = mimetypes.guess_type(file)[0] or "application/octet-stream"
        return Response(data, media_type=media)
