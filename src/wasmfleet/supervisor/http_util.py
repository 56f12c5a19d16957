"""Small HTTP helpers shared by the supervisor's routes: JSON responses, limited bodies."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from wasmfleet.core.errors import InvalidDocument, PayloadTooLarge


class JSONResponse(Response):
    """A JSON response serialized with orjson (several times faster than json)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        """Serialize ``content``; non-JSON values are shown as strings."""
        return orjson.dumps(content, default=str)


def error_body(status: int, code: str, message: str) -> dict[str, Any]:
    """The shared error shape for errors that are not WasmfleetErrors (404 routes, 405)."""
    return {"error": {"status": status, "code": code, "message": message}}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes without reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(int(declared), limit))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(size, limit))
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # later request.form() / request.json() reuse it
    return body


async def read_json(request: Request, limit: int) -> Any:
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


def _too_large(size: int, limit: int) -> str:
    return (
        f"The request body is {size} bytes; this supervisor accepts at most {limit} bytes "
        "(--max-request-size)."
    )
