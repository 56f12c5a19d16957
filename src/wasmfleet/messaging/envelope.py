"""Message ids and the wasmfleet envelope: a one-line JSON header in front of the raw payload.

Every message that crosses a bridge carries an id, so a sink can store it idempotently. Over
MQTT 5 the id travels as the user property ``wasmfleet-id`` and the payload is untouched; over
MQTT 3.1.1 (no properties) the payload is wrapped in an envelope::

    {"wasmfleet-id":"0193a6f2-7c41-7d2e-9a0b-5f1c2d3e4f50","v":1,"topic":"faces/cam1","ts":1732900000.123}\\n
    <payload bytes, unchanged, any length, any bytes>

- The envelope starts with the exact bytes ``{"wasmfleet-id":"``; the header is one JSON object
  (ASCII, no raw newline: JSON escapes them) and ends at the first ``\\n``. Everything after that
  newline is the payload, byte for byte (images, protobuf, ...).
- The id comes first and uses only ``[A-Za-z0-9._-]`` (1-128 characters, not starting with
  ``.``), so a C or Wasm reader can copy it from after the 17-byte prefix up to the next ``"``
  without a JSON parser; it is also safe as a file name or object key.
- ``v`` is the envelope version (1); ``topic`` is the topic the message was first published to
  and ``ts`` the Unix time (seconds) the bridge stored it. ``traceparent`` (optional) is the
  W3C trace context the message carried as an MQTT 5 user property (core/tracing.py), so a
  trace crosses a 3.1.1 broker too. Readers ignore keys they don't know.

Ids the bridge assigns are UUIDv7 strings (time-ordered, random below the millisecond). A
message that arrives at a sink with no id at all gets ``sha256-<hex of the payload>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from dataclasses import dataclass

from wasmfleet.core.tracing import TRACEPARENT, parse

USER_PROPERTY = "wasmfleet-id"
"""The MQTT 5 user property that carries a message id."""

MAGIC = b'{"wasmfleet-id":"'
"""Every envelope starts with these bytes."""

VERSION = 1
MAX_HEADER = 256 * 1024
"""A header longer than this is not an envelope (topics are at most 64 KiB)."""

_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class Envelope:
    """An unwrapped message: its id, header fields and raw payload."""

    id: str
    payload: bytes
    topic: str | None = None
    ts: float | None = None
    traceparent: str | None = None
    """The message's W3C trace context, when it carried a valid one."""


def new_id(now: float | None = None) -> str:
    """A fresh message id: a UUIDv7 (48-bit millisecond time, then random bits)."""
    ms = int((time.time() if now is None else now) * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | rand
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def is_valid_id(text: object) -> bool:
    """True when ``text`` may be a message id (safe as a file name and an object key)."""
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def content_id(payload: bytes) -> str:
    """The id of a message that came without one: ``sha256-<hex>`` of its payload."""
    return "sha256-" + hashlib.sha256(payload).hexdigest()


def wrap(
    message_id: str,
    payload: bytes,
    *,
    topic: str | None = None,
    ts: float | None = None,
    traceparent: str | None = None,
) -> bytes:
    """The envelope of ``payload`` with id ``message_id`` (ValueError on an invalid id)."""
    if not is_valid_id(message_id):
        raise ValueError(f"{message_id!r} is not a valid message id")
    header: dict[str, object] = {"wasmfleet-id": message_id, "v": VERSION}
    if topic is not None:
        header["topic"] = topic
    if ts is not None:
        header["ts"] = round(ts, 3)
    if traceparent is not None and parse(traceparent) is not None:
        header[TRACEPARENT] = traceparent
    line = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return line + b"\n" + bytes(payload)


def unwrap(data: bytes | bytearray) -> Envelope | None:
    """The envelope in ``data``, or None when ``data`` is not a valid wasmfleet envelope."""
    found = _header(data)
    if found is None:
        return None
    header, end = found
    topic = header.get("topic")
    ts = header.get("ts")
    return Envelope(
        traceparent=_trace(header),
        id=str(header["wasmfleet-id"]),
        payload=bytes(data[end + 1 :]),
        topic=topic if isinstance(topic, str) else None,
        ts=float(ts) if isinstance(ts, int | float) and not isinstance(ts, bool) else None,
    )


def envelope_id(data: bytes | bytearray) -> str | None:
    """The id of the envelope in ``data`` without copying its payload, or None."""
    found = _header(data)
    return None if found is None else str(found[0]["wasmfleet-id"])


def carried_trace(payload: bytes | bytearray, properties: object = None) -> str | None:
    """The valid ``traceparent`` a message carries: its MQTT 5 user property, else its
    envelope's (None when neither has one; the payload is parsed only if it is an envelope)."""
    for pair in getattr(properties, "UserProperty", None) or []:
        if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == TRACEPARENT:
            return str(pair[1]) if parse(pair[1]) is not None else None
    found = _header(payload)
    return None if found is None else _trace(found[0])


def _trace(header: dict[str, object]) -> str | None:
    value = header.get(TRACEPARENT)
    return value if isinstance(value, str) and parse(value) is not None else None


def carried_id(payload: bytes | bytearray, properties: object = None) -> str | None:
    """The id a message already carries: its envelope's, else its MQTT 5 user property."""
    found = envelope_id(payload)
    if found is not None:
        return found
    for pair in getattr(properties, "UserProperty", None) or []:
        ok = isinstance(pair, tuple) and len(pair) == 2 and pair[0] == USER_PROPERTY
        if ok and is_valid_id(pair[1]):
            return str(pair[1])
    return None


def _header(data: bytes | bytearray) -> tuple[dict[str, object], int] | None:
    """The parsed header of an envelope and the index of the newline that ends it."""
    if not data.startswith(MAGIC):
        return None
    end = data.find(b"\n", len(MAGIC), MAX_HEADER)
    if end < 0:
        return None
    try:
        header = json.loads(data[:end])
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict) or not is_valid_id(header.get("wasmfleet-id")):
        return None
    return header, end
