"""The wasmiot dialect's manifests and executions (docs/wasmiot-compat.md).

``POST /file/manifest`` answers the new id as text, ``POST /file/manifest/{id}`` deploys and
answers each device's answer keyed by device id, ``PUT`` re-solves (and redeploys only what
was deployed, answering 204 otherwise), ``DELETE`` answers ``{"deletedCount"}`` and
``POST /execute/{id|name}`` answers the last step's result, as the wasmiot orchestrator does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from wasmfleet.core.errors import NotFound
from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.core.protocol import ErrorCode
from wasmfleet.orchestrator.http_input import read_arguments, read_manifest
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.store import DeploymentRecord
from wasmfleet.orchestrator.traces import caller_trace
from wasmfleet.orchestrator.wasmiot_views import deploy_answer, execute_answer, wasmiot_manifest
from wasmfleet.service.http import JSONResponse

TEXT = "text/plain; charset=utf-8"
"""The type of the answer to POST /file/manifest (deployment.js createDeployment)."""


def add_deployment_routes(router: APIRouter, orch: Orchestrator) -> None:
    """Add the manifest and execute routes of the wasmiot dialect to ``router``."""
    limit = orch.settings.body_limit

    def device_ids() -> dict[str, str]:
        return {d.name: d.id for d in orch.store.list_devices()}

    def manifest_view(record: DeploymentRecord, ids: dict[str, str]) -> dict[str, Any]:
        return wasmiot_manifest(record, ids, orch.deployments.documents_of(record))

    def deployed(record: DeploymentRecord) -> Response:
        """The answer to a deploy: 200, or 502 with each device's answer and a sentence."""
        body = deploy_answer(record, device_ids())
        if record.status == DeploymentStatus.ACTIVE:
            return JSONResponse(body)
        message = record.error or "The deployment failed."
        body["error"] = {"status": 502, "code": ErrorCode.DEPLOY_FAILED, "message": message}
        body["errorText"] = message
        return JSONResponse(body, status_code=502)

    @router.post("/file/manifest", summary="Create (and solve) a deployment: its id as text")
    async def create_manifest(request: Request) -> Response:
        record = await orch.deployments.create(await read_manifest(request, limit))
        return Response(json.dumps(record.id), status_code=201, media_type=TEXT)

    @router.get("/file/manifest", summary="List deployments (wasmiot shape)")
    def list_manifests() -> Response:
        ids = device_ids()
        return JSONResponse([manifest_view(d, ids) for d in orch.store.list_deployments()])

    @router.delete("/file/manifest", summary="Remove every deployment: {deletedCount}")
    async def delete_manifests() -> Response:
        count = 0
        for record in await asyncio.to_thread(orch.store.list_deployments):
            try:
                await orch.deployments.remove(record.id)
            except NotFound:
                continue  # removed meanwhile by another request
            count += 1
        return JSONResponse({"deletedCount": count})

    @router.get("/file/manifest/{key}", summary="One deployment (wasmiot shape)")
    def get_manifest(key: str) -> Response:
        return JSONResponse(manifest_view(orch.deployments.get(key), device_ids()))

    @router.post("/file/manifest/{key}", summary="Deploy to every device: {deviceResponses}")
    async def deploy(key: str) -> Response:
        return deployed(await orch.deployments.deploy(key))

    @router.put(
        "/file/manifest/{key}",
        summary="Re-solve; redeploy if deployed ({deviceResponses}), else 204",
    )
    async def update(key: str, request: Request) -> Response:
        body = await read_manifest(request, limit) if (await request.body()).strip() else None
        if await orch.deployments.resolve(key, body, unless_deployed=True) is not None:
            return Response(status_code=204)  # not deployed: re-solved, nothing sent
        return deployed(await orch.deployments.redeploy(key, body))

    @router.delete("/file/manifest/{key}", summary="Remove from the devices and delete")
    async def delete_manifest(key: str) -> Response:
        await orch.deployments.remove(key)
        return JSONResponse({"deletedCount": 1})

    @router.post("/execute/{key}", summary="Run a deployment; the last step's result")
    async def execute(key: str, request: Request) -> Response:
        record = await asyncio.to_thread(orch.deployments.get, key)
        args, files = await read_arguments(request, limit)
        execution = await orch.executions.execute(record, args, files, trace=caller_trace(request))
        now = await asyncio.to_thread(orch.store.get_deployment, record.id)
        return JSONResponse(execute_answer(execution, now or record))
