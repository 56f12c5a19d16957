"""Where a function's input comes from and its result goes: ``to``, ``trigger``, ``publish``.

These are the per-function routing instructions of a deployment document
(``instructions.modules[M][F]``), and ``trigger``/``publish`` are also manifest step keys:

- ``to``: the next HTTP hop — null, a URL, an orchestrator endpoint object or an OpenAPI
  fragment ``{"servers": [{"url"}], "paths": {path: item}}``.
- ``trigger``: ``{"topic": <topic filter>, "qos": 0|1|2 (default 1)}`` — the function runs
  for every MQTT message on a matching topic. A bare string is the topic with QoS 1.
- ``publish``: ``{"topic": <topic name>, "qos": 0|1|2 (default 1), "retain": bool (default
  false)}`` — every result of the function is published there. A bare string is the topic.

Every problem is an ``InvalidDocument`` naming the field (``steps[0].trigger.topic``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.models import Endpoint, Param, Publication, Trigger
from wasmfleet.core.openapi import as_object, operation_mounts, operation_params, pick_operation
from wasmfleet.core.topics import check_filter, check_topic

_TRIGGER_KEYS = ("topic", "qos")
_PUBLISH_KEYS = ("topic", "qos", "retain")


def parse_trigger(raw: Any, where: str) -> Trigger | None:
    """A ``trigger`` (None when absent); InvalidDocument naming ``where`` when it is bad."""
    obj = _topic_object(raw, where, _TRIGGER_KEYS, "{topic: site/+/temperature, qos: 1}")
    if obj is None:
        return None
    topic = check_filter(obj.get("topic"), f"{where}.topic")
    return Trigger(topic=topic, qos=_qos(obj.get("qos"), f"{where}.qos"))


def parse_publish(raw: Any, where: str) -> Publication | None:
    """A ``publish`` (None when absent); InvalidDocument naming ``where`` when it is bad."""
    obj = _topic_object(raw, where, _PUBLISH_KEYS, "{topic: alerts/temperature, qos: 1}")
    if obj is None:
        return None
    topic = check_topic(obj.get("topic"), f"{where}.topic")
    retain = obj.get("retain", False)
    if retain is None:
        retain = False
    if not isinstance(retain, bool):
        raise InvalidDocument(f"{where}.retain must be true or false, got {retain!r}.")
    return Publication(topic=topic, qos=_qos(obj.get("qos"), f"{where}.qos"), retain=retain)


def _topic_object(
    raw: Any, where: str, allowed: tuple[str, ...], example: str
) -> dict[str, Any] | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        return {"topic": raw}
    if not isinstance(raw, dict):
        raise InvalidDocument(f"{where} must be an object like {example}, got {raw!r}.")
    unknown = [str(k) for k in raw if k not in allowed]
    if unknown:
        raise InvalidDocument(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the allowed keys are: {', '.join(allowed)}."
        )
    if "topic" not in raw:
        raise InvalidDocument(f"{where} has no 'topic'; e.g. {example}.")
    return raw


def _qos(raw: Any, where: str) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool) or raw not in (0, 1, 2) or isinstance(raw, float):
        raise InvalidDocument(
            f"{where} must be 0 (at most once), 1 (at least once) or 2 (exactly once), got {raw!r}."
        )
    return int(raw)


def check_url(raw: Any, where: str) -> str:
    """An http(s) URL, or InvalidDocument naming ``where``."""
    if not isinstance(raw, str) or not raw:
        raise InvalidDocument(f"{where} must be a URL string.")
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidDocument(f"{where} must be an http:// or https:// URL, got {raw!r}.")
    return raw


def parse_target(raw: Any, where: str, dep_id: str) -> Endpoint | None:
    """Parse a ``to`` target: null, a URL, an orchestrator endpoint or an OpenAPI fragment."""
    if raw is None or raw == {}:
        return None
    if isinstance(raw, str):
        return Endpoint(url=check_url(raw, where))
    if not isinstance(raw, dict):
        raise InvalidDocument(f"{where} must be null, a URL or an endpoint object.")
    if "paths" in raw:  # OpenAPI fragment: {"servers": [{"url"}], "paths": {path: item}}
        servers = raw.get("servers") or [{}]
        if not isinstance(servers, list) or not isinstance(servers[0], dict):
            raise InvalidDocument(f'{where}.servers must be a list like [{{"url": "http://..."}}].')
        base = str(servers[0].get("url", ""))
        paths = raw["paths"]
        if not isinstance(paths, dict) or len(paths) != 1:
            raise InvalidDocument(f"{where}.paths must hold exactly one path item.")
        path, item = next(iter(paths.items()))
        method, op = pick_operation(item, f"{where}.paths")
        mounts = operation_mounts(op, where) or ()
        url = _join(str(base), str(path), dep_id)
        return Endpoint(
            url=check_url(url, where),
            method=method,
            params=operation_params(op, where),
            file_mounts=tuple(m.name for m in mounts if m.stage == "execution"),
        )
    if "url" not in raw:
        raise InvalidDocument(
            f"{where} must have a 'url' (or be an OpenAPI fragment with 'paths')."
        )
    request = as_object(raw.get("request"))
    params: tuple[Param, ...] = operation_params(
        {"parameters": request.get("parameters") or []}, where
    )
    body = as_object(request.get("request_body"))
    props = as_object(as_object(body.get("schema")).get("properties"))
    encoding = as_object(body.get("encoding"))
    file_mounts = tuple(dict.fromkeys([*map(str, props), *map(str, encoding)]))
    url = _join(str(raw["url"]), str(raw.get("path", "")), dep_id)
    return Endpoint(
        url=check_url(url, where),
        method=str(raw.get("method", "GET")).upper(),
        params=params,
        file_mounts=file_mounts,
    )


def _join(base: str, path: str, dep_id: str) -> str:
    path = path.replace("{deployment}", dep_id).replace("{deploymentId}", dep_id)
    if not path:
        return base
    if urlsplit(path).scheme:
        return path
    return base.rstrip("/") + "/" + path.lstrip("/")
