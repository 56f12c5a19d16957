"""What the ORIGINAL wasmiot supervisor (bd31c95) parses in a deployment document, as data.

Facts read from its source, written down here (none of its code): on ``POST /deploy`` it
builds ``Endpoint(**e)`` for every endpoint and every instruction's ``from`` and ``to``,
``EndpointRequest(**e["request"])``, ``MediaTypeObject(**...)`` for the request body and the
response, ``Schema(**schema)`` for their schemas and ``MountPathFile(**m)`` for every mount,
and indexes ``mounts[M][F][stage]`` for all three stages. A dataclass built with ``**``
refuses a key it lacks and needs the ones without a default; its enums refuse other values.
``problems`` lists what in a document it would refuse; tests/unit/test_wasmiot_contract.py
checks this model against the recorded answers of the real original, then uses it on many
documents the recordings do not cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Fields = tuple[frozenset[str], frozenset[str]]
"""(required keys, optional keys) of a dataclass built with ``**``."""


def _fields(required: str, optional: str = "") -> Fields:
    return frozenset(required.split()), frozenset(optional.split())


TOP = _fields("deploymentId modules endpoints instructions mounts")
"""Read by ``deployment_create`` (extra top-level keys are ignored, hence not checked)."""
ENDPOINT = _fields("url path method request response")
REQUEST = _fields("parameters", "request_body")
MEDIA = _fields("media_type schema", "encoding")
SCHEMA = _fields("type", "format properties")
MOUNT = _fields("path media_type stage", "encoding type")
SCHEMA_TYPES = frozenset({"integer", "string", "object"})
SCHEMA_FORMATS = frozenset({"binary"})
STAGES = ("deployment", "execution", "output")
METHODS = frozenset({"get", "post", "put", "delete", "patch", "head", "options"})
"""It forwards with ``getattr(requests, method)``: the lower-case names requests has."""


def _keys(obj: Any, fields: Fields, where: str) -> list[str]:
    if not isinstance(obj, Mapping):
        return [f"{where} is not an object"]
    required, optional = fields
    found = [f"{where} lacks {k!r}" for k in sorted(required - obj.keys())]
    extra = sorted(set(obj) - required - optional)
    return found + [f"{where} has key {k!r}" for k in extra]


def _schema(schema: Any, where: str) -> list[str]:
    found = _keys(schema, SCHEMA, where)
    if found:
        return found
    if schema["type"] not in SCHEMA_TYPES:
        found.append(f"{where}.type {schema['type']!r} is not a SchemaType")
    fmt = schema.get("format")
    if fmt and fmt not in SCHEMA_FORMATS:
        found.append(f"{where}.format {fmt!r} is not a SchemaFormat")
    return found


def _media(media: Any, where: str) -> list[str]:
    found = _keys(media, MEDIA, where)
    return found or _schema(media["schema"], f"{where}.schema")


def endpoint_problems(endpoint: Any, where: str, *, forwarded: bool = False) -> list[str]:
    """What ``Endpoint(**endpoint)`` would refuse; ``forwarded``: it is a ``to``, whose
    method it calls as ``requests.<method>``."""
    found = _keys(endpoint, ENDPOINT, where)
    if found:
        return found
    if forwarded and endpoint["method"] not in METHODS:
        found.append(f"{where}.method {endpoint['method']!r} is not a requests function")
    request = endpoint["request"]
    request_found = _keys(request, REQUEST, f"{where}.request")
    if not request_found and request.get("request_body") is not None:
        request_found = _media(request["request_body"], f"{where}.request.request_body")
    return found + request_found + _media(endpoint["response"], f"{where}.response")


def problems(document: Mapping[str, Any]) -> list[str]:
    """Everything in ``document`` the original would refuse (empty: it takes it)."""
    found = [f"document lacks {k!r}" for k in sorted(TOP[0] - document.keys())]
    if found:
        return found
    for i, module in enumerate(document["modules"]):
        if not {"id", "name", "urls"} <= set(module) or "binary" not in module["urls"]:
            found.append(f"modules[{i}] lacks id, name or urls.binary")
        elif not isinstance(module["urls"].get("other", {}), Mapping):
            found.append(f"modules[{i}].urls.other is not an object of name: url")
    for m, functions in document["endpoints"].items():
        for f, endpoint in functions.items():
            found += endpoint_problems(endpoint, f"endpoints.{m}.{f}")
    for m, functions in document["instructions"]["modules"].items():
        for f, link in functions.items():
            for key in ("from", "to"):
                if key not in link:
                    found.append(f"instructions.modules.{m}.{f} lacks {key!r}")
                elif link[key] is not None:
                    where = f"instructions.modules.{m}.{f}.{key}"
                    found += endpoint_problems(link[key], where, forwarded=key == "to")
    for m, functions in document["mounts"].items():
        for f, stages in functions.items():
            for stage in STAGES:
                if stage not in stages:
                    found.append(f"mounts.{m}.{f} lacks stage {stage!r}")
                    continue
                for i, mount in enumerate(stages[stage]):
                    where = f"mounts.{m}.{f}.{stage}[{i}]"
                    found += _keys(mount, MOUNT, where)
                    if isinstance(mount, Mapping) and mount.get("stage") not in STAGES:
                        found.append(f"{where}.stage is not a MountStage")
    return found
