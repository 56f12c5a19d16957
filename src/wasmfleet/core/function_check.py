"""Checking described functions against a module's exported Wasm signatures (pure).

A description (OpenAPI, ``core.openapi``) or a deployment's function specs (``FunctionSpec``)
say how each function is called over HTTP; ``check_function`` compares that with the Wasm
signature the module really exports, so a mismatch is found at upload or deploy, not at the
first call. The rules (docs/module-check.md):

- parameters: as many query parameters as the export takes (none declared means callers pass
  them by position: a warning); ``integer`` fits i32/i64 and ``number`` f32/f64, the other
  way round is an error (``param_type``); ``string`` is cast by the supervisor (a warning);
- a bytes function (``x-bytes``) takes ``(i32 ptr, i32 len)``, and the module exports
  ``alloc(i32) -> i32``; with an output media type it returns the packed ``i64``;
- the result: ``integer``/``number`` need a result of that kind; a file response needs an
  output mount; a ``string``/``object``/``array`` schema for an i32 result is most likely a
  pointer (``pointer_result``, a warning: the caller would get the pointer's number).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.models import FunctionSpec, Mount
from wasmfleet.core.openapi import (
    as_object,
    operation_bytes,
    operation_mounts,
    operation_response,
)
from wasmfleet.core.wasm_interface import FuncSignature

Level = Literal["error", "warning"]
ALLOC = FuncSignature(("i32",), ("i32",))
BYTES_PARAMS = ("i32", "i32")
_INTS = ("i32", "i64")
_FLOATS = ("f32", "f64")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the checker found: its level, a stable code and a sentence to act on."""

    level: Level
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """``{"level", "code", "message"}`` for JSON answers."""
        return {"level": self.level, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class DescribedParam:
    """One query parameter as described: name, schema type and format ('' when absent)."""

    name: str
    schema_type: str = ""
    schema_format: str = ""


@dataclass(frozen=True, slots=True)
class DescribedFunction:
    """What a description says about one function, in the terms the checks need."""

    name: str
    params: tuple[DescribedParam, ...] = ()
    media_type: str = ""
    """The 200 response's media type ('' without content)."""
    schema: Mapping[str, Any] | None = None
    mounts: tuple[Mount, ...] = ()
    bytes_input: str | None = None
    """The request body's media type of a bytes function (``x-bytes``), else None."""
    bytes_output: str | None = None
    bytes_abi: bool = False
    """Marked ``x-wasmfleet-abi: bytes`` (ptr and len declared as parameters)."""


def from_operation(name: str, op: dict[str, Any]) -> DescribedFunction:
    """A function as one OpenAPI operation of a description describes it."""
    params: list[DescribedParam] = []
    raw = op.get("parameters")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict) or item.get("in", "query") not in ("query", None):
            continue
        schema = as_object(item.get("schema"))
        params.append(
            DescribedParam(
                str(item.get("name", "")),
                str(schema.get("type", "")),
                str(schema.get("format", "")),
            )
        )
    media, schema = operation_response(op)
    try:
        mounts = operation_mounts(op, f"description of {name}") or ()
    except InvalidDocument:  # a malformed mount list is the description reader's to refuse
        mounts = ()
    bytes_input, bytes_output = _bytes_media(op)
    return DescribedFunction(
        name=name,
        params=tuple(params),
        media_type=media,
        schema=schema,
        mounts=mounts,
        bytes_input=bytes_input,
        bytes_output=bytes_output,
        bytes_abi=op.get("x-wasmfleet-abi") == "bytes",
    )


def from_spec(fn: FunctionSpec) -> DescribedFunction:
    """A function as a deployment's function spec describes it."""
    return DescribedFunction(
        name=fn.name,
        params=tuple(DescribedParam(p.name, p.schema_type) for p in fn.params),
        media_type=fn.response_media_type,
        schema=fn.response_schema,
        mounts=fn.mounts,
        bytes_input=fn.bytes_input,
        bytes_output=fn.bytes_output,
    )


