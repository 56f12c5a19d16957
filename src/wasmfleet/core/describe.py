"""Turn a description of a module's functions into the OpenAPI 3.0.3 document supervisors read.

``POST /file/module/{id}/upload`` describes functions in one of three forms:

(a) wasmiot bracket form fields: ``fibo[method]=GET``, ``fibo[param0]=integer``,
    ``fibo[output]=integer|float|<media type>``, ``fibo[mounts][0][name]=input.txt``,
    ``fibo[mounts][0][stage]=deployment|execution|output``, ``fibo[mounts][0][media_type]=...``
    (``core.form_fields.parse_bracket_fields`` turns them into form b);
(b) the same as JSON: ``{"fibo": {"method", "parameters": [{"name", "type"}] | "param0",
    "output", "mounts": [{"name", "stage", "media_type"}]}}``, optionally wrapped in
    ``{"functions": {...}}`` (the wrapper may hold JSON text, as wasmiot's GUI sends it);
(c) a complete OpenAPI description (it has an ``openapi`` key): checked, and returned with
    its function paths named as below (every other part unchanged).

Function paths name the module literally, as the wasmiot orchestrator writes them:
``/{deployment}/modules/fibo/fibo``, with ``deployment`` the only path parameter (tools that
fill in ``{deployment}`` alone, like the wasmiot GUI, then get a callable URL). A form (c)
path ``/{deployment}/modules/{module}/fibo`` is rewritten so, its ``module`` parameter
dropped. Generated schemas are plain, as the wasmiot orchestrator's: ``{"type": "integer"}``
for i32/i64 and ``{"type": "number"}`` for f32/f64 (no ``format``, which the original
supervisor refuses; the Wasm signature, not the schema, says how a value is passed). The
writing is ``core.openapi_doc``.

Decisions, checked against each function's Wasm signature (``ExportInfo``):

- Parameter types: ``integer`` fits i32/i64, ``float``/``number`` fits f32/f64 and is refused
  for i32/i64 (a fraction cannot be passed); ``integer`` for an f32/f64 parameter and
  ``string`` for any parameter are accepted (the supervisor casts text to the Wasm type, as
  wasmiot does). Parameters the description leaves out at the end are filled in from the
  signature as ``paramN``; more parameters than the signature takes are refused.
- Execution mounts arrive as a multipart body, so such a function is POST; an explicit GET
  with execution mounts is refused. Without ``method``: POST with execution mounts, else GET.
- An output mount's media type is the 200 response (text/* as a string, others binary);
  a file ``output`` media type without an output mount is refused.
- A deployment-stage mount needs an uploaded data file of that name, or (as in wasmiot) an
  output mount of the module's ``_wasmiot_init`` function that creates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.models import Mount
from wasmfleet.core.names import check_file_name, check_identifier, is_safe_name
from wasmfleet.core.openapi import (
    description_operations,
    operation_mounts,
    operation_params,
    parse_mount_list,
)
from wasmfleet.core.openapi_doc import (
    WASM_SCHEMAS,
    Op,
    document,
    literal_paths,
    operation,
    query_param,
)

INTERNAL_EXPORTS = frozenset(
    {"alloc", "dealloc", "malloc", "free", "calloc", "realloc", "memory", "cabi_realloc"}
)
"""Exports that are part of an ABI, not functions to call over HTTP (also any ``_name``)."""
INIT_FUNCTION = "_wasmiot_init"

_KINDS = {
    **{name: "integer" for name in ("integer", "int", "i32", "i64")},
    **{name: "number" for name in ("float", "number", "double", "f32", "f64")},
    "string": "string",
}
_FUNCTION_KEYS = ("method", "parameters", "output", "mounts", "summary", "description")
_MOUNT_KEYS = ("name", "stage", "media_type", "mediaType")
_METHODS = ("GET", "POST")
_PARAM_KEY = re.compile(r"param([0-9]{1,9})")
_MEDIA_TYPE = re.compile(r"[\w.+-]+/[\w.+*-]+(\s*;.*)?")


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """An exported Wasm function's signature: type names "i32", "i64", "f32" or "f64"."""

    name: str
    params: tuple[str, ...] = ()
    results: tuple[str, ...] = ()


