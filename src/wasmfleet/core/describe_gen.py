"""A module's OpenAPI description generated from its ``@wasmfleet`` declarations.

The shape is that of the hand-written ``modules/*/description.json`` (``core.openapi`` reads
both the same way): one path ``/{deployment}/modules/{module}/FUNCTION`` per function, query
parameters in Wasm order with plain schemas (``integer`` for i32/i64, ``number`` for f32/f64:
no ``format``, which the original wasmiot supervisor refuses), execution mounts as a
``multipart/form-data`` body, the 200 response (an output mount's media type, else the
declared result) and ``x-mounts``. A function taking ``bytes`` (the bytes ABI) has no query
parameters: its ``requestBody`` is the declared media type itself, and ``x-bytes`` says what
goes in and out (``{"input": MEDIA, "output": MEDIA | null}``), with ``x-wasmfleet-abi:
bytes`` as in the hand-written bytes descriptions. Pure.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.models import Mount, MountStage
from wasmfleet.core.openapi_doc import PATH_PARAMS, WASM_SCHEMAS, operation, query_param
from wasmfleet.core.source_decl import FunctionDecl, ModuleDecl

_MODULE_PARAM = {
    "name": "module",
    "in": "path",
    "required": True,
    "description": "Module name within the deployment.",
    "schema": {"type": "string"},
}


def is_textual(media_type: str) -> bool:
    """True for media types a supervisor answers as a string (text/*, JSON)."""
    base = media_type.split(";")[0].strip().lower()
    return base.startswith("text/") or base == "application/json" or base.endswith("+json")


def _file_schema(media_type: str) -> dict[str, str]:
    return {"type": "string"} if is_textual(media_type) else {"type": "string", "format": "binary"}


def function_path(function: str) -> str:
    """The path key of a function, as the hand-written descriptions write it."""
    return f"/{{deployment}}/modules/{{module}}/{function}"


def function_operation(function: FunctionDecl) -> dict[str, Any]:
    """The OpenAPI operation of one declared function."""
    mounts = tuple(
        Mount(name=m.name, stage=_stage(m.stage), media_type=m.media_type) for m in function.mounts
    )
    body = function.body
    params = [
        query_param(p.name, dict(WASM_SCHEMAS[p.type])) for p in function.params if p is not body
    ]
    op = operation(function.name, params, mounts, _response(function), function.summary or None)
    if body is not None:
        media = body.media_type or "application/octet-stream"
        op["requestBody"] = {
            "required": True,
            "content": {media: {"schema": _file_schema(media)}},
        }
        output = function.returns_media if function.returns == "bytes" else None
        op["x-bytes"] = {"input": media, "output": output}
        op["x-wasmfleet-abi"] = "bytes"
    return op


def _stage(stage: str) -> MountStage:
    if stage == "deployment":
        return "deployment"
    return "execution" if stage == "execution" else "output"


def _response(function: FunctionDecl) -> tuple[str, dict[str, Any]] | None:
    output = next((m for m in function.mounts if m.stage == "output"), None)
    if output is not None:
        return output.media_type, _file_schema(output.media_type)
    if function.returns == "bytes":
        media = function.returns_media or "application/octet-stream"
        return media, _file_schema(media)
    if function.returns in WASM_SCHEMAS:
        return "application/json", dict(WASM_SCHEMAS[function.returns])
    return None


def describe_declarations(
    declared: ModuleDecl, name: str, version: str, summary: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 description of module ``name`` (``version``) from its declarations."""
    paths: dict[str, Any] = {}
    for function in declared.functions:
        paths[function_path(function.name)] = {
            "parameters": [*(dict(p) for p in PATH_PARAMS), dict(_MODULE_PARAM)],
            function.http_method.lower(): function_operation(function),
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": name,
            "version": version,
            "description": summary
            or f"Functions of the WebAssembly module {name}, generated from the @wasmfleet "
            "declarations in its sources.",
        },
        "paths": paths,
    }
