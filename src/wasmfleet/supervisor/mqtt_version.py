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
        """``5`` or ``3.1.1``: what the link speaks; ``auto`` while that is not known yet
        (the broker neither asked nor connected to)."""
        return PROTOCOL_NAMES[self.version] if self.decided else "auto"

    def connected(self) -> None:
        """The broker accepted the link's CONNECT: the version in use is settled."""
        self.decided = True

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
        self.decided = True
        return True

    def publish_properties(self, trace: TraceContext | None) -> Properties | None:
        """PUBLISH properties carrying ``trace`` (None over 3.1.1 or without a trace)."""
        if trace is None or self.version != MQTT_5:
            return None
        return TraceProperty(header(trace))


_USER_PROPERTY_ID = b"\x26"
_KEY = len(TRACEPARENT).to_bytes(2, "big") + TRACEPARENT.encode()


class TraceProperty(Properties):
    """PUBLISH properties holding only the user property ``traceparent``, packed at once.

    paho's ``Properties`` costs ~45 µs to build and as much to pack (a table of every property
    name per instance); a result is published per message, so this one is packed by hand
    (MQTT 5 §2.2.2: a variable byte integer length, then id 0x26 and two UTF-8 strings).
    paho accepts only ``Properties`` instances, and calls nothing but ``pack`` on one it sends.
    """

    def __init__(self, value: str) -> None:  # no super().__init__: that is the slow part
        raw = value.encode("ascii")
        body = _USER_PROPERTY_ID + _KEY + len(raw).to_bytes(2, "big") + raw
        # paho's __setattr__ accepts property names only: set the instance's fields directly.
        self.__dict__.update(
            packetType=PacketTypes.PUBLISH, value=value, _packed=_varint(len(body)) + body
        )

    def pack(self) -> bytes:
        """The properties as they go on the wire."""
        packed: bytes = self.__dict__["_packed"]
        return packed

    @property
    def UserProperty(self) -> list[tuple[str, str]]:
        """``[("traceparent", value)]``, as paho's own properties would answer."""
        return [(TRACEPARENT, self.__dict__["value"])]

    def __str__(self) -> str:
        return f"[UserProperty : {self.UserProperty}]"


def _varint(value: int) -> bytes:
    """An MQTT variable byte integer."""
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


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
