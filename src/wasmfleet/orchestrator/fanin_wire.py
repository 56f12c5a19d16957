"""What travels on the fan-in channel (fanin.py): notifications of grouped items.

One notification: ``{"o": origin, "t": unix time its oldest item was queued, "s": live event
streams open at the sender, "i": [item, ...]}`` with items ``["b", name, seq, interval_s,
usage]`` (a heartbeat), ``["e", kind, data]`` (a live event) and ``["p"]`` (hello). Every
notification stays under PostgreSQL's 8000-byte payload limit.
"""

from __future__ import annotations

from typing import Any

import orjson

CHANNEL = "wasmfleet_fanin"
MAX_PAYLOAD = 7900
"""Bytes per notification (PostgreSQL refuses payloads of 8000 bytes or more)."""


def pack(origin: str, items: list[tuple[float, bytes]], streams: int = 0) -> list[str]:
    """Group (queued at, encoded item) pairs into payloads of at most ``MAX_PAYLOAD`` bytes.

    A payload's ``t`` is when its oldest item was queued, so the receiver's latency figure
    includes the time spent waiting here."""
    origin_json = orjson.dumps(origin)
    payloads: list[str] = []
    chunk: list[bytes] = []
    first = 0.0
    tail = b',"s":' + str(max(0, streams)).encode() + b',"i":['
    budget = MAX_PAYLOAD - len(origin_json) - len(tail) - 40  # {"o":..,"t":<float>,..}

    def flush() -> None:
        head = b'{"o":' + origin_json + b',"t":' + orjson.dumps(first) + tail
        payloads.append((head + b",".join(chunk) + b"]}").decode())

    size = 0
    for queued_at, item in items:
        if len(item) > budget:
            continue  # callers shrink items first; this one still does not fit
        if chunk and size + len(item) + 1 > budget:
            flush()
            chunk, size = [], 0
        if not chunk:
            first = queued_at
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        flush()
    return payloads


def event_item(kind: str, data: dict[str, Any]) -> bytes | None:
    """An event as a channel item; a large one keeps its scalar fields (None: still too large)."""
    item = orjson.dumps(["e", kind, data], default=str)
    if len(item) <= MAX_PAYLOAD - 100:
        return item
    small = {k: v for k, v in data.items() if isinstance(v, str | int | float | bool) or v is None}
    small = {k: v for k, v in small.items() if not isinstance(v, str) or len(v) <= 200}
    small["truncated"] = True
    item = orjson.dumps(["e", kind, small], default=str)
    return item if len(item) <= MAX_PAYLOAD - 100 else None
