"""What the supervisor's MQTT link hands around: deliveries, its counters, its one error."""

from __future__ import annotations

from dataclasses import dataclass, field

from wasmfleet.core.tracing import TraceContext


class PublishFailed(Exception):
    """The broker refused a message, or it could not be handed to the connection."""


@dataclass(slots=True)
class Delivery:
    """One message as the broker delivered it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    mid: int
    generation: int
    """Which connection it came on: acknowledgements go only on that one."""
    trace: TraceContext | None = None
    """The span of whoever published it (MQTT 5 user property ``traceparent``)."""
    done: bool = False
    released: bool = False


@dataclass(slots=True)
class LinkStats:
    """Counters of the connection."""

    connects: int = 0
    published: int = 0
    """Messages handed to the connection: results, guest publications and dead letters."""
    guest_published: int = 0
    """Of those, ``wasmfleet.publish`` calls."""
    publish_errors: int = 0
    unsolicited: int = 0
    """Messages on topics no subscription of this session matches (acknowledged, dropped)."""
    refused_filters: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None
