"""The wasmiot orchestrator's REST dialect (docs/orchestrator.md), a thin layer over the services.

Existing wasmiot clients (its web GUI, scripts, the original supervisor's registration and
log shipping) work against these routes unchanged.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from wasmfleet.core.form_fields import parse_bracket_fields
from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.orchestrator.devices import parse_registration
from wasmfleet.orchestrator.http_input import (
    WASM,
    is_form,
    read_arguments,
    read_form,
    read_manifest,
    read_module_upload,
)
from wasmfleet.orchestrator.modules import DataFile
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.views import (
    execution_view,
    log_view,
    wasmiot_device_view,
    wasmiot_manifest_view,
    wasmiot_module_view,
)
from wasmfleet.service.http import JSONResponse, read_json


def wasmiot_router(orch: Orchestrator) -> APIRouter:
    """Routes of the wasmiot dialect bound to one orchestrator."""
    router = APIRouter(tags=["wasmiot"])
    limit = orch.settings.body_limit

    @router.get("/file/device", summary="List devices (wasmiot shape)")
    def list_devices() -> Response:
        return JSONResponse([wasmiot_device_view(d) for d in orch.store.list_devices()])

    @router.delete("/file/device", summary="Forget every device")
    def forget_devices() -> Response:
        orch.monitor.forget()
        orch.store.delete_all_devices()
        return Response(status_code=204)

    @router.post("/file/device/discovery/reset", summary="Rescan for devices")
    async def reset() -> Response:
        await orch.rescan()
        return Response(status_code=204)

    @router.post("/file/device/discovery/register", summary="Register a device over HTTP")
    async def register(request: Request) -> Response:
        sighting = parse_registration(await read_json(request, limit.fixed(64 * 1024)))
        device = await orch.devices.register(sighting)
        return JSONResponse(wasmiot_device_view(device))

    @router.post(
        "/file/module", summary="Upload a module (multipart: name + application/wasm part)"
    )
    async def create_module(request: Request) -> Response:
        name, data = await read_module_upload(request, limit)
        module = await asyncio.to_thread(orch.modules.create, name, data)
        return JSONResponse({"id": module.id}, status_code=201)

    @router.get("/file/module", summary="List modules (wasmiot shape)")
    def list_modules() -> Response:
        return JSONResponse([wasmiot_module_view(m) for m in orch.store.list_modules()])

    @router.get("/file/module/{module_id}", summary="One module (a one-element list)")
    def get_module(module_id: str) -> Response:
        return JSONResponse([wasmiot_module_view(orch.modules.get(module_id))])

    @router.delete("/file/module/{module_id}", summary="Delete a module (409 while in use)")
    def delete_module(module_id: str, force: bool = False) -> Response:
        orch.modules.delete(module_id, force=force)
        return Response(status_code=204)

    @router.post("/file/module/{module_id}/upload", summary="Describe functions and data files")
    async def describe(module_id: str, request: Request) -> Response:
        functions: Any
        files: list[DataFile] = []
        if is_form(request):
            fields, files = await read_form(request, limit)
            functions = parse_bracket_fields(fields) if fields else {}
        else:
            functions = await read_json(request, limit)
        module = await asyncio.to_thread(orch.modules.describe, module_id, functions, files)
        return JSONResponse({"id": module.id, "description": module.description})

    @router.get("/file/module/{module_id}/wasm", summary="The module binary")
    def wasm_file(module_id: str) -> Response:
        return Response(orch.modules.binary(module_id), media_type=WASM)

    @router.get("/file/module/{module_id}/description", summary="The module's OpenAPI description")
    def description(module_id: str) -> Response:
        return JSONResponse(orch.modules.get(module_id).description or {})

    @router.get("/file/module/{module_id}/{file_name}", summary="A data file of the module")
    def data_file(module_id: str, file_name: str) -> Response:
        data, media = orch.modules.data_file(module_id, file_name)
        return Response(data, media_type=media)

    @router.post("/file/manifest", summary="Create (and solve) a deployment from a manifest")
    async def create_manifest(request: Request) -> Response:
        record = await orch.deployments.create(await read_manifest(request, limit))
        return Response(json.dumps(record.id), status_code=201, media_type="application/json")

    @router.get("/file/manifest", summary="List deployments (wasmiot shape)")
    def list_manifests() -> Response:
        return JSONResponse([wasmiot_manifest_view(d) for d in orch.store.list_deployments()])

    @router.get("/file/manifest/{key}", summary="One deployment (wasmiot shape)")
    def get_manifest(key: str) -> Response:
        return JSONResponse(wasmiot_manifest_view(orch.deployments.get(key)))

    @router.post("/file/manifest/{key}", summary="Deploy to every device")
    async def deploy(key: str) -> Response:
        record = await orch.deployments.deploy(key)
        status = 200 if record.status == DeploymentStatus.ACTIVE else 502
        return JSONResponse(
            {"status": record.status, "devices": record.results, "error": record.error},
            status_code=status,
        )

    @router.put("/file/manifest/{key}", summary="Re-solve and redeploy")
    async def redeploy(key: str, request: Request) -> Response:
        body = await read_manifest(request, limit) if await request.body() else None
        record = await orch.deployments.redeploy(key, body)
        status = 200 if record.status == DeploymentStatus.ACTIVE else 502
        return JSONResponse(wasmiot_manifest_view(record), status_code=status)

    @router.delete("/file/manifest/{key}", summary="Remove from the devices and delete")
    async def delete_manifest(key: str) -> Response:
        removed = await orch.deployments.remove(key)
        return JSONResponse({"removed": removed})

    @router.post("/execute/{key}", summary="Run a deployment from its first step")
    async def execute(key: str, request: Request) -> Response:
        record = await asyncio.to_thread(orch.deployments.get, key)
        args, files = await read_arguments(request, limit)
        execution = await orch.executions.execute(record, args, files)
        return JSONResponse(execution_view(execution))

    @router.post("/device/logs", summary="Store supervisor log entries (form field logData)")
    async def post_logs(request: Request) -> Response:
        if is_form(request):
            fields, _files = await read_form(request, limit.fixed(16 * 1024 * 1024))
            values = [v for k, v in fields if k == "logData"]
        else:
            body = await read_json(request, limit.fixed(16 * 1024 * 1024))
            values = [json.dumps(body.get("logData", body) if isinstance(body, dict) else body)]
        stored = await asyncio.to_thread(orch.logs.add, values)
        return JSONResponse({"stored": stored})

    @router.get("/device/logs", summary="Supervisor logs, oldest first")
    def get_logs(
        after: str | None = None, device: str | None = None, limit: int = 1000
    ) -> Response:
        return JSONResponse(
            [log_view(r) for r in orch.logs.list(after=after, device=device, limit=limit)]
        )

    return router
