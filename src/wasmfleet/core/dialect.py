"""What each kind of supervisor understands: a wasmfleet one, or the original wasmiot one.

**Recognising a device.** A device is a *wasmfleet* supervisor when its device description
(``GET /.well-known/wasmiot-device-description``) has a ``"wasmfleet"`` object (name,
version, qualified interfaces, capacity...); every wasmfleet supervisor writes one. The
original wasmiot supervisor (LiquidAI-project/wasmiot-supervisor) serves its config file
``wasmiot-device-description.json`` plus ``platform``, which has no such key, so every
other device is *wasmiot* (``dialect_of``). An interface list is not a safe signal: the
original's ``supervisorInterfaces`` is a hand-written config that a user may extend.

**The wasmiot document** (``wasmiot_document``), checked against the real original at
commit bd31c95 (tests/data/wasmiot-supervisor/): the original builds
``Endpoint(**endpoint)``, ``MediaTypeObject(**...)`` and ``Schema(**schema)`` dataclasses,
so any key they lack is a ``TypeError`` (HTTP 500), and its enums refuse unknown values:

- top level: ``deploymentId``, ``modules``, ``endpoints``, ``instructions``, ``mounts``
  (``epoch``, ``fencing``, ``bridges`` are wasmfleet's);
- ``modules[]``: ``id``, ``name``, ``urls`` (``binary``, ``description``, ``other``);
- an endpoint (also each ``from``/``to``): ``url``, ``path``, ``method``, ``request``
  (``parameters``, ``request_body`` when there is one), ``response``; the method in lower
  case, as its orchestrator writes it (the original forwards with ``requests.<method>``);
- a schema: ``type`` one of ``integer``, ``string``, ``object`` and ``format`` only
  ``binary`` (``"int64"`` and ``"number"`` are ``ValueError``, ``required`` a
  ``TypeError``). A number result is sent as ``integer``: the original only tells JSON
  scalars (``json.dumps`` of the value, so 2.5 arrives as ``"2.5"``) from files; a function
  without a result gets an integer schema as well and answers ``"null"``;
- ``instructions.modules[M][F]``: ``from`` (the function's own endpoint, as the wasmiot
  orchestrator writes it) and ``to``;
- ``mounts[M][F]``: the three stages ``execution``, ``deployment``, ``output``, each a list
  of ``{path, media_type, stage}``.

**What the original cannot run** (``wasmiot_limits``): a file result of a media type
outside ``WASMIOT_FILE_TYPES`` or more than one output file, a non-scalar JSON result,
wasmfleet's bytes ABI; and (``core.placement``, see orchestrator/planning.py) fencing
leases, MQTT triggers and publishing, bridges, WASI-NN and wasmfleet host functions.

**Reading its answers** (``wasmiot_step_result``): a history entry's ``result`` is
``[json_text, files]`` when the function did not chain, or the next hop's ``resultUrl``
when it did; a failed entry is answered with HTTP 500 (its body is still the entry).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from wasmfleet.core.protocol import result_url_in


class Dialect(StrEnum):
    """The kind of supervisor a device runs, i.e. which document it is sent."""

    WASMFLEET = "wasmfleet"
    WASMIOT = "wasmiot"


WASMIOT_FILE_TYPES = (
    "image/png",
    "image/jpeg",
    "image/jpg",
    "application/octet-stream",
    "application/wasm",
    "text/html",
    "text/javascript",
)
"""Media types the original supervisor returns (and forwards) as files (its FILE_TYPES)."""
WASMIOT_JSON = "application/json"
"""The one JSON media type the original answers (``text/json`` is not JSON to it)."""
WASI_ALL = "wasi_snapshot_preview1.*"
"""The original links the whole of WASI preview1 (wasmtime's ``define_wasi``), though its
hand-written ``supervisorInterfaces`` lists only some of it (no ``fd_fdstat_get``...)."""
_STAGES = ("execution", "deployment", "output")
_DEBUGGER_TITLE = re.compile(r"<title>(.*?)(?: // Werkzeug Debugger)?</title>", re.S)
_SCHEMA_TYPES = frozenset({"integer", "string", "object"})


def dialect_of(description: Mapping[str, Any] | None) -> Dialect:
    """The dialect of a device from its device description (see the module docstring)."""
    if isinstance(description, Mapping) and isinstance(description.get("wasmfleet"), Mapping):
        return Dialect.WASMFLEET
    return Dialect.WASMIOT


def wasmiot_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A wasmfleet deployment document cut down to what the original supervisor parses."""
    endpoints = {
        module: {fn: wasmiot_endpoint(ep) for fn, ep in functions.items()}
        for module, functions in (document.get("endpoints") or {}).items()
    }
    instructions: dict[str, dict[str, Any]] = {}
    for module, functions in ((document.get("instructions") or {}).get("modules") or {}).items():
        instructions[module] = {
            fn: {
                "from": endpoints.get(module, {}).get(fn),
                "to": wasmiot_endpoint(link["to"]) if link.get("to") else None,
            }
            for fn, link in functions.items()
        }
    mounts = {
        module: {
            fn: {stage: [_mount(m) for m in stages.get(stage) or []] for stage in _STAGES}
            for fn, stages in functions.items()
        }
        for module, functions in (document.get("mounts") or {}).items()
    }
    modules = [
        {
            "id": m["id"],
            "name": m["name"],
            "urls": {
                "binary": m["urls"]["binary"],
                "description": m["urls"].get("description"),
                "other": dict(m["urls"].get("other") or {}),
            },
        }
        for m in document.get("modules") or []
    ]
    return {
        "deploymentId": document["deploymentId"],
        "modules": modules,
        "endpoints": endpoints,
        "instructions": {"modules": instructions},
        "mounts": mounts,
    }


def wasmiot_endpoint(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """An endpoint (url/path/method/request/response) as the original builds it."""
    request = endpoint.get("request") or {}
    wasmiot_request: dict[str, Any] = {
        "parameters": [_parameter(p) for p in request.get("parameters") or []]
    }
    body = request.get("request_body")
    if body:
        wasmiot_request["request_body"] = {
            "media_type": body.get("media_type"),
            "schema": wasmiot_schema(body.get("schema") or {}),
            "encoding": dict(body.get("encoding") or {}),
        }
    response = endpoint.get("response") or {}
    media = str(response.get("media_type") or "application/json")
    schema = response.get("schema") or {}
    return {
        "url": endpoint["url"],
        "path": endpoint["path"],
        "method": str(endpoint.get("method") or "get").lower(),
        "request": wasmiot_request,
        "response": {"media_type": media, "schema": _response_schema(media, schema)},
    }


def wasmiot_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A schema with only the keys and values the original's ``Schema`` accepts."""
    kind = schema.get("type")
    out: dict[str, Any] = {"type": kind if kind in _SCHEMA_TYPES else "integer"}
    if schema.get("format") == "binary":
        out["format"] = "binary"
    if isinstance(schema.get("properties"), Mapping):
        out["properties"] = dict(schema["properties"])
    return out


def _response_schema(media: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    if _base(media) == WASMIOT_JSON:
        return {"type": "integer"}  # the original's only JSON result: json.dumps(value)
    return wasmiot_schema(schema or {"type": "string", "format": "binary"})


def _parameter(param: Mapping[str, Any]) -> dict[str, Any]:
    schema = param.get("schema") or {}
    return {
        "name": param["name"],
        "in": param.get("in", "query"),
        "required": bool(param.get("required", True)),
        "schema": {"type": schema.get("type", "integer")},
    }


def _mount(mount: Mapping[str, Any]) -> dict[str, Any]:
    return {"path": mount["path"], "media_type": mount["media_type"], "stage": mount["stage"]}


def _base(media: str) -> str:
    return media.split(";")[0].strip().lower()


def wasmiot_limits(op: Mapping[str, Any]) -> tuple[str, ...]:
    """What a function's OpenAPI operation asks that the original cannot do, as phrases
    that complete "which cannot ..." (empty when it can run the function)."""
    limits: list[str] = []
    if op.get("x-wasmfleet-abi"):
        limits.append(f"call functions through wasmfleet's {op['x-wasmfleet-abi']} ABI")
    content = (((op.get("responses") or {}).get("200") or {}).get("content")) or {}
    if content:
        media, item = next(iter(content.items()))
        kind = ((item or {}).get("schema") or {}).get("type")
        if _base(str(media)) == WASMIOT_JSON:
            if kind not in (None, "integer", "number"):
                limits.append(f"return a JSON {kind} (only numbers and files)")
        elif _base(str(media)) not in WASMIOT_FILE_TYPES:
            limits.append(f"return {media} files (only {', '.join(WASMIOT_FILE_TYPES)})")
    outputs = [m for m in op.get("x-mounts") or [] if (m or {}).get("stage") == "output"]
    if len(outputs) > 1:
        limits.append("write more than one output file")
    return tuple(limits)


def wasmiot_step_result(result: Any, function_url: str) -> Any:
    """A step's own result from the original's entry ``result`` ``[json_text, files]``:
    the JSON text, or the URL its output file is served at (``function_url/<file>``, which
    the original serves); anything else unchanged."""
    if not isinstance(result, list) or len(result) != 2:
        return result
    value, files = result
    if isinstance(files, list) and files and isinstance(files[0], str):
        return f"{function_url.rstrip('/')}/{files[0]}"
    return value


def with_step_result(
    raw: Mapping[str, Any], function_url: str, output: str | None
) -> dict[str, Any]:
    """A history entry with wasmfleet's ``step_result`` (this step's own result) filled in
    when an original wasmiot supervisor wrote it (a wasmfleet entry is returned as is).

    Unchained, the original's ``result`` is ``[json_text, files]``: both become the value
    (or the output file's URL). Chained, ``result`` is the next hop's ``resultUrl`` and the
    value is not recorded: ``step_result`` is the output file's URL when the function
    writes ``output``, else None (the next entry's arguments show what it passed on)."""
    if "step_result" in raw:
        return dict(raw)
    result = raw.get("result")
    if result_url_in(result) is not None:
        own = f"{function_url.rstrip('/')}/{output}" if output else None
        return {**raw, "step_result": own}
    own = wasmiot_step_result(result, function_url)
    return {**raw, "result": own, "step_result": own}


def passed_on(raw: Mapping[str, Any]) -> Any:
    """What an entry's function was called with: its first argument (or None)."""
    args = raw.get("request_args")
    if isinstance(args, Mapping) and args:
        return next(iter(args.values()))
    return None


def wasmiot_deploy_error(status: int, body: Any, text: str) -> str | None:
    """Why the original refused a deployment, or None when it took it.

    It takes one with ``{"status": "success"}``; it refuses with a JSON ``{"status":
    "error", "result": why}``, with HTTP 200 and ``{"message": why}`` (no modules), or with
    an exception as Flask's HTML error page, whose title names it."""
    if isinstance(body, Mapping):
        if 200 <= status < 300 and body.get("status") == "success":
            return None
        why = body.get("result") or body.get("message") or body.get("status")
        if why:
            return f"{status}: {why}"
    found = _DEBUGGER_TITLE.search(text or "")
    if found and found.group(1).strip():
        return f"{status}: {html.unescape(found.group(1).strip())}"
    first = (text or "").strip().splitlines()[0][:300] if (text or "").strip() else ""
    return f"{status}: {first or 'the deployment was not taken'}"
