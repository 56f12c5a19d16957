"""The edge of tracing: new ids from the OS, and the trace of the call running now.

``core/tracing.py`` is pure (random bytes come in as arguments); this module draws them
from ``random`` (seeded from the OS) and keeps the span of the call in progress in a context
variable, which the log formatters (service/logs.py) and the supervisor's log shipper read to
stamp every line written while a call runs with ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from typing import Any

from wasmfleet.core import tracing
from wasmfleet.core.tracing import TraceContext

CURRENT: ContextVar[TraceContext | None] = ContextVar("wasmfleet_trace", default=None)
"""The span of the call (or execution) running in this context, if any."""


def new_root() -> TraceContext:
    """A new trace with its first span (ids from ``random``, seeded from the OS: see child)."""
    return tracing.new_root(random.getrandbits(8 * tracing.ID_BYTES).to_bytes(tracing.ID_BYTES))


def child(ctx: TraceContext | None) -> TraceContext:
    """A new span under ``ctx``; a new root when there is no parent.

    Span ids need to be unique, not secret: they come from the ``random`` module (seeded from
    the OS), a quarter of the cost of ``os.urandom`` on the supervisor's call path."""
    if ctx is None:
        return new_root()
    return tracing.child(ctx, random.getrandbits(64).to_bytes(8))


def trace_fields() -> dict[str, Any]:
    """``{"trace_id", "span_id"}`` of the current span, or ``{}`` outside any."""
    ctx = CURRENT.get()
    if ctx is None:
        return {}
    return {"trace_id": ctx.trace_id, "span_id": ctx.span_id}