def describe_module(
    module_name: str,
    functions: Any,
    exports: Mapping[str, ExportInfo],
    data_files: Collection[str],
) -> dict[str, Any]:
    """The OpenAPI 3.0.3 description of a module from any of the three forms (see above)."""
    functions = _unwrap(functions)
    if isinstance(functions, dict) and "openapi" in functions:
        return _check_openapi(module_name, functions, exports, data_files)
    if not isinstance(functions, dict):
        raise InvalidDocument(
            "The function description must be an object of function name: description, "
            f"not a JSON {type(functions).__name__}."
        )
    specs = {str(name): spec for name, spec in functions.items() if isinstance(spec, dict)}
    if not specs:
        raise InvalidDocument(
            f"No function of module {module_name} is described; describe at least one, e.g. "
            "fibo[method]=GET, fibo[param0]=integer, fibo[output]=integer."
        )
    ops = {name: _function(module_name, name, spec, exports) for name, spec in specs.items()}
    mounts = {name: mounts for name, (_, _, mounts) in ops.items()}
    _check_data_files(mounts, data_files)
    return document(module_name, ops)


def describe_exports_only(module_name: str, exports: Mapping[str, ExportInfo]) -> dict[str, Any]:
    """A default description: every callable export as GET with ``paramN`` query parameters."""
    ops: dict[str, Op] = {}
    for name in sorted(exports):
        export = exports[name]
        types = (*export.params, *export.results)
        if not _callable(name) or not all(t in WASM_SCHEMAS for t in types):
            continue
        if not is_safe_name(name):
            continue
        params = [
            query_param(f"param{i}", dict(WASM_SCHEMAS[t])) for i, t in enumerate(export.params)
        ]
        response = (
            ("application/json", dict(WASM_SCHEMAS[export.results[0]])) if export.results else None
        )
        op = operation(name, params, (), response)
        ops[name] = ("get", op, ())
    return document(module_name, ops)


def _unwrap(functions: Any) -> Any:
    functions = _json_text(functions)
    if isinstance(functions, dict) and "functions" in functions:
        inner = _json_text(functions["functions"])
        if not isinstance(inner, dict) or not _looks_like_function(inner):
            return inner
    return functions


def _json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as err:
        raise InvalidDocument(f"The function description is not valid JSON: {err}.") from None


def _looks_like_function(spec: dict[str, Any]) -> bool:
    return any(k in _FUNCTION_KEYS[:4] or _PARAM_KEY.fullmatch(str(k)) for k in spec)


def _callable(name: str) -> bool:
    return not name.startswith("_") and name not in INTERNAL_EXPORTS


def _export(module_name: str, name: str, exports: Mapping[str, ExportInfo]) -> ExportInfo:
    if name not in exports:
        callable_ = sorted(n for n in exports if _callable(n))
        listed = f"it exports: {', '.join(callable_)}" if callable_ else "it exports no functions"
        raise InvalidDocument(f"{name} is not exported by module {module_name}; {listed}.")
    check_identifier("Function name", name)
    return exports[name]


def _function(
    module_name: str, name: str, spec: dict[str, Any], exports: Mapping[str, ExportInfo]
) -> Op:
    export = _export(module_name, name, exports)
    unknown = [k for k in spec if k not in _FUNCTION_KEYS and not _PARAM_KEY.fullmatch(k)]
    if unknown:
        raise InvalidDocument(
            f"The description of {name} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the allowed keys are: {', '.join(_FUNCTION_KEYS[:2])}, param0, param1, ..., "
            f"{', '.join(_FUNCTION_KEYS[2:])}."
        )
    mounts = _mounts(name, spec.get("mounts"), spec.get("output"))
    executions = [m.name for m in mounts if m.stage == "execution"]
    method = _method(name, spec.get("method"), executions)
    params = _params(name, spec, export)
    response = _response(name, spec.get("output"), mounts, export)
    summary = spec.get("summary", spec.get("description"))
    return method.lower(), operation(name, params, mounts, response, summary), mounts


