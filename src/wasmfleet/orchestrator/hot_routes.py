"""The two hot routes, answered before FastAPI's routing: heartbeats and executions.

Every device sends a heartbeat every 0.5 s, and a busy deployment is executed thousands of
times a second; through FastAPI's stack each request paid for matching ~200 routes,
solving dependencies, a worker-thread hop and the response model's validation
(bench/README.md, "The hot routes"). ``HotRoutes``, an ASGI middleware inside the audit and
content-encoding middlewares, answers ``POST /api/v1/heartbeat`` and ``POST
/api/v1/deployments/{key}/execute`` (without ``?all=``) itself, with the same access check
(``Authenticator.admit``: token, role, the state the audit middleware reads), the same error
shapes (the app's handler for ``WasmfleetError``; anything else propagates to the app's
handler of unexpected errors) and the same answers (the routes' response models). The
FastAPI routes stay: they document both in the OpenAPI document and serve every other
method and variant.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from wasmfleet.core.device_wire import Heartbeat
from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.protocol import ErrorCode
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.auth import Identity
from wasmfleet.orchestrator.execution import DeploymentLookup
from wasmfleet.orchestrator.execution_run import first_step_body
from wasmfleet.orchestrator.http_input import read_execute_input
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.traces import caller_trace
from wasmfleet.orchestrator.views import execution_view
from wasmfleet.service.http import json_bytes, read_json

HEARTBEAT = "/api/v1/heartbeat"
EXECUTE = "/api/v1/deployments/{key}/execute"
_EXECUTE = re.compile(r"/api/v1/deployments/([^/]+)/execute")
HEARTBEAT_LIMIT = 1024 * 1024
EXECUTION_ANSWER: TypeAdapter[Any] = TypeAdapter(schemas.Execution | schemas.CopiesExecution)
"""The execute route's response model, as FastAPI validates and serializes it."""

OnError = Callable[[Request, Exception], Awaitable[Response]]


async def answer_heartbeat(orch: Orchestrator, who: Identity, body: Any) -> tuple[int, Any]:
    """A heartbeat's status and answer: ``{"known": true, "epochs"}``, or 404 (register)."""
    beat = Heartbeat(body)
    orch.trust.check_caller(who, beat.name)
    known = await orch.monitor.heartbeat(beat)
    if not known:
        return 404, {
            "known": False,
            "error": {
                "status": 404,
                "code": ErrorCode.NOT_FOUND,
                "message": f"No device {beat.name!r} is registered; register it with "
                "POST /file/device/discovery/register first.",
            },
        }
    orch.fanin.beat(beat)  # the other orchestrators' monitors see it too
    orch.events.heartbeat(beat.name, beat.usage)
    epochs = await orch.reconciler.heartbeat(beat.name, beat.deployments)
    return 200, {"known": True, "epochs": epochs}


class HotRoutes:
    """ASGI middleware: serves the heartbeat and execute routes without FastAPI's routing."""

    def __init__(self, app: ASGIApp, orch: Orchestrator, on_error: OnError) -> None:
        self.app = app
        self.orch = orch
        self.on_error = on_error
        self.limit = orch.settings.body_limit
        self.deployments = DeploymentLookup(orch.store, orch.deployments.get)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the hot routes here; pass everything else on."""
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            path = scope["path"]
            if path == HEARTBEAT:
                await self._serve(scope, receive, send, HEARTBEAT, self._heartbeat)
                return
            found = _EXECUTE.fullmatch(path) if path.endswith("/execute") else None
            if found is not None and b"all" not in scope["query_string"]:
                scope["path_params"] = {"key": found.group(1)}
                await self._serve(scope, receive, send, EXECUTE, self._execute)
                return
        await self.app(scope, receive, send)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        template: str,
        handler: Callable[[Request, Identity], Awaitable[tuple[int, bytes]]],
    ) -> None:
        request = Request(scope, receive)
        try:
            who = await self.orch.auth.admit(
                scope, "POST", template, request.headers.get("authorization")
            )
            status, body = await handler(request, who)
        except WasmfleetError as exc:
            response = await self.on_error(request, exc)
            await response(scope, receive, send)
            return
        headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _heartbeat(self, request: Request, who: Identity) -> tuple[int, bytes]:
        body = await read_json(request, self.limit.fixed(HEARTBEAT_LIMIT))
        status, answer = await answer_heartbeat(self.orch, who, body)
        return status, json_bytes(answer)

    async def _execute(self, request: Request, who: Identity) -> tuple[int, bytes]:
        orch = self.orch
        key = request.scope["path_params"]["key"]
        record = await self.deployments.get(key)
        args, files, body = await read_execute_input(request, self.limit, first_step_body(record))
        trace = caller_trace(request)
        execution = await orch.executions.execute(record, args, files, trace=trace, body=body)
        answer = EXECUTION_ANSWER.validate_python(execution_view(execution), from_attributes=True)
        return 200, EXECUTION_ANSWER.dump_json(answer)
