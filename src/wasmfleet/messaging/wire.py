"""What a bridge sends: MQTT 5 properties, or the envelope, carrying a message's id and trace."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wasmfleet.core.tracing import TRACEPARENT
from wasmfleet.messaging.envelope import USER_PROPERTY, envelope_id, wrap

if TYPE_CHECKING:  # sqlite3 loads with the first bridge, not with the supervisor's MQTT link
    from wasmfleet.messaging.outbox import StoredMessage

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
"""MQTT 5 Session Expiry Interval: the broker keeps the session for good (like 3.1.1's)."""


def new_properties(packet_type: int) -> Properties:
    """Empty MQTT 5 properties for a packet type (paho's constructor is untyped)."""
    return Properties(packet_type)  # type: ignore[no-untyped-call]


def outgoing(message: StoredMessage, protocol: int) -> tuple[bytes, Properties | None]:
    """The payload and properties that carry ``message``, its id and trace to the destination.

    An envelope already around the payload is kept as it is (it carries the id and trace)."""
    if protocol == 5:
        props = new_properties(PacketTypes.PUBLISH)
        pairs = [(USER_PROPERTY, message.id)]
        if message.traceparent is not None:
            pairs.append((TRACEPARENT, message.traceparent))
        props.UserProperty = pairs
        return message.payload, props
    if envelope_id(message.payload) == message.id:
        return message.payload, None
    wrapped = wrap(
        message.id,
        message.payload,
        topic=message.topic,
        ts=message.stored_at,
        traceparent=message.traceparent,
    )
    return wrapped, None
