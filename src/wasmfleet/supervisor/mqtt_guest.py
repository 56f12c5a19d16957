"""``wasmfleet.publish`` from Wasm: the thread-safe way into the supervisor's MQTT link.

A guest publishes from whatever thread runs it (the event loop inline, or its instance's
lane). ``GuestPublisher.publish`` checks there — no broker connection at QoS 0, too many
publications waiting — and answers at once (``PUBLISH_OK``, ``E_BUSY``, ``E_DISCONNECTED``);
the message itself is handed to the event loop, where every paho call happens, and its
future joins the triggering message's (a QoS 1/2 message is acknowledged only once what
its run published is with the broker). Over MQTT 5 the message carries the publishing
call's span (``traceparent``), read on the guest's thread, where the call set it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wasmfleet.core.tracing import TraceContext
from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.runtime.host.messaging import E_BUSY, E_DISCONNECTED, PUBLISH_OK
from wasmfleet.service import tracing

if TYPE_CHECKING:
    from wasmfleet.supervisor.mqtt_link import BrokerLink

log = logging.getLogger("wasmfleet.supervisor.mqtt")
MAX_GUEST_PENDING = 1000
"""Guest publications waiting for the broker, at most; beyond, publish answers E_BUSY."""


@dataclass(slots=True)
class GuestPublish:
    """A ``wasmfleet.publish`` call, once the event loop has handed it to paho."""

    topic: str
    future: asyncio.Future[None] | None = None
    trace: TraceContext | None = None
    """The span of the call that published it."""


class GuestPublisher:
    """Counts the guest publications in flight and hands each to the link's event loop."""

    def __init__(self, link: BrokerLink) -> None:
        self.link = link
        self._pending = 0
        self._lock = threading.Lock()

    def publish(self, ctx: GuestContext, topic: str, payload: bytes, qos: int) -> int:
        """``wasmfleet.publish`` (any thread): 0, E_BUSY or E_DISCONNECTED."""
        link = self.link
        loop = link.loop
        if loop is None or link.stopping:
            return E_DISCONNECTED
        if qos == 0 and not link.connected:
            return E_DISCONNECTED
        with self._lock:
            if self._pending >= MAX_GUEST_PENDING:
                return E_BUSY
            self._pending += 1
        token = GuestPublish(topic, trace=tracing.CURRENT.get())
        if ctx.message is not None:
            ctx.message.publishes.append(token)
        loop.call_soon_threadsafe(self._hand_over, token, payload, qos)
        return PUBLISH_OK

    def _hand_over(self, token: GuestPublish, payload: bytes, qos: int) -> None:
        token.future = self.link.publish(token.topic, payload, qos, trace=token.trace)
        self.link.stats.guest_published += 1
        token.future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[None]) -> None:
        with self._lock:
            self._pending -= 1
        if not future.cancelled() and future.exception() is not None:
            log.warning("a guest's publication failed", extra={"error": str(future.exception())})