def _bytes_media(op: dict[str, Any]) -> tuple[str | None, str | None]:
    """(input, output) media types of a bytes function, read as the supervisor reads them
    (``core.openapi.operation_bytes``); (None, None) for others and for a malformed
    ``x-bytes``, which the description reader refuses itself."""
    try:
        return operation_bytes(op, "the operation")
    except InvalidDocument:
        return None, None


def check_function(fn: DescribedFunction, functions: Mapping[str, FuncSignature]) -> list[Finding]:
    """Findings of one described function against the module's exported functions."""
    sig = functions.get(fn.name)
    if sig is None:
        return [_missing(fn.name, functions)]
    if fn.bytes_input is not None:
        return _check_bytes(fn, sig, functions)
    found: list[Finding] = []
    if fn.bytes_abi and functions.get("alloc") != ALLOC:
        found.append(_no_alloc(fn.name, "is marked x-wasmfleet-abi: bytes"))
    found += _check_params(fn, sig)
    found += _check_result(fn, sig)
    return found


def _missing(name: str, functions: Mapping[str, FuncSignature]) -> Finding:
    exports = sorted(n for n in functions if not n.startswith("_"))
    close = difflib.get_close_matches(name, exports, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return Finding(
        "error",
        "missing_export",
        f"The description describes {name}, but the module exports no function of that name "
        f"(it exports: {', '.join(exports) or 'none'}).{hint} Export it from the source (C: "
        f'__attribute__((export_name("{name}"))); Rust: #[no_mangle] pub extern "C" fn; '
        "AssemblyScript: export function) or fix the description.",
    )


def _no_alloc(name: str, why: str) -> Finding:
    return Finding(
        "error",
        "missing_export",
        f"{name} {why}, so the module must export alloc(i32 len) -> i32 for the supervisor to "
        "copy the request body in; it does not. Export alloc (the wasmfleet guest libraries "
        "do it for you).",
    )


def _check_bytes(
    fn: DescribedFunction, sig: FuncSignature, functions: Mapping[str, FuncSignature]
) -> list[Finding]:
    found: list[Finding] = []
    why = f"takes its request body ({fn.bytes_input}) as bytes"
    if sig.params != BYTES_PARAMS:
        found.append(
            Finding(
                "error",
                "param_type",
                f"{fn.name} {why}, but its export is {sig}; a bytes function takes "
                "(i32 ptr, i32 len). Change the function (or its declaration) to take the "
                "bytes, or describe its parameters instead of a request body.",
            )
        )
    if functions.get("alloc") != ALLOC:
        found.append(_no_alloc(fn.name, why))
    if fn.params:
        found.append(
            Finding(
                "error",
                "param_count",
                f"{fn.name} {why} and also declares {len(fn.params)} query parameter(s) "
                f"({', '.join(p.name for p in fn.params)}); a bytes function gets the body "
                "only. Remove the parameters from its description.",
            )
        )
    if fn.bytes_output and sig.results != ("i64",):
        found.append(
            Finding(
                "error",
                "result_type",
                f"{fn.name} is described as answering {fn.bytes_output} bytes, but its export "
                f"returns {_results(sig)}; bytes out are the packed i64 (ptr << 32) | len. "
                "Return the packed buffer, or describe no output.",
            )
        )
    return found


def _check_params(fn: DescribedFunction, sig: FuncSignature) -> list[Finding]:
    wasm = sig.params
    declared = fn.params
    if not declared:
        if not wasm:
            return []
        return [
            Finding(
                "warning",
                "param_count",
                f"{fn.name} takes {len(wasm)} parameter(s) ({', '.join(wasm)}) but its "
                "description names none, so callers must pass them by position; describe "
                "them (name and type) so clients know what to send.",
            )
        ]
    if len(declared) != len(wasm):
        names = ", ".join(p.name for p in declared)
        return [
            Finding(
                "error",
                "param_count",
                f"{fn.name} is described with {len(declared)} parameter(s) ({names}) but its "
                f"export takes {len(wasm)} ({', '.join(wasm) or 'none'}); every call would "
                "fail. Describe exactly the parameters the function takes, in order.",
            )
        ]
    found: list[Finding] = []
    for param, wasm_type in zip(declared, wasm, strict=True):
        finding = _param_finding(fn.name, param, wasm_type)
        if finding is not None:
            found.append(finding)
    return found


def _param_finding(name: str, param: DescribedParam, wasm_type: str) -> Finding | None:
    kind = param.schema_type.strip().lower()
    where = f"Parameter {param.name!r} of {name}"
    if kind == "" or (kind == "integer" and wasm_type in _INTS):
        if param.schema_format == "int64" and wasm_type == "i32":
            return Finding(
                "warning",
                "param_type",
                f"{where} is described as int64 but is i32 in Wasm: values above 2147483647 "
                "are refused. Describe it with format int32 (or take an i64).",
            )
        return None
    if kind == "number" and wasm_type in _FLOATS:
        return None
    if kind == "integer" and wasm_type in _FLOATS:
        return Finding(
            "error",
            "param_type",
            f"{where} is {wasm_type} in Wasm but described as integer, so clients would never "
            "send a fraction; describe it as number (format float or double).",
        )
    if kind == "number" and wasm_type in _INTS:
        return Finding(
            "error",
            "param_type",
            f"{where} is {wasm_type} in Wasm but described as number: a fraction such as 1.5 "
            "cannot be passed. Describe it as integer, or make the parameter a float.",
        )
    if kind == "string":
        return Finding(
            "warning",
            "param_type",
            f"{where} is described as string; the supervisor casts the text to {wasm_type}. "
            f"Describe it as {'integer' if wasm_type in _INTS else 'number'} so clients know.",
        )
    return Finding(
        "error",
        "param_type",
        f"{where} is described as {param.schema_type}, which cannot be passed to a Wasm "
        f"{wasm_type}; describe it as {'integer' if wasm_type in _INTS else 'number'}.",
    )


def _results(sig: FuncSignature) -> str:
    return " and ".join(sig.results) or "nothing"


def _check_result(fn: DescribedFunction, sig: FuncSignature) -> list[Finding]:
    if any(m.stage == "output" for m in fn.mounts) or not fn.media_type:
        return []
    media = fn.media_type.split(";")[0].strip().lower()
    result = sig.results[0] if len(sig.results) == 1 else None
    kind = str((fn.schema or {}).get("type", "")).lower()
    textual = media == "application/json" or media.endswith("+json") or media.startswith("text/")
    if not textual:
        return [
            Finding(
                "error",
                "result_type",
                f"{fn.name} is described as answering a {fn.media_type} file but declares no "
                "output mount to return; add an output mount (x-mounts, stage output) the "
                "function writes, or describe a JSON number.",
            )
        ]
    if kind in ("integer", "number"):
        if result is None:
            return [
                Finding(
                    "error",
                    "result_type",
                    f"{fn.name} is described as returning {kind} but its export returns "
                    f"{_results(sig)}; return a value, or describe no response content.",
                )
            ]
        if kind == "integer" and result in _FLOATS:
            return [
                Finding(
                    "error",
                    "result_type",
                    f"{fn.name} returns {result} but is described as returning integer; "
                    "describe the result as number (format float or double).",
                )
            ]
        return []
    if kind in ("string", "object", "array"):
        if result == "i32" or (result == "i64" and not fn.bytes_abi):
            return [
                Finding(
                    "warning",
                    "pointer_result",
                    f"{fn.name} returns {result} but is described as returning a {kind}: the "
                    "caller gets that number (most likely a pointer into the module's memory), "
                    "not the data. Return bytes through the bytes ABI (the packed i64 and "
                    "x-bytes output), write an output mount, or describe the result as integer.",
                )
            ]
        if result is None:
            return [
                Finding(
                    "error",
                    "result_type",
                    f"{fn.name} is described as returning a {kind} but returns nothing and "
                    "has no output mount; add one (x-mounts, stage output) or describe no "
                    "response content.",
                )
            ]
    return []
