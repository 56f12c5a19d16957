"""Which MQTT version the supervisor's link speaks, and the trace its messages carry.

``--mqtt-protocol``: ``5``, ``3.1.1`` or ``auto`` (the default). Under ``auto`` the first
connection attempt that reaches the broker asks it first with a bare MQTT 5 CONNECT
(``messaging.client.speaks_mqtt5``; the embedded amqtt broker refuses 5, and does not answer
a CONNECT with a will at all): 5 if it accepts, else 3.1.1 for good. A broker that refuses
the link's own MQTT 5 CONNECT with "unsupported protocol version" is answered the same way.
Over MQTT 5 the session stays persistent as over 3.1.1 (``clean_start`` off, a session that
never expires), the broker sends at most ``capacity`` unacknowledged
messages (Receive Maximum), and messages carry the W3C ``traceparent`` as a user property
(core/tracing.py): a publication made during a call carries that call's span, and a
triggered call continues the trace of the message that triggered it. Over 3.1.1 nothing
changes: no properties, payloads byte for byte.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.core.tracing import TRACEPARENT, TraceContext, header, parse
from wasmfleet.messaging.client import speaks_mqtt5
from wasmfleet.messaging.wire import SESSION_NEVER_EXPIRES, new_properties

MQTT_5 = 5
MQTT_311 = 4
_UNSUPPORTED_VERSION = frozenset({1, 0x84})
"""CONNACK codes for "unsupported protocol version" (MQTT 3.1.1 and MQTT 5)."""
PROTOCOL_NAMES = {MQTT_5: "5", MQTT_311: "3.1.1"}


class ProtocolChoice:
    """The version asked for, the one in use, and whether to fall back before the next try."""

    def __init__(self, wanted: str, capacity: int) -> None:
        if wanted not in ("auto", "5", "3.1.1"):
            raise ValueError(f"MQTT protocol {wanted!r}: use 5, 3.1.1 or auto")
        self.wanted = wanted
        self.version = MQTT_311 if wanted == "3.1.1" else MQTT_5
        self.capacity = capacity
        self.fall_back = False
        """Set when the broker refused 5 under ``auto``: the next attempt uses 3.1.1."""
        self.decided = wanted != "auto"
        """False until the broker was asked (``auto``)."""

    @property
    def name(self) -> str:
        """``5`` or ``3.1.1``: what the link speaks (or tries) now."""
        return PROTOCOL_NAMES[self.version]

    @property
    def v5(self) -> bool:
        """True while the link speaks MQTT 5."""
        return self.version == MQTT_5

    def connect_options(self) -> dict[str, Any]:
        """Extra ``connect`` arguments: MQTT 5 keeps the session like 3.1.1's clean_session off."""
        if self.version != MQTT_5:
            return {}
        props = new_properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        props.ReceiveMaximum = min(65535, max(20, self.capacity))
        return {"clean_start": False, "properties": props}

    def probe(self, broker: BrokerAddress) -> bool:
        """Connecting thread, under ``auto``, until the broker answers once: ask it whether
        it speaks 5. True when the link must fall back to 3.1.1 before connecting."""
        if self.decided:
            return False
        answer = speaks_mqtt5(broker)
        if answer is None:  # unreachable: ask again next time
            return False
        self.decided = True
        if not answer and self.version == MQTT_5:
            self.fall_back = True
            return True
        return False

    def refused(self, reason: Any) -> bool:
        """The broker refused the connection: True when that means "fall back to 3.1.1"."""
        code = getattr(reason, "value", None)
        if self.wanted == "auto" and self.version == MQTT_5 and code in _UNSUPPORTED_VERSION:
            self.fall_back = True
            return True
        return False

    def take_fall_back(self) -> bool:
        """True once after ``refused`` asked for it: switch to 3.1.1 now."""
        if not self.fall_back:
            return False
        self.fall_back = False
        self.version = MQTT_311
        return True

    def publish_properties(self, trace: TraceContext | None) -> Properties | None:
        """PUBLISH properties carrying ``trace`` (None over 3.1.1 or without a trace)."""
        if trace is None or self.version != MQTT_5:
            return None
        props = new_properties(PacketTypes.PUBLISH)
        props.UserProperty = [(TRACEPARENT, header(trace))]
        return props


def message_trace(message: mqtt.MQTTMessage) -> TraceContext | None:
    """The trace a received MQTT 5 message carries (an invalid ``traceparent`` is ignored)."""
    props = getattr(message, "properties", None)
    pairs = getattr(props, "UserProperty", None) if props is not None else None
    if not pairs:
        return None
    for pair in pairs:
        if isinstance(pair, tuple) and len(pair) == 2 and pair[0] == TRACEPARENT:
            return parse(pair[1])
    return None
