"""Reading request bodies the orchestrator accepts: forms with files, JSON, YAML manifests."""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from starlette.datastructures import UploadFile
from starlette.requests import Request

from wasmfleet.core.describe import INIT_FUNCTION, INTERNAL_EXPORTS
from wasmfleet.core.errors import InvalidDocument, UnsupportedMediaType
from wasmfleet.core.form_fields import parse_bracket_fields
from wasmfleet.orchestrator.modules import DataFile
from wasmfleet.service.http import BodyLimit, read_body, read_json

MAX_PART = 256 * 1024 * 1024
WASM = "application/wasm"


def media_type(request: Request) -> str:
    """The request's media type without parameters, lower case."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_form(request: Request) -> bool:
    """True for multipart and urlencoded bodies."""
    return media_type(request) in {"multipart/form-data", "application/x-www-form-urlencoded"}


async def read_form(
    request: Request, limit: BodyLimit
) -> tuple[list[tuple[str, str]], list[DataFile]]:
    """Form fields as (key, value) pairs and file parts as DataFiles."""
    await read_body(request, limit)
    try:
        form = await request.form(max_files=1000, max_fields=10_000, max_part_size=MAX_PART)
    except Exception as err:  # malformed multipart: the parser's reason
        raise InvalidDocument(f"The form could not be read: {err}.") from None
    fields: list[tuple[str, str]] = []
    files: list[DataFile] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            media = value.content_type or "application/octet-stream"
            files.append(DataFile(key, data, media, value.filename or ""))
        else:
            fields.append((key, str(value)))
    return fields, files


async def read_manifest(request: Request, limit: BodyLimit) -> Any:
    """A manifest body: JSON, or YAML when sent as YAML."""
    kind = media_type(request)
    if kind in {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"}:
        body = await read_body(request, limit)
        try:
            return yaml.safe_load(body.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise InvalidDocument(f"The manifest is not valid YAML: {err}") from None
    if kind and kind not in {"application/json", "text/json", "text/plain"}:
        raise UnsupportedMediaType(
            f"Send the manifest as application/json or application/yaml, not {kind}."
        )
    return await read_json(request, limit)


async def read_arguments(
    request: Request, limit: BodyLimit
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, bytes, str]]]:
    """Execution arguments: query parameters plus a JSON object or form fields; files."""
    args = [(k, v) for k, v in request.query_params.multi_items()]
    files: dict[str, tuple[str, bytes, str]] = {}
    if is_form(request):
        fields, parts = await read_form(request, limit)
        args += fields
        for part in parts:
            files[part.name] = (part.name, part.data, part.media_type)
        return args, files
    body = await read_body(request, limit)
    if not body.strip():
        return args, files
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidDocument(f"The arguments are not valid JSON ({err}).") from None
    if isinstance(parsed, dict) and isinstance(parsed.get("args"), dict):
        parsed = parsed["args"]
    if not isinstance(parsed, dict):
        raise InvalidDocument('Send arguments as a JSON object, e.g. {"param0": 10}.')
    for key, value in parsed.items():
        if isinstance(value, dict | list):
            raise InvalidDocument(f"Argument {key!r} must be a number or a string.")
        args.append((str(key), _scalar(value)))
    return args, files


async def read_execute_input(
    request: Request, limit: BodyLimit, body_media: str | None
) -> tuple[list[tuple[str, str]], dict[str, tuple[str, bytes, str]], tuple[bytes, str] | None]:
    """``read_arguments``, except that a first step taking a raw body (``body_media``, see
    ``execution_run.first_step_body``) gets any non-form body as it came: (bytes, media)."""
    if body_media is None or is_form(request):
        args, files = await read_arguments(request, limit)
        return args, files, None
    body = await read_body(request, limit)
    args = [(k, v) for k, v in request.query_params.multi_items()]
    media = request.headers.get("content-type") or body_media
    return args, {}, (body, media) if body else None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def read_module_upload(
    request: Request, limit: BodyLimit, *, part_name: str | None = None
) -> tuple[str, bytes, dict[str, str]]:
    """The ``name`` field, the binary and the other text fields of a module upload.

    The binary is the one file part typed application/wasm, or (``part_name``) the part of that
    name whatever its type. The fields may hold ``note`` and ``created_by`` (a new version's).
    """
    if not is_form(request):
        raise UnsupportedMediaType(
            "Upload the module as multipart/form-data with a field 'name' and a file part "
            "typed application/wasm, e.g. "
            "curl -F name=fibo -F module=@fibo.wasm;type=application/wasm."
        )
    fields, files = await read_form(request, limit)
    name = dict(fields).get("name")
    if not name:
        raise InvalidDocument("The upload has no 'name' field; add -F name=<module name>.")
    wasm = [f for f in files if f.media_type.lower() == WASM or f.name == part_name]
    if not wasm:
        typed = ", ".join(f"{f.name} ({f.media_type})" for f in files) or "no file parts"
        raise UnsupportedMediaType(
            f"No part typed application/wasm in the upload (got {typed}); send the binary "
            "as e.g. -F module=@fibo.wasm;type=application/wasm."
        )
    if len(wasm) > 1:
        raise InvalidDocument("Upload one application/wasm part per module.")
    return name, wasm[0].data, {k: v for k, v in fields if isinstance(v, str)}


GUI_ONLY_KEYS = frozenset({"mountName", "stage"})
"""Function-level fields wasmiot's GUI sends along (its mount-name box and stage pickers);
the wasmiot orchestrator reads neither, and neither do we."""


async def read_wasmiot_description(
    request: Request, limit: BodyLimit
) -> tuple[Any, list[DataFile]]:
    """The functions and data files of ``POST /file/module/{id}/upload`` as wasmiot sends them.

    A form holds bracket fields (the GUI: ``fibo[method]=GET``...) or one field ``functions``
    with JSON text (the wasmiot CLI), and data files as parts named after their mounts; a
    JSON body holds the functions themselves. As in the wasmiot orchestrator, a mount's media
    type is that of the file uploaded for it when the description gives none, and the GUI's
    extra fields and ABI exports it offers to describe (``_initialize``, ``alloc``) are
    left out."""
    files: list[DataFile] = []
    if is_form(request):
        fields, files = await read_form(request, limit)
        functions: Any = parse_bracket_fields(fields) if fields else {}
        if isinstance(functions, dict) and "functions" in functions:
            functions = _json_text(functions["functions"])
    else:
        functions = await read_json(request, limit)
    if isinstance(functions, dict) and "openapi" not in functions:
        parts = {f.name: f.media_type for f in files}
        functions = {
            name: _gui_function(spec, parts) if isinstance(spec, dict) else spec
            for name, spec in functions.items()
            if not _abi_export(name)
        }
    return functions, files


def _abi_export(name: str) -> bool:
    return name in INTERNAL_EXPORTS or (name.startswith("_") and name != INIT_FUNCTION)


def _gui_function(spec: dict[str, Any], parts: dict[str, str]) -> dict[str, Any]:
    spec = {k: v for k, v in spec.items() if not (k in GUI_ONLY_KEYS and isinstance(v, str))}
    mounts = spec.get("mounts")
    if isinstance(mounts, list):
        spec["mounts"] = [_with_media_type(m, parts) for m in mounts]
    return spec


def _with_media_type(mount: Any, parts: dict[str, str]) -> Any:
    if not isinstance(mount, dict) or "media_type" in mount or "mediaType" in mount:
        return mount
    media = parts.get(str(mount.get("name")))
    return {**mount, "media_type": media} if media else mount


def _json_text(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as err:
        raise InvalidDocument(f"The 'functions' field is not valid JSON ({err}).") from None
