"""Deploy bodies in the two wasmiot wire shapes, shared by unit and integration tests."""

from __future__ import annotations

from typing import Any

STAMP_MOUNTS = [("deployment", "prefix.txt"), ("execution", "input.txt"), ("output", "output.txt")]


def readme_fibo(binary: str, description: str, dep_id: str = "0") -> dict[str, Any]:
    """The fibo deployment of the wasmiot supervisor README (seed 000), field for field."""
    int64 = {"type": "integer", "format": "int64"}
    operation = {
        "parameters": [{"name": "iterations", "in": "query", "required": True, "schema": int64}],
        "responses": {"200": {"content": {"application/json": {"schema": int64}}}},
    }
    return {
        "deploymentId": dep_id,
        "modules": [
            {
                "id": dep_id,
                "name": "fiboMod",
                "urls": {"binary": binary, "description": description, "other": []},
            }
        ],
        "instructions": {
            "modules": {"fiboMod": {"fibo": {"paths": {"": {"get": operation}}, "to": None}}}
        },
    }


def orchestrator_stamp(
    binary: str,
    description: str,
    prefix: str,
    dep_id: str,
    to: dict[str, Any] | None = None,
    endpoint_url: str = "http://127.0.0.1:1/",
) -> dict[str, Any]:
    """The stamp module deployed in the shape the wasmiot orchestrator sends."""
    endpoint = {
        "url": endpoint_url,
        "path": "/{deployment}/modules/stamp/stamp",
        "method": "POST",
        "request": {
            "parameters": [],
            "request_body": {
                "media_type": "multipart/form-data",
                "schema": {"type": "object", "properties": {"input.txt": {"type": "string"}}},
                "encoding": {"input.txt": {"contentType": "text/plain"}},
            },
        },
        "response": {"media_type": "text/plain", "schema": {"type": "string"}},
    }
    mounts = {
        stage: [{"path": path, "media_type": "text/plain", "stage": stage}]
        for stage, path in STAMP_MOUNTS
    }
    return {
        "deploymentId": dep_id,
        "modules": [
            {
                "id": "m-stamp",
                "name": "stamp",
                "urls": {
                    "binary": binary,
                    "description": description,
                    "other": {"prefix.txt": prefix},
                },
            }
        ],
        "endpoints": {"stamp": {"stamp": endpoint}},
        "instructions": {"modules": {"stamp": {"stamp": {"from": endpoint, "to": to}}}},
        "mounts": {"stamp": {"stamp": mounts}},
    }
