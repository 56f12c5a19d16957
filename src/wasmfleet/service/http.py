"""HTTP plumbing both services share: JSON responses, bodies read within a limit, error shapes.

A ``BodyLimit`` knows which service and which setting it comes from, so a 413 names the flag
the operator of *that* service can change. The exception handlers turn every error into the
one JSON shape ``{"error": {"status", "code", "message"}}``; nothing else reaches a user.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from wasmfleet.core.errors import BadRequest, InvalidDocument, PayloadTooLarge
from wasmfleet.core.protocol import ErrorCode


def json_bytes(content: Any) -> bytes:
    """``content`` as JSON bytes, exactly as ``JSONResponse`` sends it."""
    return orjson.dumps(content, default=str)


class JSONResponse(Response):
    """A JSON response serialized with orjson (several times faster than json)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialize ``content``; non-JSON values are shown as strings."""
        return json_bytes(content)


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """The largest request body a route reads, and who to ask to change it."""

    max_bytes: int
    service: str
    """``supervisor`` or ``orchestrator``: named in the 413 sentence."""
    setting: str | None = None
    """How an operator raises the limit (a flag and its variable), or None for a fixed one."""

    def fixed(self, max_bytes: int) -> BodyLimit:
        """A route-specific limit of the same service that no setting changes."""
        return BodyLimit(max_bytes, self.service)


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The shared error shape for errors that are not WasmfleetErrors (404 routes, 405)."""
    return {"error": {"status": status, "code": code, "message": message}}


async def read_body(request: Request, limit: BodyLimit) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit.max_bytes:
        raise PayloadTooLarge(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit.max_bytes:
                raise PayloadTooLarge(_too_large(size, limit))
            chunks.append(chunk)
    except ClientDisconnect:
        # The caller gave up (a heartbeat's timeout under load): an answer nobody reads, not
        # a 500 with two logged tracebacks, which under overload cost more than the work.
        raise BadRequest(
            "The client disconnected before its request body was read; nothing was done."
        ) from None
    body = b"".join(chunks)
    request._body = body  # later request.form() / request.json() reuse it
    return body


async def read_json(request: Request, limit: BodyLimit) -> Any:
    """The request body parsed as JSON, or InvalidDocument with the parser's reason."""
    body = await read_body(request, limit)
    if not body.strip():
        raise InvalidDocument("The request body is empty; send a JSON document.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidDocument(
            f"The request body is not valid JSON ({err}). "
            "Send the document with Content-Type: application/json."
        ) from None


def _too_large(size: int, limit: BodyLimit) -> str:
    where = (
        f" (raise it with {limit.setting})"
        if limit.setting
        else " on this route; send a smaller body"
    )
    return (
        f"The request body is {size} bytes; this {limit.service} accepts at most "
        f"{limit.max_bytes} bytes{where}."
    )


def route_error(request: Request, exc: HTTPException, hint: str) -> Response:
    """A 404/405/other HTTPException in the shared error shape; ``hint`` says where the API is."""
    if exc.status_code == 404:
        message = f"No route {request.method} {request.url.path}; {hint}."
        code = ErrorCode.NOT_FOUND
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
        code = ErrorCode.METHOD_NOT_ALLOWED
    else:
        message, code = str(exc.detail), ErrorCode.HTTP_ERROR
    return JSONResponse(error_body(exc.status_code, code, message), status_code=exc.status_code)


def internal_error(
    request: Request, exc: Exception, service: str, log: logging.Logger, *, unchanged: bool = True
) -> Response:
    """Log an unexpected exception with an incident id; answer 500 without a traceback."""
    incident = uuid.uuid4().hex[:12]
    log.error(
        "internal error", exc_info=exc, extra={"incident": incident, "path": request.url.path}
    )
    message = (
        f"The {service} hit an internal error (incident {incident}, see its log)"
        + ("; nothing was changed." if unchanged else ".")
        + " Please report it if it happens again."
    )
    return JSONResponse(error_body(500, ErrorCode.INTERNAL, message), status_code=500)


class RefuseContentEncoding:
    """ASGI middleware: a request body with a Content-Encoding (gzip, br...) is refused (415).

    Neither service decompresses request bodies, so an encoded body would be read as if it
    were plain and fail somewhere less clear; a compression bomb is never expanded. Only
    ``identity`` (no encoding) is accepted."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
                    await self._refuse(send, value.decode("latin-1"))
                    return
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, encoding: str) -> None:
        message = (
            f"This {self.service} does not decode request bodies sent with Content-Encoding "
            f"{encoding!r}; send the body uncompressed (without a Content-Encoding header)."
        )
        payload = json_bytes(error_body(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, message))
        headers = [(b"content-type", b"application/json"), (b"accept-encoding", b"identity")]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 415, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
