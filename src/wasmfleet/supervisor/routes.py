"""The supervisor's HTTP routes (the wasmiot dialect, design.md §4, plus /api/v1 status)."""

from __future__ import annotations

import mimetypes
from typing import TYPE_CHECKING, Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wasmfleet import __version__
from wasmfleet.core.args import ArgValue
from wasmfleet.core.errors import BadRequest, InvalidDocument, InvalidMount, NotFound
from wasmfleet.core.names import check_file_name
from wasmfleet.supervisor.calls import CallRequest, find_output
from wasmfleet.supervisor.http_util import JSONResponse, base_url, read_body, read_json

if TYPE_CHECKING:
    from wasmfleet.supervisor.service import Supervisor

_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class SupervisorRoutes:
    """Route handlers bound to one running supervisor."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.settings = sup.settings

    def routes(self) -> list[Route]:
        """The route table; fixed paths come before the catch-all function paths."""
        call_path = "/{deployment}/modules/{module}/{function}"
        return [
            Route("/", self.index, methods=["GET"]),
            Route("/deploy", self.deploy, methods=["POST"]),
            Route("//deploy", self.deploy, methods=["POST"]),
            Route("/deploy", self.list_deployments, methods=["GET"]),
            Route("/deploy/{deployment}", self.delete_deployment, methods=["DELETE"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/register", self.register, methods=["POST"]),
            Route("/.well-known/wasmiot-device-description", self.description, methods=["GET"]),
            Route("/request-history", self.history_list, methods=["GET"]),
            Route("/request-history/{request_id}", self.history_entry, methods=["GET"]),
            Route("/module_results/{module}/{file}", self.module_result, methods=["GET"]),
            Route("/api/v1/status", self.status, methods=["GET"]),
            Route(call_path, self.call, methods=["GET", "POST"]),
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
                    "/deploy",
                    "/health",
                    "/request-history",
                    "/.well-known/wasmiot-device-description",
                ],
            }
        )

    # -- deployments --------------------------------------------------------------------

    async def deploy(self, request: Request) -> Response:
        """POST /deploy: install a deployment; answers when it is ready to call."""
        body = await read_json(request, self.settings.max_request_bytes)
        dep = await self.sup.manager.deploy(body)
        return JSONResponse({"status": "success", **dep.summary()})

    async def list_deployments(self, request: Request) -> Response:
        """GET /deploy: the deployments installed here."""
        deps = self.sup.manager.deployments.values()
        return JSONResponse([d.summary() for d in sorted(deps, key=lambda d: d.spec.id)])

    async def delete_deployment(self, request: Request) -> Response:
        """DELETE /deploy/{id}: remove a deployment and its files."""
        dep_id = request.path_params["deployment"]
        await self.sup.manager.remove(dep_id)
        return JSONResponse({"status": "success", "deploymentId": dep_id})

    # -- device -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        """GET /health: CPU and memory usage; tells the orchestrator whether it is known."""
        registrar = self.sup.registrar
        registrar.note_health_check()
        headers = {"Custom-Orchestrator-Set": "true" if registrar.orchestrator_set else "false"}
        return JSONResponse(self.sup.health(), headers=headers)

    async def register(self, request: Request) -> Response:
        """POST /register {"url"}: set the orchestrator this supervisor reports to."""
        body = await read_json(request, 64 * 1024)
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

    # -- calls ----------------------------------------------------------------------------

    async def call(self, request: Request) -> Response:
        """GET|POST /{deployment}/modules/{module}/{function}: run the function."""
        p = request.path_params
        args: list[tuple[str, ArgValue]] = list(request.query_params.multi_items())
        files: dict[str, bytes] = {}
        if request.method == "POST":
            await self._read_call_body(request, args, files)
        outcome = await self.sup.calls.call(
            CallRequest(p["deployment"], p["module"], p["function"], request.method, args, files),
            base_url(request, self.settings.base_url),
        )
        entry = outcome.entry
        result_url = (
            f"{base_url(request, self.settings.base_url)}/request-history/{entry['request_id']}"
        )
        if outcome.error is None:
            return JSONResponse(
                {"result": entry["result"], "resultUrl": result_url, "success": True}
            )
        body: dict[str, Any] = outcome.error.to_dict()
        body.update(result=entry["result"], resultUrl=result_url, success=False)
        return JSONResponse(body, status_code=outcome.error.status)

    async def _read_call_body(
        self, request: Request, args: list[tuple[str, ArgValue]], files: dict[str, bytes]
    ) -> None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await read_body(request, self.settings.max_request_bytes)
        if not body:
            return
        if content_type in _FORM_TYPES:
            async with request.form(max_files=64, max_fields=256) as form:
                for name, value in form.multi_items():
                    if isinstance(value, UploadFile):
                        if name in files:
                            raise InvalidMount(f"File {name!r} was sent twice.")
                        files[name] = await value.read()
                    else:
                        args.append((name, value))
        elif content_type in ("application/json", "text/json"):
            data = await read_json(request, self.settings.max_request_bytes)
            pairs = list(data.items()) if isinstance(data, dict) else list(enumerate(data or []))
            if not isinstance(data, dict | list) or any(
                isinstance(v, bool) or not isinstance(v, str | int | float) for _, v in pairs
            ):
                raise BadRequest(
                    "A JSON call body must be an object (or list) of numbers or strings, "
                    'e.g. {"iterations": 7}.'
                )
            args.extend((str(k), v) for k, v in pairs)
        else:
            raise BadRequest(
                f"Cannot read a {content_type or 'untyped'} body: send arguments as a query "
                "string, "
                "JSON or form fields, and files as multipart/form-data parts named after mounts."
            )
