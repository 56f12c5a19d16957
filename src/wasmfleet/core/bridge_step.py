"""Bridge steps: a store-and-forward bridge placed on a device like any manifest step.

Manifest step (wasmfleet shape)::

    - bridge:
        to: mqtt://cloud:1883      # required: mqtt://[user:pass@]host[:port] or mqtts://...
        from: mqtt://edge:1883     # optional: default = the hosting supervisor's --broker
        topic: "crops/#"           # a filter or a list of filters ("topics" is the same key)
        qos: 1                     # 1 (default): outbox + persistent session; 0: best effort
      labels: {role: gateway}      # device, labels, resources, strategy, failovers as usual

A bridge step runs no module function, so it has no ``module``, ``function``, ``trigger``,
``publish`` or ``stateful``, and it is not part of the HTTP from/to chain. On the device
the deployment document carries it as ``"bridges": [{"name", "from", "to", "topics",
"qos"}]`` (``parse_bridges``), named ``<deployment id>-<step index>``.

Every problem is an ``InvalidDocument`` naming the field (``steps[0].bridge.to``).
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.errors import ConfigurationError, InvalidDocument
from wasmfleet.core.models import BridgeRoute, BridgeSpec
from wasmfleet.core.names import check_identifier
from wasmfleet.core.topics import check_filter

BRIDGE_INTERFACE = "wasmfleet.bridge"
"""Advertised by wasmfleet supervisors, which run bridges (wasmiot ones ignore ``bridges``)."""
BRIDGE_KEYS = ("to", "from", "topic", "topics", "qos")
NOT_WITH_BRIDGE = ("module", "function", "func", "trigger", "publish", "stateful")
"""Step keys that make no sense on a bridge step."""
_DOCUMENT_KEYS = ("name", "to", "from", "topics", "qos")
_EXAMPLE = "{to: mqtt://cloud:1883, topic: 'crops/#'}"


def parse_bridge_step(item: dict[str, Any], where: str) -> BridgeRoute:
    """The ``bridge`` of manifest step ``item``; refuses keys that only functions have."""
    for key in NOT_WITH_BRIDGE:
        if key in item:
            raise InvalidDocument(
                f"{where} has both 'bridge' and {key!r}: a bridge step forwards MQTT messages "
                "from one broker to another and runs no module function, so it cannot have "
                f"{_what(key)}; put the function in a step of its own."
            )
    raw = item.get("bridge")
    bwhere = f"{where}.bridge"
    if not isinstance(raw, dict):
        raise InvalidDocument(f"{bwhere} must be an object like {_EXAMPLE}, got {raw!r}.")
    _only(raw, BRIDGE_KEYS, bwhere)
    if "topic" in raw and "topics" in raw:
        raise InvalidDocument(f"{bwhere} gives both 'topic' and 'topics'; keep one.")
    key = "topics" if "topics" in raw else "topic"
    return _route(raw, bwhere, key)


def parse_bridges(raw: Any) -> tuple[BridgeSpec, ...]:
    """The ``bridges`` of a deployment document (absent or null: none)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidDocument(
            '\'bridges\' must be a list like [{"name": "dep-0", "from": null, '
            f'"to": "mqtt://cloud:1883", "topics": ["crops/#"], "qos": 1}}], got {raw!r}.'
        )
    bridges: list[BridgeSpec] = []
    for i, item in enumerate(raw):
        where = f"bridges[{i}]"
        if not isinstance(item, dict):
            raise InvalidDocument(f"{where} must be an object with name, to and topics.")
        _only(item, _DOCUMENT_KEYS, where)
        name = check_identifier(f"{where}.name", item.get("name"))
        if any(b.name == name for b in bridges):
            raise InvalidDocument(f"{where}.name {name!r} appears twice in 'bridges'.")
        bridges.append(BridgeSpec(name=name, route=_route(item, where, "topics")))
    return tuple(bridges)


def broker_of(url: str, where: str) -> BrokerAddress:
    """Parse a bridge's broker URL; InvalidDocument naming ``where`` when it is unusable."""
    try:
        return parse_broker_url(url, what=where)
    except ConfigurationError as err:
        raise InvalidDocument(err.message) from None


def same_broker(a: BrokerAddress, b: BrokerAddress) -> bool:
    """True when both addresses reach the same listener (host and port)."""
    return (a.host.lower(), a.port) == (b.host.lower(), b.port)


def safe_route(route: BridgeRoute) -> dict[str, Any]:
    """The route with passwords left out of the URLs (for plans and status pages)."""
    shown = route.to_dict()
    shown["to"] = parse_broker_url(route.destination).url
    if route.source is not None:
        shown["from"] = parse_broker_url(route.source).url
    return shown


def _route(raw: dict[str, Any], where: str, topics_key: str) -> BridgeRoute:
    destination = raw.get("to")
    if not isinstance(destination, str) or not destination.strip():
        raise InvalidDocument(
            f"{where}.to must be the broker URL to forward to (e.g. mqtt://cloud:1883 or "
            f"mqtts://user:pass@cloud:8883), got {destination!r}."
        )
    to = broker_of(destination.strip(), f"{where}.to")
    source = raw.get("from")
    if source is not None:
        if not isinstance(source, str) or not source.strip():
            raise InvalidDocument(
                f"{where}.from must be a broker URL (or left out for the hosting device's own "
                f"broker), got {source!r}."
            )
        source = source.strip()
        if same_broker(broker_of(source, f"{where}.from"), to):
            raise InvalidDocument(
                f"{where}.from and {where}.to are the same broker ({to.url}); the bridge "
                "would feed its own subscription."
            )
    return BridgeRoute(
        destination=destination.strip(),
        topics=_topics(raw.get(topics_key), f"{where}.{topics_key}"),
        source=source,
        qos=_qos(raw.get("qos"), f"{where}.qos"),
    )


def _topics(raw: Any, where: str) -> tuple[str, ...]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise InvalidDocument(
            f"{where} must be a topic filter like 'crops/#' or a non-empty list of them, "
            f"got {raw!r}."
        )
    topics: list[str] = []
    for i, item in enumerate(items):
        topic = check_filter(item, where if isinstance(raw, str) else f"{where}[{i}]")
        if topic not in topics:
            topics.append(topic)
    return tuple(topics)


def _qos(raw: Any, where: str) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in (0, 1):
        raise InvalidDocument(
            f"{where} must be 1 (the default: outbox on disk, nothing lost) or 0 (best effort, "
            f"nothing kept), got {raw!r}."
        )
    return raw


def _only(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = [str(k) for k in obj if k not in allowed]
    if unknown:
        raise InvalidDocument(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the allowed keys are: {', '.join(allowed)}."
        )


def _what(key: str) -> str:
    return {
        "module": "a module",
        "function": "a function",
        "func": "a function",
        "trigger": "a trigger (it is not run per message; it subscribes itself)",
        "publish": "a publish topic (it publishes each message it carries, as is)",
        "stateful": "'stateful' (no function state to fence)",
    }[key]
