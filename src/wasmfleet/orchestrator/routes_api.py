"""The versioned API, ``/api/v1``: devices, modules, deployments, executions, logs, status.

It calls the same services as the wasmiot routes; pydantic models document it at ``/docs``.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from wasmfleet.core.bounds import MAX_DB_INT
from wasmfleet.core.errors import InvalidDocument, NotFound
from wasmfleet.core.lifecycle import DeploymentStatus
from wasmfleet.core.protocol import ErrorCode
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.execution_run import first_step_body
from wasmfleet.orchestrator.hot_routes import HEARTBEAT_LIMIT, answer_heartbeat
from wasmfleet.orchestrator.http_input import (
    is_form,
    read_execute_input,
    read_form,
    read_manifest,
    read_module_upload,
)
from wasmfleet.orchestrator.modules import DataFile
from wasmfleet.orchestrator.routes_identities import caller
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.store import ModuleRecord
from wasmfleet.orchestrator.traces import caller_trace, check_trace_id, trace_routes
from wasmfleet.orchestrator.views import (
    deployment_view,
    execution_view,
    log_view,
    module_version_view,
    module_view,
    status_entry_view,
)
from wasmfleet.service.http import JSONResponse, read_json

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorBody, "description": "Bad input; the message says what to change."},
    404: {"model": schemas.ErrorBody, "description": "No such item."},
}
_INSTALL_SUMMARY = ("name", "app", "location", "status", "reason", "next_fire", "where")
_MANIFEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
        "description": "A wasmfleet manifest (steps) or a wasmiot manifest (sequence).",
    }
}


def api_router(orch: Orchestrator) -> APIRouter:
    """The /api/v1 routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1", responses=_ERRORS)
    limit = orch.settings.body_limit

    def signed_view(m: ModuleRecord) -> dict[str, Any]:
        return module_view(m, orch.modules.signed_by(m))

    def device(key: str) -> Any:
        found = orch.store.get_device(key)
        if found is None:
            known = ", ".join(d.name for d in orch.store.list_devices()) or "none yet"
            raise NotFound(f"No device {key!r} (devices: {known}).")
        return found

    @router.get("/status", response_model=schemas.Status, tags=["fleet"])
    def status() -> Any:
        """The fleet at a glance: devices, deployments, counts."""
        return {
            "orchestrator": orch.status(),
            "devices": orch.device_views(),
            "deployments": [deployment_view(d) for d in orch.store.list_deployments()],
            "counts": orch.store.counts(),
            "installs": [
                {k: v for k, v in orch.installs.view(i).items() if k in _INSTALL_SUMMARY}
                for i in orch.store.list_installs()
            ],
        }

    @router.post(
        "/heartbeat",
        response_model=schemas.HeartbeatAnswer,
        tags=["devices"],
        responses={404: {"model": schemas.HeartbeatAnswer, "description": "Unknown device."}},
    )
    async def heartbeat(request: Request) -> Any:
        """A supervisor's heartbeat: usage and the deployments it holds, with their epochs.

        The answer gives the current epoch of each of those deployments; a device holding
        an older one must stop serving it (it was moved). 404 means: register first."""
        # POSTs are answered by hot_routes.HotRoutes before routing; this serves the docs.
        body = await read_json(request, limit.fixed(HEARTBEAT_LIMIT))
        status, answer = await answer_heartbeat(orch, caller(request), body)
        return answer if status == 200 else JSONResponse(answer, status_code=status)

    @router.get("/devices", response_model=list[schemas.Device], tags=["devices"])
    def list_devices() -> Any:
        """Every known device, by name."""
        return orch.device_views()

    @router.get("/devices/{key}", response_model=schemas.DeviceDetail, tags=["devices"])
    def get_device(key: str) -> Any:
        """One device with its status log."""
        found = device(key)
        log = orch.store.status_log(found.name)
        return {**orch.device_view(found), "status_log": [status_entry_view(e) for e in log]}

    @router.delete("/devices/{key}", status_code=204, tags=["devices"])
    def forget_device(key: str) -> Response:
        """Forget a device (it is found again if it registers or is discovered)."""
        found = device(key)
        orch.store.delete_device(found.id)
        orch.monitor.forget(found.name)
        orch.events.publish("device", {"name": found.name, "forgotten": True})
        return Response(status_code=204)

    @router.post("/devices/join", status_code=201, tags=["devices"])
    async def join_device(request: Request) -> Any:
        """Trade a single-use join token for this device's own credential: `{"name"}` →
        `{"device", "user", "token", "hop_key", "orchestrator_url"}` (secrets shown once)."""
        body = await read_json(request, limit.fixed(16 * 1024))
        answer = await asyncio.to_thread(orch.trust.join, caller(request), body)
        return JSONResponse(answer, status_code=201)

    @router.post("/devices/{key}/revoke", tags=["devices"])
    async def revoke_device(key: str) -> Any:
        """Revoke a joined device: its credential is refused, it gets no more work, and
        self-healing moves its steps to other devices."""
        return await orch.revoke_device(key)

    @router.delete("/devices", response_model=schemas.Forgotten, tags=["devices"])
    def forget_all() -> Any:
        """Forget every device."""
        orch.monitor.forget()
        return {"forgotten": orch.store.delete_all_devices()}

    @router.get("/modules", response_model=list[schemas.Module], tags=["modules"])
    def list_modules(all: bool = False) -> Any:
        """The latest version of every module name (with how many versions it has), by name;
        `all=true`: every version."""
        rows = orch.store.list_modules()
        if all:
            return [signed_view(m) for m in rows]
        latest: dict[str, Any] = {}
        counts: dict[str, int] = {}
        for m in rows:  # oldest first within a name: the last one is the latest
            latest[m.name] = m
            counts[m.name] = counts.get(m.name, 0) + 1
        return [{**signed_view(m), "versions": counts[n]} for n, m in sorted(latest.items())]

    @router.get("/modules/{key}", response_model=schemas.Module, tags=["modules"])
    def get_module(key: str) -> Any:
        """One module: an id, a name (its latest version) or name@N."""
        return signed_view(orch.modules.resolve(key))

    @router.get(
        "/modules/{name}/versions", response_model=list[schemas.ModuleVersion], tags=["modules"]
    )
    def module_versions(name: str) -> Any:
        """Every version of a module name, newest first, with the deployments using each."""
        found = orch.modules.versions(name)
        users: dict[str, list[str]] = {}
        for dep in orch.store.list_deployments():
            for module_id in dep.module_ids:
                users.setdefault(module_id, []).append(dep.name)
        return [module_version_view(m, sorted(users.get(m.id, []))) for m in found]

    @router.post("/modules", response_model=schemas.Module, status_code=201, tags=["modules"])
    async def create_module(request: Request) -> Any:
        """Push a module: multipart with a field `name` and a part `wasm` (application/wasm),
        optional fields `note` and `created_by` (or header X-Wasmfleet-User). A taken name gets
        its next version (201); bytes that already are a version of it answer that one (200)."""
        name, data, fields = await read_module_upload(request, limit, part_name="wasm")
        by = fields.get("created_by") or request.headers.get("x-wasmfleet-user")
        pushed = await asyncio.to_thread(
            orch.modules.push, name, data, note=fields.get("note"), created_by=by
        )
        view = {**await asyncio.to_thread(signed_view, pushed.module), "created": pushed.created}
        view["message"] = pushed.message
        if pushed.warnings:
            view["warnings"] = [f.to_dict() for f in pushed.warnings]
        return JSONResponse(view, status_code=201 if pushed.created else 200)

    @router.post("/modules/{key}/description", response_model=schemas.Module, tags=["modules"])
    async def describe_module(key: str, request: Request) -> Any:
        """Describe functions (part `description`: OpenAPI or wasmiot JSON) and data files."""
        files: list[DataFile] = []
        if is_form(request):
            fields, files = await read_form(request, limit)
            raw = dict(fields).get("description")
            described = [f for f in files if f.name == "description"]
            if raw is None and described:
                raw = described[0].data.decode("utf-8", "replace")
            files = [f for f in files if f.name != "description"]
            functions = _json_text(raw) if raw else {}
        else:
            functions = await read_json(request, limit)
        module, warnings = await asyncio.to_thread(
            orch.modules.describe_checked, key, functions, files
        )
        view = await asyncio.to_thread(signed_view, module)  # may read the database's copy
        if not warnings:
            return view
        return JSONResponse({**view, "warnings": [w.to_dict() for w in warnings]})

    @router.delete("/modules/{key}", status_code=204, tags=["modules"])
    def delete_module(key: str, force: bool = False) -> Response:
        """Delete a module; 409 while an active deployment uses it unless `force`."""
        orch.modules.delete(key, force=force)
        return Response(status_code=204)

    @router.get("/deployments", response_model=list[schemas.Deployment], tags=["deployments"])
    def list_deployments() -> Any:
        """Every deployment, oldest first."""
        return [deployment_view(d) for d in orch.store.list_deployments()]

    @router.get("/deployments/{key}", response_model=schemas.Deployment, tags=["deployments"])
    def get_deployment(key: str) -> Any:
        """One deployment with its plan and device answers."""
        return deployment_view(orch.deployments.get(key))

    @router.post(
        "/deployments",
        response_model=schemas.Deployment,
        status_code=201,
        tags=["deployments"],
        openapi_extra=_MANIFEST_BODY,
    )
    async def create_deployment(request: Request, deploy: bool = True) -> Any:
        """Create a deployment from a manifest, solve it and (by default) deploy it."""
        record = await orch.deployments.create(await read_manifest(request, limit))
        if deploy:
            warnings = record.warnings
            record = await orch.deployments.deploy(record.id)
            record.warnings = warnings
            if record.status != DeploymentStatus.ACTIVE:
                return _failed_deploy(record)
        return deployment_view(record)

    @router.put(
        "/deployments/{key}",
        response_model=schemas.Deployment,
        tags=["deployments"],
        openapi_extra={
            **_MANIFEST_BODY,
            "requestBody": {**_MANIFEST_BODY["requestBody"], "required": False},
        },
    )
    async def redeploy(key: str, request: Request) -> Any:
        """Re-solve and redeploy (optionally with a changed manifest of the same name)."""
        body = await read_manifest(request, limit) if await request.body() else None
        record = await orch.deployments.redeploy(key, body)
        if record.status != DeploymentStatus.ACTIVE:
            return _failed_deploy(record)
        return deployment_view(record)

    @router.post(
        "/deployments/{key}/update",
        response_model=schemas.UpdateAnswer,
        tags=["deployments"],
        responses={502: {"description": "A device refused; the others were put back."}},
    )
    async def update_copies(key: str, request: Request) -> Any:
        """Move the deployment's copies of a module to another version (`fibo@4`, or `fibo`
        for the latest), on `devices` only or all; same epoch, other copies untouched."""
        module, devices = _update_request(await read_json(request, limit.fixed(64 * 1024)))
        result = await orch.updates.update(key, module, devices=devices)
        if result.ok:
            return result.to_dict()
        refused = "; ".join(
            f"{n}: {a['message']}" for n, a in sorted(result.devices.items()) if not a["ok"]
        )
        message = f"A device refused {result.module} version {result.version}: {refused}"
        return JSONResponse(
            {
                "error": {"status": 502, "code": ErrorCode.DEPLOY_FAILED, "message": message},
                **result.to_dict(),
            },
            status_code=502,
        )

    @router.delete("/deployments/{key}", response_model=schemas.Removed, tags=["deployments"])
    async def remove(key: str) -> Any:
        """Remove a deployment from its devices and delete it."""
        return {"removed": await orch.deployments.remove(key)}

    @router.post(
        "/deployments/{key}/execute",
        response_model=schemas.Execution | schemas.CopiesExecution,
        tags=["executions"],
        openapi_extra={
            "requestBody": {
                "content": {
                    "application/json": {"schema": schemas.ExecuteRequest.model_json_schema()},
                    "multipart/form-data": {"schema": {"type": "object"}},
                }
            }
        },
    )
    async def execute(key: str, request: Request, all: bool = False) -> Any:
        """Run the deployment once; per-step device, result and duration. With
        ``?all=true``, once from every copy of its first step: ``{"copies": [...]}``."""
        record = await asyncio.to_thread(orch.deployments.get, key)
        args, files, body = await read_execute_input(request, limit, first_step_body(record))
        trace = caller_trace(request)
        if all:
            answers = await orch.executions.execute_all(record, args, files, trace, body)
            return {
                "copies": [
                    {**a, "execution": execution_view(a["execution"]) if a["execution"] else None}
                    for a in answers
                ]
            }
        return execution_view(
            await orch.executions.execute(record, args, files, trace=trace, body=body)
        )

    @router.get("/executions", response_model=list[schemas.Execution], tags=["executions"])
    def list_executions(
        deployment: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        trace_id: str | None = None,
    ) -> Any:
        """Recent executions, newest first (of one deployment, of one trace)."""
        dep_id = orch.deployments.get(deployment).id if deployment else None
        rows = orch.store.list_executions(dep_id, limit=limit, trace_id=check_trace_id(trace_id))
        return [execution_view(e) for e in rows]

    trace_routes(router, orch.store)

    @router.get("/logs", response_model=list[schemas.LogEntry], tags=["logs"])
    def logs(
        after_id: Annotated[int | None, Query(ge=0, le=MAX_DB_INT)] = None,
        since: str | None = None,
        device: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        trace_id: str | None = None,
    ) -> Any:
        """Supervisor logs, oldest first; poll with `after_id` to follow; `trace_id`: the
        lines written during one trace's calls."""
        rows = orch.logs.list(
            after=since,
            after_id=after_id,
            device=device,
            limit=limit,
            trace_id=check_trace_id(trace_id),
        )
        return [log_view(r) for r in rows]

    return router


def _failed_deploy(record: Any) -> Response:
    message = record.error or "The deployment failed."
    return JSONResponse(
        {
            "error": {"status": 502, "code": ErrorCode.DEPLOY_FAILED, "message": message},
            "deployment": deployment_view(record),
        },
        status_code=502,
    )


def _update_request(body: Any) -> tuple[str, list[str] | None]:
    """``{"module": "fibo@4", "devices"?: [...]}`` read, or InvalidDocument saying what to fix."""
    module = body.get("module") if isinstance(body, dict) else None
    if not isinstance(module, str) or not module:
        raise InvalidDocument(
            'Send {"module": "fibo@4"} (a module name, name@VERSION or id), optionally with '
            '"devices": ["cam-1", ...].'
        )
    devices = body.get("devices")
    if devices is not None and (
        not isinstance(devices, list) or not all(isinstance(d, str) for d in devices)
    ):
        raise InvalidDocument('"devices" must be a list of device names.')
    return module, devices


def _json_text(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise InvalidDocument(f"The description is not valid JSON ({err}).") from None
