"""The wasmiot orchestrator's REST dialect: devices, modules and logs (docs/wasmiot-compat.md).

Existing wasmiot clients (its web GUI and CLI, scripts, the original supervisor's registration
and log shipping) work against these routes unchanged: each answers with the status, content
type and body shape the wasmiot orchestrator answers with (``wasmiot_views.py``). Where the
original answers bad input with a 500 or a bare string, these answer a 4xx with a sentence, in
the shared error shape plus ``errorText`` (the field wasmiot's GUI shows). Manifests and
executions are in ``routes_wasmiot_deploy.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import Response

from wasmfleet.core.errors import InvalidDocument, WasmfleetError
from wasmfleet.orchestrator.devices import parse_registration
from wasmfleet.orchestrator.documents import description_bytes
from wasmfleet.orchestrator.execution import ExecutionFailed
from wasmfleet.orchestrator.http_input import (
    WASM,
    is_form,
    read_form,
    read_module_upload,
    read_wasmiot_description,
)
from wasmfleet.orchestrator.routes_identities import caller
from wasmfleet.orchestrator.routes_wasmiot_deploy import add_deployment_routes
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.views import execution_view
from wasmfleet.orchestrator.wasmiot_views import wasmiot_device, wasmiot_log, wasmiot_module
from wasmfleet.service.http import JSONResponse, read_json

LOG_SAVED = {"message": "Log received and saved"}
"""What the wasmiot orchestrator answers a stored log entry (logs.js createSupervisorLogs)."""
DATA_FILE = "application/octet-stream"
JSON = "application/json"
"""The wasmiot orchestrator serves every data file as this (module.js getModuleFile)."""
MAX_LOGS = 10_000


class WasmiotRoute(APIRoute):
    """A route whose error answers also carry ``errorText``, the sentence wasmiot's GUI shows."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, with WasmfleetErrors answered in the wasmiot error shape."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except WasmfleetError as exc:
                return wasmiot_error(exc)

        return handle


def wasmiot_error(exc: WasmfleetError) -> Response:
    """The shared error shape plus ``errorText`` (and the execution, when one failed)."""
    body = exc.to_dict()
    if isinstance(exc, ExecutionFailed):
        body["execution"] = execution_view(exc.execution)
    body["errorText"] = exc.message
    return JSONResponse(body, status_code=exc.status)


def flag(value: str | None, name: str) -> bool:
    """A true/false query value; InvalidDocument for anything else."""
    if value is None or value.strip().lower() in ("", "0", "false", "no"):
        return False
    if value.strip().lower() in ("1", "true", "yes"):
        return True
    raise InvalidDocument(f"?{name} must be true or false, got {value!r}.")


