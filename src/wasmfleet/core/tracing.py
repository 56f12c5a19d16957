"""W3C trace context (``traceparent``): one trace per execution, one span per hop.

A ``traceparent`` header reads ``00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>``
(https://www.w3.org/TR/trace-context/). The orchestrator starts a trace per execution (or
continues the caller's); every supervisor call gets its own span, a child of the span that
called it, and passes the trace on along HTTP hops (header), MQTT messages (MQTT 5 user
property ``traceparent``) and bridges. Pure: the random bytes for new ids are passed in by the
caller (``new_root(os.urandom(24))``), so everything here is deterministic and testable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NamedTuple

TRACEPARENT = "traceparent"
"""The header (and MQTT user property) that carries the trace context."""
TRACEPARENT_RAW = b"traceparent"
"""The header as ASGI servers hand it over (lower case, bytes)."""
ID_BYTES = 24
"""Random bytes ``new_root`` needs: 16 for the trace id, 8 for the span id."""
SPAN_BYTES = 8
"""Random bytes ``child`` needs for a span id."""

_HEX = frozenset("0123456789abcdef")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
_VERSION_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
"""The common case, matched in one go (every call on a supervisor parses one)."""


class TraceContext(NamedTuple):
    """A position in a trace: the trace, the current span, and whether it is sampled.

    A named tuple rather than a dataclass: one is made per call on the hot path."""

    trace_id: str
    """32 lower-case hex digits, not all zero."""
    span_id: str
    """16 lower-case hex digits, not all zero."""
    sampled: bool = True


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in _HEX for c in text)


def parse(header: str | bytes | None) -> TraceContext | None:
    """The context in a ``traceparent`` value; None when absent or invalid (per W3C).

    Version ``00`` must have exactly four fields; a higher version may append fields (they
    are ignored); version ``ff`` and all-zero ids are invalid. Upper-case hex is invalid.
    """
    if header is None:
        return None
    if isinstance(header, bytes):
        try:
            header = header.decode("ascii")
        except UnicodeDecodeError:
            return None
    fast = _VERSION_00.fullmatch(header)
    if fast is not None:
        trace_id, span_id, flags = fast.groups()
        if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
            return None
        return TraceContext(trace_id, span_id, flags in _SAMPLED)
    parts = header.strip().split("-")
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[0], parts[1], parts[2], parts[3]
    if not _is_hex(version, 2) or version == "ff":
        return None
    if version == "00" and len(parts) != 4:
        return None
    if not _is_hex(trace_id, 32) or not _is_hex(span_id, 16) or not _is_hex(flags, 2):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceContext(trace_id, span_id, bool(int(flags, 16) & 1))


_SAMPLED = frozenset(f"{n:02x}" for n in range(256) if n & 1)


def _span_hex(random: bytes) -> str:
    span = random[:SPAN_BYTES].hex()
    return span if span != _ZERO_SPAN else "0" * 15 + "1"


def new_root(random: bytes) -> TraceContext:
    """A new trace with its first span, from ``ID_BYTES`` random bytes."""
    if len(random) < ID_BYTES:
        raise ValueError(f"new_root needs {ID_BYTES} random bytes, got {len(random)}")
    trace = random[:16].hex()
    if trace == _ZERO_TRACE:
        trace = "0" * 31 + "1"
    return TraceContext(trace, _span_hex(random[16:]), True)


def child(ctx: TraceContext, random: bytes) -> TraceContext:
    """A new span in the same trace (its parent is ``ctx.span_id``), from 8 random bytes."""
    if len(random) < SPAN_BYTES:
        raise ValueError(f"child needs {SPAN_BYTES} random bytes, got {len(random)}")
    return TraceContext(ctx.trace_id, _span_hex(random), ctx.sampled)


def header(ctx: TraceContext) -> str:
    """The ``traceparent`` value for ``ctx`` (version 00)."""
    return f"00-{ctx.trace_id}-{ctx.span_id}-{'01' if ctx.sampled else '00'}"


def from_properties(properties: Mapping[str, Any] | None) -> TraceContext | None:
    """The context in a message's user properties (MQTT 5), if it carries a valid one."""
    if not properties:
        return None
    return parse(properties.get(TRACEPARENT))


def is_trace_id(text: object) -> bool:
    """True when ``text`` is a valid trace id (32 lower-case hex digits, not all zero)."""
    return isinstance(text, str) and _is_hex(text, 32) and text != _ZERO_TRACE
