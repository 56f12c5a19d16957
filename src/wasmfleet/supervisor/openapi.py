"""The supervisor's OpenAPI document, written by hand as data (Starlette has no generator).

``GET /openapi.json`` serves it; tests/unit/test_supervisor_openapi.py checks that every
route of the app is in it and every path in it is a route, so the two cannot drift. The
per-deployment function routes are described generically: which functions exist depends
on what is deployed.
"""

from __future__ import annotations

from typing import Any

from wasmfleet import __version__
from wasmfleet.core.bounds import MAX_DB_INT

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        }
    },
}
_OBJECT = {"type": "object"}
_JSON_OBJECT = {"application/json": {"schema": _OBJECT}}
_JSON_ARRAY = {"application/json": {"schema": {"type": "array"}}}


def _path(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def _answers(ok: str, *errors: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answers: dict[str, Any] = {"200": {"description": ok, "content": body or _JSON_OBJECT}}
    for status in errors:
        answers[str(status)] = {
            "description": "Refused; the message says why and what to change.",
            "content": {"application/json": {"schema": ERROR}},
        }
    return answers


def _get(summary: str, *errors: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"summary": summary, "responses": _answers("OK", *errors, body=body)}


_DEPLOY = {
    "summary": "Install a deployment (the wasmiot README or orchestrator shape)",
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["deploymentId", "modules"],
                    "properties": {
                        "deploymentId": {"type": "string"},
                        "modules": {"type": "array", "items": _OBJECT},
                        "instructions": _OBJECT,
                        "endpoints": _OBJECT,
                        "mounts": _OBJECT,
                        "epoch": {"type": "integer", "minimum": 0, "maximum": MAX_DB_INT},
                    },
                }
            }
        },
    },
    "responses": _answers("Installed; ready to call.", 400, 409, 413, 415, 422, 502),
}
_CALL_PARAMS = [
    _path("deployment", "A deployment id installed here."),
    _path("module", "A module of that deployment."),
    _path("function", "An exported function of that module."),
]
_CALL_ANSWER = {
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"resultUrl": {"type": "string"}, "result": {}},
        }
    }
}
_FILE = {"*/*": {"schema": {"type": "string", "format": "binary"}}}

PATHS: dict[str, dict[str, Any]] = {
    "/": {"get": _get("What this is and where to go next")},
    "/openapi.json": {"get": _get("This document")},
    "/deploy": {
        "get": _get("The deployments installed here", body=_JSON_ARRAY),
        "post": _DEPLOY,
    },
    "//deploy": {"post": {**_DEPLOY, "summary": "POST /deploy by the wasmiot orchestrator's path"}},
    "/deploy/{deployment}": {
        "delete": {
            "summary": "Remove a deployment and its files",
            "parameters": [
                _path("deployment", "The deployment id."),
                {
                    "name": "epoch",
                    "in": "query",
                    "required": False,
                    "description": "The epoch that replaced this copy (raises the fence).",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
                },
            ],
            "responses": _answers("Removed (or was not here).", 400, 404),
        }
    },
    "/health": {"get": _get("CPU and memory usage; header Custom-Orchestrator-Set")},
    "/metrics": {"get": _get("Prometheus metrics (text format, docs/metrics.md)", 404)},
    "/livez": {"get": _get("Liveness: the process and its event loop answer", 503)},
    "/readyz": {"get": _get("Readiness: started, engine running, data directory writable", 503)},
    "/register": {
        "post": {
            "summary": "Set the orchestrator this supervisor reports to",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["url"],
                            "properties": {"url": {"type": "string", "format": "uri"}},
                        }
                    }
                },
            },
            "responses": _answers("Set.", 400, 413),
        }
    },
    "/.well-known/wasmiot-device-description": {"get": _get("Platform and host interfaces")},
    "/request-history": {"get": _get("The most recent calls, oldest first", body=_JSON_ARRAY)},
    "/request-history/{request_id}": {
        "get": {
            **_get("One call's record", 404),
            "parameters": [_path("request_id", "The id a call answered in its resultUrl.")],
        }
    },
    "/module_results/{module}/{file}": {
        "get": {
            **_get("A module's output file (newest deployment)", 400, 404, body=_FILE),
            "parameters": [_path("module", "A module name."), _path("file", "A file name.")],
        }
    },
    "/api/v1/status": {"get": _get("Counters of the runtime, calls, logs and registration")},
    "/api/v1/things": {
        "get": _get("App installs' sensors and controllers here: bindings, readings, commands")
    },
    "/{deployment}/modules/{module}/{function}": {
        "get": {
            "summary": "Call a function with query arguments (names or positions)",
            "parameters": _CALL_PARAMS,
            "responses": _answers(
                "The result and its resultUrl.", 400, 404, 409, 422, body=_CALL_ANSWER
            ),
        },
        "post": {
            "summary": "Call a function with JSON or form arguments, files as multipart parts",
            "parameters": _CALL_PARAMS,
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {"schema": _OBJECT},
                    "multipart/form-data": {"schema": _OBJECT},
                    "application/x-www-form-urlencoded": {"schema": _OBJECT},
                },
            },
            "responses": _answers(
                "The result and its resultUrl.", 400, 404, 409, 413, 415, 422, body=_CALL_ANSWER
            ),
        },
    },
    "/{deployment}/modules/{module}/{function}/{file}": {
        "get": {
            **_get("A mount file of that function", 400, 404, body=_FILE),
            "parameters": [*_CALL_PARAMS, _path("file", "A mount name of the function.")],
        }
    },
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the supervisor's routes."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wasmfleet supervisor",
            "version": __version__,
            "description": (
                "A device's supervisor: the wasmiot dialect (deploy, call, history, health) "
                "and /api/v1/status. Function routes exist per deployment; see docs/api.md."
            ),
        },
        "paths": PATHS,
    }
