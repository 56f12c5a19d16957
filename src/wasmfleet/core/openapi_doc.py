"""Writing a module's OpenAPI 3.0.3 description: its paths, operations and schemas.

Function paths name the module literally, as the wasmiot orchestrator writes them
(``/{deployment}/modules/fibo/fibo``, ``deployment`` the only path parameter); schemas are
plain (``{"type": "integer"}``, ``{"type": "number"}``: no ``format``, which the original
wasmiot supervisor refuses). ``core.describe`` decides what a function is; this module only
writes it down. Pure.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.models import Mount

WASM_SCHEMAS: dict[str, dict[str, str]] = {
    "i32": {"type": "integer"},
    "i64": {"type": "integer"},
    "f32": {"type": "number"},
    "f64": {"type": "number"},
}
"""The OpenAPI schema of each Wasm scalar type."""
_MULTIPART = "multipart/form-data"
Op = tuple[str, dict[str, Any], tuple[Mount, ...]]
"""(lower-case method, OpenAPI operation, mounts) of one function."""
PATH_PARAMS = [
    {
        "name": "deployment",
        "in": "path",
        "required": True,
        "description": "Deployment id.",
        "schema": {"type": "string"},
    }
]
_MODULE_SEGMENT = "{module}"


def query_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A required query parameter."""
    return {"name": name, "in": "query", "required": True, "schema": schema}


def operation(
    name: str,
    params: list[dict[str, Any]],
    mounts: tuple[Mount, ...],
    response: tuple[str, dict[str, Any]] | None,
    summary: Any = None,
) -> dict[str, Any]:
    """The operation of function ``name``: parameters, multipart body for its execution
    mounts, the 200 response (None: no content) and the ``x-mounts`` extension."""
    op: dict[str, Any] = {"operationId": name}
    op["summary"] = str(summary) if summary else f"Call {name}."
    op["parameters"] = params
    executions = [m for m in mounts if m.stage == "execution"]
    if executions:
        op["requestBody"] = {
            "required": True,
            "content": {
                _MULTIPART: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            m.name: {"type": "string", "format": "binary"} for m in executions
                        },
                        "required": [m.name for m in executions],
                    },
                    "encoding": {m.name: {"contentType": m.media_type} for m in executions},
                }
            },
        }
    ok: dict[str, Any] = {"description": "The result." if response else "No content."}
    if response:
        ok["content"] = {response[0]: {"schema": response[1]}}
    op["responses"] = {"200": ok}
    op["x-mounts"] = [
        {"name": m.name, "stage": m.stage, "media_type": m.media_type} for m in mounts
    ]
    return op


def function_path(module_name: str, function: str) -> str:
    """The path key of a function in a module's description: ``/{deployment}/modules/m/f``."""
    return f"/{{deployment}}/modules/{module_name}/{function}"


def literal_paths(module_name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``{module}`` in its path keys replaced by the module's name (and the
    ``module`` path parameter dropped from those path items)."""
    if not any(_MODULE_SEGMENT in str(path) for path in doc["paths"]):
        return doc
    paths: dict[str, Any] = {}
    for path, item in doc["paths"].items():
        if _MODULE_SEGMENT in str(path) and isinstance(item, dict):
            path = str(path).replace(_MODULE_SEGMENT, module_name)
            params = item.get("parameters")
            if isinstance(params, list):
                kept = [p for p in params if not (isinstance(p, dict) and _module_param(p))]
                item = {**item, "parameters": kept}
        paths[path] = item
    return {**doc, "paths": paths}


def _module_param(param: dict[str, Any]) -> bool:
    return param.get("name") == "module" and param.get("in") == "path"


def document(module_name: str, ops: dict[str, Op]) -> dict[str, Any]:
    """The description of module ``module_name`` with these function operations."""
    paths: dict[str, Any] = {}
    for name, (method, op, _) in ops.items():
        paths[function_path(module_name, name)] = {
            "parameters": [dict(p) for p in PATH_PARAMS],
            method: op,
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": module_name,
            "version": "1.0.0",
            "description": f"Functions of the WebAssembly module {module_name}.",
        },
        "paths": paths,
    }
