"""The ``wasmfleet`` host functions for MQTT: publish a message, read the current topic.

    wasmfleet.publish(i32 topic_ptr, i32 topic_len, i32 data_ptr, i32 data_len, i32 qos) -> i32
    wasmfleet.message_topic(i32 buf_ptr, i32 buf_len) -> i32

``publish`` returns 0 when the message was handed to the device's MQTT connection (QoS 1
and 2 messages are delivered even across a reconnect), else one of the negative codes
below. ``message_topic`` copies the topic of the message that triggered the current call
into the buffer (at most ``buf_len`` bytes, UTF-8, no NUL) and returns the topic's full
length — larger than ``buf_len`` means it was cut short — or -1 when the call was not
triggered by a message. Pointers outside the guest's memory trap, like every host function.
Both are offered only by devices with a broker (``--broker``); see docs/module-authors.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import wasmtime

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.topics import check_topic
from wasmfleet.runtime.host.guest import GuestContext, GuestMemory

if TYPE_CHECKING:
    from wasmfleet.runtime.host.functions import HostDevices, HostImpl

PUBLISH_OK = 0
E_NO_BROKER = -1
"""This device has no MQTT broker configured."""
E_TOPIC = -2
"""The topic is empty, not UTF-8, longer than 65535 bytes, or has a wildcard (+ #) or NUL."""
E_QOS = -3
"""QoS is not 0, 1 or 2."""
E_TOO_LARGE = -4
"""The payload is larger than MQTT allows (268435455 bytes)."""
E_BUSY = -5
"""Too many messages are waiting to be sent (backpressure): try again later."""
E_DISCONNECTED = -6
"""The broker is unreachable right now and QoS is 0 (QoS 1/2 messages wait for it)."""
NO_MESSAGE = -1
"""``message_topic``: the current call was not triggered by a message."""
MAX_PAYLOAD = 268_435_455


class MessagePublisher(Protocol):
    """The device's MQTT connection, as host functions see it (thread-safe)."""

    def publish_from_guest(self, ctx: GuestContext, topic: str, payload: bytes, qos: int) -> int:
        """Hand one message to the connection; 0 or a negative code above."""
        ...


def publish(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.publish`` for one instance."""
    name = "wasmfleet.publish"

    def publish_impl(
        caller: wasmtime.Caller, topic_ptr: int, topic_len: int, ptr: int, length: int, qos: int
    ) -> int:
        memory = GuestMemory(caller, name, ctx)
        raw_topic = memory.read(topic_ptr, topic_len)
        if dev.mqtt is None:
            return E_NO_BROKER
        if qos not in (0, 1, 2):
            return E_QOS
        if length & 0xFFFFFFFF > MAX_PAYLOAD:
            return E_TOO_LARGE
        try:
            topic = check_topic(raw_topic.decode("utf-8"))
        except (UnicodeDecodeError, InvalidDocument):
            return E_TOPIC
        return dev.mqtt.publish_from_guest(ctx, topic, memory.read(ptr, length), qos)

    return publish_impl


def message_topic(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.message_topic`` for one instance."""
    name = "wasmfleet.message_topic"

    def topic_impl(caller: wasmtime.Caller, buf_ptr: int, buf_len: int) -> int:
        message = ctx.message
        if message is None:
            return NO_MESSAGE
        data = message.topic.encode("utf-8")
        room = max(0, buf_len)
        if room:
            GuestMemory(caller, name, ctx).write(buf_ptr, data[:room])
        return len(data)

    return topic_impl