def wasmiot_router(orch: Orchestrator) -> APIRouter:
    """Routes of the wasmiot dialect bound to one orchestrator."""
    router = APIRouter(tags=["wasmiot"], route_class=WasmiotRoute)
    limit = orch.settings.body_limit

    @router.get("/file/device", summary="List devices (wasmiot shape)")
    def list_devices() -> Response:
        return JSONResponse(
            [wasmiot_device(d, orch.store.status_log(d.id)) for d in orch.store.list_devices()]
        )

    @router.delete("/file/device", summary="Forget every device: {deletedCount}")
    def forget_devices() -> Response:
        orch.monitor.forget()
        return JSONResponse({"deletedCount": orch.store.delete_all_devices()})

    @router.post("/file/device/discovery/reset", summary="Rescan for devices (204)")
    async def reset() -> Response:
        await orch.rescan()
        return Response(status_code=204)

    @router.post("/file/device/discovery/register", summary="Register a device over HTTP (204)")
    async def register(request: Request) -> Response:
        sighting = parse_registration(await read_json(request, limit.fixed(64 * 1024)))
        orch.trust.check_caller(caller(request), sighting.name)
        await orch.devices.register(sighting)
        return Response(status_code=204)

    @router.post(
        "/file/module", summary="Upload a module (multipart: name + application/wasm part): {id}"
    )
    async def create_module(request: Request) -> Response:
        name, data, fields = await read_module_upload(request, limit)
        by = fields.get("created_by") or request.headers.get("x-wasmfleet-user")
        pushed = await asyncio.to_thread(
            orch.modules.push, name, data, note=fields.get("note"), created_by=by
        )
        answer: dict[str, Any] = {"id": pushed.module.id}
        if pushed.warnings:
            answer["warnings"] = [f.to_dict() for f in pushed.warnings]
        return JSONResponse(answer, status_code=201)

    @router.get("/file/module", summary="List every module, oldest first (wasmiot shape)")
    def list_modules() -> Response:
        modules = sorted(orch.store.list_modules(), key=lambda m: (m.created_at, m.id))
        return JSONResponse([wasmiot_module(m) for m in modules])

    @router.delete("/file/module", summary="Delete every module: {deletedCount}")
    def delete_modules(force: str | None = None) -> Response:
        return JSONResponse({"deletedCount": orch.modules.delete_all(force=flag(force, "force"))})

    @router.get("/file/module/{module_id}", summary="One module (a one-element list)")
    def get_module(module_id: str) -> Response:
        return JSONResponse([wasmiot_module(orch.modules.get(module_id))])

    @router.delete("/file/module/{module_id}", summary="Delete a module (409 while in use)")
    def delete_module(module_id: str, force: str | None = None) -> Response:
        orch.modules.delete(module_id, force=flag(force, "force"))
        return Response(status_code=204)

    @router.post(
        "/file/module/{module_id}/upload",
        summary="Describe functions and data files: {description}",
    )
    async def describe(module_id: str, request: Request) -> Response:
        functions, files = await read_wasmiot_description(request, limit)
        module, warnings = await asyncio.to_thread(
            orch.modules.describe_checked, module_id, functions, files
        )
        answer: dict[str, Any] = {"description": module.description}
        if warnings:
            answer["warnings"] = [f.to_dict() for f in warnings]
        return JSONResponse(answer)

    @router.get("/file/module/{module_id}/wasm", summary="The module binary")
    def wasm_file(module_id: str) -> Response:
        return Response(orch.modules.binary(module_id), media_type=WASM)

    @router.get("/file/module/{module_id}/description", summary="The module's OpenAPI description")
    def description(module_id: str) -> Response:
        # the bytes whose sha256 deployment documents name (documents.description_bytes)
        return Response(description_bytes(orch.modules.get(module_id)), media_type=JSON)

    @router.get("/file/module/{module_id}/{file_name}", summary="A data file of the module")
    def data_file(module_id: str, file_name: str) -> Response:
        data, _media = orch.modules.data_file(module_id, file_name)
        return Response(data, media_type=DATA_FILE)

    add_deployment_routes(router, orch)

    @router.post("/device/logs", summary="Store supervisor log entries (form field logData)")
    async def post_logs(request: Request) -> Response:
        if is_form(request):
            fields, _files = await read_form(request, limit.fixed(16 * 1024 * 1024))
            values = [v for k, v in fields if k == "logData"]
        else:
            body = await read_json(request, limit.fixed(16 * 1024 * 1024))
            raw = body.get("logData", body) if isinstance(body, dict) else body
            values = [raw if isinstance(raw, str) else json.dumps(raw)]
        await asyncio.to_thread(orch.logs.add, values)
        return JSONResponse(LOG_SAVED)

    @router.get("/device/logs", summary="Supervisor logs, oldest first (?after=<ISO time>)")
    def get_logs(after: str | None = None, device: str | None = None) -> Response:
        rows = orch.logs.list(after=after, device=device, limit=MAX_LOGS)
        return JSONResponse([wasmiot_log(r) for r in rows])

    return router
