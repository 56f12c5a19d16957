"""``GET|POST /{deployment}/modules/{module}/{function}`` as a raw ASGI app: the hot path.

Calls are what a supervisor serves most, so they skip Starlette's router and middleware
stack: ``CallFastPath`` sends requests whose path has the call shape straight to
``CallEndpoint`` and everything else to the Starlette app. The endpoint still answers in
the shared JSON shapes, and bad input still gets a 4xx with a sentence.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

import orjson
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from wasmfleet.core.args import ArgValue
from wasmfleet.core.errors import (
    BadRequest,
    InvalidMount,
    UnsupportedMediaType,
    WasmfleetError,
)
from wasmfleet.core.protocol import EPOCH_HEADER_RAW, ErrorCode, call_answer
from wasmfleet.core.tracing import TRACEPARENT_RAW, TraceContext, parse
from wasmfleet.service.http import BodyLimit, error_body, read_body, read_json
from wasmfleet.supervisor.calls import CallRequest, CallService

log = logging.getLogger("wasmfleet.supervisor.http")
CALL_PATH = re.compile(r"^/([^/]+)/modules/([^/]+)/([^/]+)$")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
_JSON_HEADERS = [(b"content-type", b"application/json")]


class CallEndpoint:
    """Runs a function call for an HTTP request and answers with result and resultUrl."""

    def __init__(self, calls: CallService, fallback_base_url: str, body_limit: BodyLimit) -> None:
        self.calls = calls
        self.fallback_base_url = fallback_base_url
        self.body_limit = body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = CALL_PATH.match(scope["path"])
        if match is None:  # reached through the Starlette route with an odd path
            await _respond(send, 404, error_body(404, ErrorCode.NOT_FOUND, "Not a function path."))
            return
        names = tuple(map(unquote, match.groups()))
        try:
            status, body = await self._handle(scope, receive, *names)
        except WasmfleetError as err:
            status, body = err.status, err.to_dict()
            if self.calls.metrics is not None:
                self._count_refused(names, err)
        except Exception as err:  # never a traceback to the client
            incident = uuid.uuid4().hex[:12]
            log.error("internal error", exc_info=err, extra={"incident": incident})
            status = 500
            body = error_body(
                500,
                ErrorCode.INTERNAL,
                f"The supervisor hit an internal error (incident {incident}, see its log).",
            )
        await _respond(send, status, body)

    def _count_refused(self, names: tuple[str, ...], err: WasmfleetError) -> None:
        """Count a refused call of a deployed function (unknown names are not counted)."""
        deployment, module, function = names
        dep = self.calls.manager.deployments.get(deployment)
        metrics = self.calls.metrics
        if metrics is not None and dep is not None and (module, function) in dep.functions:
            metrics.refused((deployment, module, function), err)

    async def _handle(
        self, scope: Scope, receive: Receive, deployment: str, module: str, function: str
    ) -> tuple[int, Mapping[str, Any]]:
        method = scope["method"]
        query = scope.get("query_string", b"")
        args: list[tuple[str, ArgValue]] = (
            list(parse_qsl(query.decode("latin-1"), keep_blank_values=True)) if query else []
        )
        files: dict[str, bytes] = {}
        raw: bytes | None = None
        if method == "POST":
            request = Request(scope, receive)
            if self.calls.resolve(deployment, module, function).takes_body and not _is_form(
                request
            ):
                raw = await read_body(request, self.body_limit)  # the payload, as it came
            else:
                await self._read_body(request, args, files)
        base, epoch, trace = _call_headers(scope, self.fallback_base_url)
        outcome = await self.calls.call(
            CallRequest(
                deployment, module, function, method, args, files, epoch, trace=trace, body=raw
            ),
            base,
        )
        answer = call_answer(outcome.entry, base, outcome.error is None)
        if outcome.error is None:
            return 200, answer
        body: dict[str, Any] = outcome.error.to_dict()
        body.update(answer)
        return outcome.error.status, body

    async def _read_body(
        self, request: Request, args: list[tuple[str, ArgValue]], files: dict[str, bytes]
    ) -> None:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await read_body(request, self.body_limit)
        if not body:
            return
        if content_type in _FORM_TYPES:
            await _read_form(request, args, files)
        elif content_type in ("application/json", "text/json"):
            data = await read_json(request, self.body_limit)
            pairs: list[tuple[Any, Any]] = []
            if isinstance(data, dict):
                pairs = list(data.items())
            elif isinstance(data, list):
                pairs = list(enumerate(data))
            if not isinstance(data, dict | list) or any(
                isinstance(v, bool) or not isinstance(v, str | int | float) for _, v in pairs
            ):
                raise BadRequest(
                    "A JSON call body must be an object (or list) of numbers or strings, "
                    'e.g. {"iterations": 7}.'
                )
            args.extend((str(k), v) for k, v in pairs)
        else:
            kind = f"a {content_type} body" if content_type else "a body without Content-Type"
            raise UnsupportedMediaType(
                f"Cannot read {kind}: send arguments as a query string, JSON or form fields, "
                "and files as multipart/form-data parts named after the function's mounts."
            )


def _is_form(request: Request) -> bool:
    """True for a multipart or urlencoded form body (arguments and files, never a payload)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in _FORM_TYPES


async def _read_form(
    request: Request, args: list[tuple[str, ArgValue]], files: dict[str, bytes]
) -> None:
    """Form fields become arguments, file parts become execution-mount files."""
    try:
        async with request.form(max_files=64, max_fields=256) as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    if name in files:
                        raise InvalidMount(f"File {name!r} was sent twice.")
                    files[name] = await value.read()
                else:
                    args.append((name, value))
    except (MultiPartException, KeyError, ValueError) as err:
        reason = f"missing {err}" if isinstance(err, KeyError) else str(err)
        raise BadRequest(
            f"The form body could not be read ({reason}); send files with curl -F "
            "'name=@file' so that the multipart boundary is set."
        ) from None


class CallFastPath:
    """ASGI middleware: call-shaped GET/POST requests go to the call endpoint directly."""

    def __init__(self, app: ASGIApp, endpoint: CallEndpoint) -> None:
        self.app = app
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "POST")
            and "/modules/" in scope["path"]
            and CALL_PATH.match(scope["path"])
        ):
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _call_headers(scope: Scope, fallback: str) -> tuple[str, str | None, TraceContext | None]:
    """This supervisor's URL as the caller addressed it, the caller's epoch and trace context.

    An invalid ``traceparent`` is ignored (W3C: the call starts a new trace)."""
    base = epoch = None
    trace = None
    for name, value in scope["headers"]:
        if name == b"host":
            base = f"{scope.get('scheme', 'http')}://{value.decode('latin-1')}"
        elif name == EPOCH_HEADER_RAW:
            epoch = value.decode("latin-1")
        elif name == TRACEPARENT_RAW:
            trace = parse(value)
    return base or fallback, epoch, trace


async def _respond(send: Send, status: int, body: Mapping[str, Any]) -> None:
    payload = orjson.dumps(body, default=str)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})
