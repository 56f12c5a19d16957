"""Which topic filters a supervisor subscribes to, so that the broker sends each message once.

A device may host several triggers whose filters overlap (``site/#`` and
``site/+/temperature``). MQTT lets a broker deliver a message once per matching
subscription of a client (Mosquitto 2 does), and a client cannot tell the copies apart, so
the functions would run twice. ``plan_subscriptions`` therefore merges overlapping filters
into one that covers them (``site/#``; ``a/+/c`` and ``a/b/+`` become ``a/+/+``) with the
highest QoS asked; the supervisor then routes each message to every trigger whose own
filter matches it. Shared subscriptions (``$share/group/filter``) are subscribed as given.
"""

from __future__ import annotations

from collections.abc import Mapping

SHARED_PREFIX = "$share/"


def overlap(a: str, b: str) -> bool:
    """True when some topic name matches both filters (assumed valid, not shared)."""
    x, y = a.split("/"), b.split("/")
    if (x[0] in ("+", "#") and y[0].startswith("$")) or (
        y[0] in ("+", "#") and x[0].startswith("$")
    ):
        return False  # filters starting with a wildcard never match $-topics
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "#" or q == "#":
            return True
        if p is None or q is None:
            return False
        if p != "+" and q != "+" and p != q:
            return False
    return True


def intersection(a: str, b: str) -> str | None:
    """The filter matching exactly the topic names both filters match (assumed valid, not
    shared), or None when no name matches both: ``a/+`` and ``+/b`` give ``a/b``, ``a/#``
    and ``+/+`` give ``a/+``."""
    x, y = a.split("/"), b.split("/")
    if (x[0] in ("+", "#") and y[0].startswith("$")) or (
        y[0] in ("+", "#") and x[0].startswith("$")
    ):
        return None  # filters starting with a wildcard never match $-topics
    levels: list[str] = []
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p == "#":
            return "/".join(levels + y[i:])
        if q == "#":
            return "/".join(levels + x[i:])
        if p is None or q is None:
            return None
        if p == "+":
            levels.append(q)
        elif q == "+" or p == q:
            levels.append(p)
        else:
            return None
    return "/".join(levels)


def generalize(a: str, b: str) -> str:
    """The narrowest filter built level by level that matches everything ``a`` or ``b`` do
    (for overlapping filters): equal levels stay, differing ones become ``+``, and where one
    filter ends or has ``#`` the result ends with ``#``."""
    x, y = a.split("/"), b.split("/")
    levels: list[str] = []
    for i in range(max(len(x), len(y))):
        p = x[i] if i < len(x) else None
        q = y[i] if i < len(y) else None
        if p is None or q is None or p == "#" or q == "#":
            levels.append("#")
            break
        levels.append(p if p == q else "+")
    return "/".join(levels)


def plan_subscriptions(wanted: Mapping[str, int]) -> dict[str, int]:
    """Filter -> QoS to subscribe for the wanted filter -> QoS: no two of them overlap."""
    planned: dict[str, int] = {}
    for topic_filter, qos in sorted(wanted.items()):
        if topic_filter.startswith(SHARED_PREFIX):
            continue
        merged, merged_qos = topic_filter, qos
        changed = True
        while changed:
            changed = False
            for other in sorted(planned):
                if overlap(other, merged):
                    merged_qos = max(merged_qos, planned.pop(other))
                    merged = generalize(other, merged)
                    changed = True
        planned[merged] = max(merged_qos, planned.get(merged, 0))
    for topic_filter, qos in wanted.items():
        if topic_filter.startswith(SHARED_PREFIX):
            planned[topic_filter] = max(qos, planned.get(topic_filter, 0))
    return dict(sorted(planned.items()))