def _method(name: str, raw: Any, executions: list[str]) -> str:
    if raw is None or raw == "":
        return "POST" if executions else "GET"
    method = str(raw).strip().upper()
    if method not in _METHODS:
        raise InvalidDocument(
            f"{name}[method] must be GET or POST (the methods a supervisor serves), got {raw!r}."
        )
    if executions and method == "GET":
        raise InvalidDocument(
            f"{name} takes execution mount(s) {', '.join(executions)}, which are uploaded as "
            f"multipart/form-data, so its method must be POST, not GET."
        )
    return method


def _params(name: str, spec: dict[str, Any], export: ExportInfo) -> list[dict[str, Any]]:
    numbered = {int(m.group(1)): v for k, v in spec.items() if (m := _PARAM_KEY.fullmatch(k))}
    if numbered and "parameters" in spec:
        raise InvalidDocument(f"{name} gives both 'parameters' and param0...; use one of them.")
    if numbered:
        missing = [i for i in range(max(numbered) + 1) if i not in numbered]
        if missing:
            raise InvalidDocument(
                f"{name} declares param{max(numbered)} but not param{missing[0]}; number the "
                "parameters param0, param1, ... without gaps."
            )
        raw: Any = [numbered[i] for i in sorted(numbered)]
    else:
        raw = spec.get("parameters") or []
    if not isinstance(raw, list):
        raise InvalidDocument(
            f'{name}[parameters] must be a list like [{{"name": "n", "type": "integer"}}].'
        )
    wasm = export.params
    if len(raw) > len(wasm):
        raise InvalidDocument(
            f"{name} declares {len(raw)} parameter(s) but the exported function takes "
            f"{len(wasm)} ({', '.join(wasm) or 'none'})."
        )
    params: list[dict[str, Any]] = []
    for i, wasm_type in enumerate(wasm):
        item = raw[i] if i < len(raw) else {}
        where = f"{name}[param{i}]"
        if isinstance(item, str):
            item = {"type": item}
        if not isinstance(item, dict):
            raise InvalidDocument(f"{where} must be a type such as integer or float.")
        pname = item.get("name") or f"param{i}"
        if not isinstance(pname, str) or not is_safe_name(pname):
            raise InvalidDocument(f"{where} has an unusable name {pname!r}; use e.g. n or count.")
        if any(p["name"] == pname for p in params):
            raise InvalidDocument(f"{name} names two parameters {pname!r}; names must differ.")
        params.append(query_param(pname, _param_schema(where, item.get("type"), wasm_type)))
    return params


def _param_schema(where: str, declared: Any, wasm_type: str) -> dict[str, Any]:
    if wasm_type not in WASM_SCHEMAS:
        raise InvalidDocument(f"{where} is of Wasm type {wasm_type}, which HTTP cannot pass.")
    native = dict(WASM_SCHEMAS[wasm_type])
    if declared is None or declared == "":
        return native
    kind = _KINDS.get(str(declared).strip().lower())
    if kind is None:
        raise InvalidDocument(
            f"{where} has unknown type {declared!r}; use integer, float, number or string."
        )
    if kind == native["type"]:
        return native
    if kind == "number":  # a fraction cannot be passed to an integer parameter
        raise InvalidDocument(
            f"{where} is declared {declared} but the Wasm parameter is {wasm_type}; "
            "declare it integer."
        )
    return {"type": kind}


def _mounts(name: str, raw: Any, output: Any) -> tuple[Mount, ...]:
    if raw is None or raw == "" or raw == []:
        return ()
    where = f"{name}[mounts]"
    if isinstance(raw, dict):  # wasmiot's own shape: {mount name: {stage, mediaType}}
        raw = [{"name": k, **v} if isinstance(v, dict) else v for k, v in raw.items()]
    if not isinstance(raw, list):
        raise InvalidDocument(f"{where} must be a list of {{name, stage, media_type}} objects.")
    fallback = output if isinstance(output, str) and _MEDIA_TYPE.fullmatch(output) else None
    items = []
    for i, item in enumerate(raw):
        if isinstance(item, dict):
            unknown = [k for k in item if k not in _MOUNT_KEYS]
            if unknown:
                raise InvalidDocument(
                    f"{where}[{i}] has unknown key(s) {', '.join(map(repr, unknown))}; "
                    f"the allowed keys are: name, stage, media_type."
                )
            if item.get("stage") == "output" and fallback and not _media_of(item):
                item = {**item, "media_type": fallback}
        items.append(item)
    mounts = parse_mount_list(items, where)
    for i, mount in enumerate(mounts):
        check_file_name(mount.name, what=f"mount name {where}[{i}][name]")
        if not _MEDIA_TYPE.fullmatch(mount.media_type):
            raise InvalidDocument(
                f"{where}[{i}][media_type] must be a media type like text/plain, "
                f"got {mount.media_type!r}."
            )
    names = [m.name for m in mounts]
    if len(set(names)) != len(names):
        raise InvalidDocument(f"{name} declares the same mount twice; mount names must differ.")
    return mounts


