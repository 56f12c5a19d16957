"""Read what a supervisor needs from OpenAPI path items and module descriptions.

Only the small part of OpenAPI that wasmiot descriptions use is interpreted: one
operation per function path, query parameters, the "200" response's media type and
schema, multipart request bodies (execution mounts), the ``x-mounts`` extension, and a
bytes-ABI function's raw body: a non-multipart ``requestBody`` and ``x-bytes``
(``{"input": MEDIA, "output": MEDIA | null}``, see ``operation_bytes``).
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.models import Mount, MountStage, Param

HTTP_METHODS = ("get", "post", "put", "delete", "patch", "head", "options", "trace")
_STAGES: tuple[MountStage, ...] = ("deployment", "execution", "output")
_MULTIPART = "multipart/form-data"
_FORMS = (_MULTIPART, "application/x-www-form-urlencoded")
_SCALAR_SCHEMAS = ("integer", "number", "boolean")


def as_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (for optional sub-objects)."""
    return value if isinstance(value, dict) else {}


def pick_operation(path_item: Any, where: str) -> tuple[str, dict[str, Any]]:
    """The one operation of a path item as (METHOD, operation object)."""
    if not isinstance(path_item, dict):
        raise InvalidDocument(f"{where} must be an OpenAPI path item object.")
    ops = [(m, op) for m, op in path_item.items() if m.lower() in HTTP_METHODS]
    if not ops:
        raise InvalidDocument(f"{where} has no operation (expected one of get, post, ...).")
    # Several operations are allowed; GET is preferred, as wasmiot clients call with GET.
    ops.sort(key=lambda item: HTTP_METHODS.index(item[0].lower()))
    method, op = ops[0]
    if not isinstance(op, dict):
        raise InvalidDocument(f"{where}.{method} must be an OpenAPI operation object.")
    return method.upper(), op


def operation_params(op: dict[str, Any], where: str) -> tuple[Param, ...]:
    """Query parameters of an operation, in declaration order (path parameters skipped)."""
    raw = op.get("parameters") or []
    if not isinstance(raw, list):
        raise InvalidDocument(f"{where}.parameters must be a list.")
    params: list[Param] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidDocument(f"{where}.parameters[{i}] must be an object with a 'name'.")
        location = item.get("in", "query")
        if location not in ("query", None):
            continue
        schema = as_object(item.get("schema"))
        params.append(
            Param(
                name=item["name"],
                schema_type=str(schema.get("type", "")),
                required=bool(item.get("required", True)),
            )
        )
    return tuple(params)


def operation_response(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The media type and schema of the 200 response ('' when it has no content)."""
    content = as_object(as_object(as_object(op.get("responses")).get("200")).get("content"))
    if not content:
        return "", {}
    media_type, media = next(iter(content.items()))
    return str(media_type), as_object(as_object(media).get("schema"))


def operation_mounts(op: dict[str, Any], where: str) -> tuple[Mount, ...] | None:
    """Mounts declared by an operation, or None when it declares none at all.

    Sources, in order: the ``x-mounts`` extension; otherwise execution mounts from a
    multipart request body's properties and from parameters located ``in: requestBody``.
    """
    declared = op.get("x-mounts")
    if declared is not None:
        return parse_mount_list(declared, f"{where}.x-mounts")
    mounts: list[Mount] = []
    multipart = as_object(
        as_object(as_object(op.get("requestBody")).get("content")).get(_MULTIPART)
    )
    if multipart:
        encoding = as_object(multipart.get("encoding"))
        for name in as_object(as_object(multipart.get("schema")).get("properties")):
            enc = as_object(encoding.get(name))
            media = str(enc.get("contentType", "application/octet-stream"))
            mounts.append(Mount(name=str(name), stage="execution", media_type=media))
    params = op.get("parameters") or []
    if not isinstance(params, list):
        raise InvalidDocument(f"{where}.parameters must be a list.")
    for item in params:
        body_param = as_object(item)
        if body_param.get("in") != "requestBody" or not body_param.get("name"):
            continue
        if all(m.name != body_param["name"] for m in mounts):
            mounts.append(Mount(name=str(body_param["name"]), stage="execution"))
    return tuple(mounts) if mounts else None


def parse_mount_list(raw: Any, where: str) -> tuple[Mount, ...]:
    """Parse a list of {name|path, stage, media_type} mount objects."""
    if not isinstance(raw, list):
        raise InvalidDocument(f"{where} must be a list of mounts.")
    mounts: list[Mount] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise InvalidDocument(f"{where}[{i}] must be an object with 'name' and 'stage'.")
        name = item.get("name", item.get("path"))
        stage = item.get("stage")
        if not isinstance(name, str) or not name:
            raise InvalidDocument(f"{where}[{i}] needs a 'name' (or 'path').")
        if stage not in _STAGES:
            raise InvalidDocument(
                f"{where}[{i}].stage must be deployment, execution or output, got {stage!r}."
            )
        media = item.get("media_type", item.get("mediaType", "application/octet-stream"))
        mounts.append(Mount(name=name, stage=stage, media_type=str(media)))
    return tuple(mounts)


def description_operations(doc: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """Map function name -> (METHOD, operation) for every function path of a description.

    A function path ends in the function's name, e.g. ``/{deployment}/modules/{module}/fibo``;
    paths with a trailing file segment (``.../fibo/{file}``) are skipped.
    """
    paths = doc.get("paths") if isinstance(doc, dict) else None
    if not isinstance(paths, dict):
        return {}
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, item in paths.items():
        segments = [s for s in str(path).split("/") if s]
        if not segments or segments[-1].startswith("{"):
            continue
        if "modules" in segments and segments.index("modules") != len(segments) - 3:
            continue
        try:
            found[segments[-1]] = pick_operation(item, f"description path {path!r}")
        except InvalidDocument:
            continue
    return found


def operation_bytes(op: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    """(input, output) media types of a bytes-ABI operation, or (None, None).

    ``x-bytes`` says both; without it, a ``requestBody`` whose one media type is not a form
    is the input, and the 200 response's media type the output unless its schema is a
    scalar (integer, number, boolean): then the function returns a scalar.
    """
    declared = op.get("x-bytes")
    if declared is not None:
        if not isinstance(declared, dict) or not isinstance(declared.get("input"), str):
            raise InvalidDocument(
                f'{where}.x-bytes must be an object like {{"input": "application/json", '
                f'"output": "application/json"}} (output may be null), got {declared!r}.'
            )
        output = declared.get("output")
        if output is not None and not isinstance(output, str):
            raise InvalidDocument(f"{where}.x-bytes.output must be a media type or null.")
        return declared["input"].strip() or "application/octet-stream", output or None
    content = as_object(as_object(op.get("requestBody")).get("content"))
    body = raw_body_media(next(iter(content))) if len(content) == 1 else None
    if body is None:
        return None, None
    response, schema = operation_response(op)
    if not response or schema.get("type") in _SCALAR_SCHEMAS:
        return body, None
    return body, response


def raw_body_media(media_type: str | None) -> str | None:
    """``media_type`` when a request body of that type is a raw payload (not a form), else
    None."""
    media = str(media_type or "").strip()
    if not media or media.split(";")[0].strip().lower() in _FORMS:
        return None
    return media