def _media_of(item: dict[str, Any]) -> Any:
    return item.get("media_type", item.get("mediaType"))


def _response(
    name: str, output: Any, mounts: tuple[Mount, ...], export: ExportInfo
) -> tuple[str, dict[str, Any]] | None:
    outputs = [m for m in mounts if m.stage == "output"]
    if outputs:
        media = outputs[0].media_type
        text = media.split(";")[0].strip().lower().startswith("text/")
        return media, {"type": "string"} if text else {"type": "string", "format": "binary"}
    result = export.results[0] if export.results else None
    native = dict(WASM_SCHEMAS[result]) if result in WASM_SCHEMAS else None
    if output is None or output == "" or output == "application/json":
        return ("application/json", native) if native else None
    kind = _KINDS.get(str(output).strip().lower())
    if kind in ("integer", "number"):
        if result is None:
            raise InvalidDocument(
                f"{name}[output] is {output} but the exported function returns nothing."
            )
        schema = native if native and native["type"] == kind else {"type": kind}
        return "application/json", schema
    if isinstance(output, str) and _MEDIA_TYPE.fullmatch(output):
        raise InvalidDocument(
            f"{name}[output] is {output}, a file, but {name} declares no output mount to "
            f"return; add one, e.g. {name}[mounts][0][name]=out.bin and "
            f"{name}[mounts][0][stage]=output."
        )
    raise InvalidDocument(
        f"{name}[output] must be integer, float or a media type like image/jpeg, got {output!r}."
    )


def _check_data_files(mounts: dict[str, tuple[Mount, ...]], data_files: Collection[str]) -> None:
    # As in wasmiot, the module's init function may create a deployment file as its output.
    provided = {m.name for m in mounts.get(INIT_FUNCTION, ()) if m.stage == "output"}
    for name, declared in mounts.items():
        for mount in declared:
            if mount.stage != "deployment" or mount.name in data_files or mount.name in provided:
                continue
            raise InvalidDocument(
                f"deployment-stage mount {mount.name!r} of {name} has no uploaded file; "
                f"attach it as a multipart part named {mount.name}."
            )


def _check_openapi(
    module_name: str,
    doc: dict[str, Any],
    exports: Mapping[str, ExportInfo],
    data_files: Collection[str],
) -> dict[str, Any]:
    version = doc.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        raise InvalidDocument(
            f"The description's 'openapi' must be a 3.x version, got {version!r}."
        )
    if not isinstance(doc.get("paths"), dict) or not doc["paths"]:
        raise InvalidDocument("The description has no 'paths'; describe at least one function.")
    ops = description_operations(doc)
    if not ops:
        raise InvalidDocument(
            "The description has no function paths like /{deployment}/modules/{module}/fibo."
        )
    mounts: dict[str, tuple[Mount, ...]] = {}
    for name, (_method_name, op) in ops.items():
        export = _export(module_name, name, exports)
        where = f"description of {name}"
        params = operation_params(op, where)
        if len(params) > len(export.params):
            raise InvalidDocument(
                f"The {where} declares {len(params)} parameter(s) but the exported function "
                f"takes {len(export.params)} ({', '.join(export.params) or 'none'})."
            )
        mounts[name] = operation_mounts(op, where) or ()
        for mount in mounts[name]:
            check_file_name(mount.name, what=f"mount name in the {where}")
    _check_data_files(mounts, data_files)
    return literal_paths(module_name, doc)
