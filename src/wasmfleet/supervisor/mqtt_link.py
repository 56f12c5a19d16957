"""The supervisor's one MQTT connection: a paho client run on the event loop (mqtt_loop.py).

- **Session.** Client id ``wasmfleet-<device name>`` with a persistent session (MQTT 3.1.1
  ``clean_session=false``, MQTT 5 ``clean_start`` off and no expiry): while the supervisor
  is down or restarting, the broker keeps its subscriptions and queues QoS 1/2 messages
  (what it holds: mqtt_subscriptions.py).
- **One holder per client id.** Before each connect a probe checks that no other live
  supervisor holds the client id, and a retained presence message with a Last Will tells
  the next one (mqtt_presence.py); a supervisor whose name is taken holds off and says so.
- **Acknowledgements.** Incoming QoS 1/2 messages are acknowledged by hand (paho
  ``manual_ack``), only when ``ack`` is called — after the message was handled or
  dead-lettered — and in the order they arrived (MQTT 3.1.1 §4.6). A crash before that
  leaves the message with the broker, which sends it again (at least once).
- **Backpressure.** At most ``capacity`` messages are between arrival and ``release``.
  When that many are, the socket is no longer read, so the broker holds the rest (its
  in-flight window for QoS 1/2). The few messages the last read had already taken (paho
  reads up to its number of in-flight messages at once) wait here, unacknowledged, and go
  on in arrival order as room frees up.
- **Publishing.** ``publish`` (event loop) returns a future that resolves when the broker
  has the message (PUBACK/PUBCOMP; at once for QoS 0). ``publish_from_guest`` is the
  thread-safe entry for the ``wasmfleet.publish`` host function: it checks, then hands the
  message to the loop, where every paho call happens (mqtt_guest.py).
- **Version and traces.** MQTT 5 or 3.1.1 (``--mqtt-protocol``, auto: 5 with a fallback);
  over 5 a publication carries its call's ``traceparent`` and a delivery the one it came
  with (mqtt_version.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.core.tracing import TraceContext
from wasmfleet.messaging.client import paho_client
from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.supervisor.mqtt_guest import GuestPublisher
from wasmfleet.supervisor.mqtt_loop import NotNow, PahoOnLoop
from wasmfleet.supervisor.mqtt_presence import HoldOff, NameClaim
from wasmfleet.supervisor.mqtt_subscriptions import SubscriptionBook
from wasmfleet.supervisor.mqtt_types import Delivery, LinkStats, PublishFailed
from wasmfleet.supervisor.mqtt_version import ProtocolChoice, message_trace

log = logging.getLogger("wasmfleet.supervisor.mqtt")
__all__ = ["BrokerLink", "Delivery", "LinkStats", "PublishFailed"]


class BrokerLink:
    """One paho client, its subscriptions, ordered manual acks and publication futures."""

    def __init__(
        self,
        broker: BrokerAddress,
        *,
        client_id: str,
        capacity: int,
        state_path: Path,
        on_message: Callable[[Delivery], None],
        claim: NameClaim | None = None,
        protocol: str = "3.1.1",
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.capacity = capacity
        self.connected = False
        self.stats = LinkStats()
        self.claim = claim or NameClaim(broker, client_id)
        self._on_message = on_message
        self.version = ProtocolChoice(protocol, capacity)
        self._client = self._new_client()
        self._driver = PahoOnLoop(
            self._client,
            broker.host,
            broker.port,
            on_unreachable=self._unreachable,
            before_connect=self._before_connect,
            on_not_now=self._held_off,
            before_attempt=self._before_attempt,
            connect_options=self.version.connect_options(),
        )
        self._in_queue = 0
        self._stopping = threading.Event()
        self._generation = 0
        self._acks: deque[Delivery] = deque()
        self._held: deque[Delivery] = deque()
        """Read while ``capacity`` messages were in progress: dispatched as room frees up."""
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._subs = SubscriptionBook(client_id, state_path)
        self._subs.refused = self.stats.refused_filters
        self._guest = GuestPublisher(self)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _new_client(self) -> mqtt.Client:
        """A paho client for the version in use, with the will, manual acks and callbacks."""
        version = self.version.version
        client = paho_client(
            self.broker, client_id=self.client_id, clean_session=False, protocol=version
        )
        client.will_set(self.claim.topic, self.claim.offline, qos=1, retain=True)
        client.manual_ack_set(True)
        # paho lets only 20 QoS 1/2 publications wait for their PUBACK by default; results
        # are acknowledged upstream only after their PUBACK, so that window would cap a
        # stream at 20 messages per round trip. Keep it as wide as the incoming window.
        client.max_inflight_messages_set(max(20, self.capacity))
        client.on_connect = self._cb_connect
        client.on_disconnect = self._cb_disconnect
        client.on_message = self._cb_message
        client.on_subscribe = self._cb_subscribe
        return client

    def _before_connect(self) -> None:
        """Connecting thread: is the client id free, and (auto) does the broker speak 5?"""
        self.claim.check()
        if self.version.probe(self.broker):
            raise NotNow("the broker does not speak MQTT 5: connect with 3.1.1", 0)

    def _before_attempt(self) -> None:
        """Before each connection attempt: a 3.1.1 client once the broker refused 5 (auto)."""
        if self.version.take_fall_back():
            log.info("the MQTT broker does not speak 5: using 3.1.1 (messages carry no trace)")
            self._client = self._new_client()
            self._driver.use(self._client, self.version.connect_options())

    @property
    def subscriptions(self) -> dict[str, int]:
        """Filter -> QoS this client asks of the broker."""
        return dict(self._subs.wanted)

    @property
    def active(self) -> list[str]:
        """The filters the broker confirmed: messages on them reach this device."""
        return self._subs.active

    @property
    def name_conflict(self) -> dict[str, Any] | None:
        """Who holds this client id instead of us (None when nobody else does)."""
        return self.claim.conflict

    @property
    def stopping(self) -> bool:
        """True once ``stop`` was called."""
        return self._stopping.is_set()

    @property
    def queued(self) -> int:
        """Messages handed to their functions and not yet released (at most ``capacity``)."""
        return self._in_queue

    @property
    def held(self) -> int:
        """Messages read from the broker that wait for room (a few, after a full read)."""
        return len(self._held)

    def start(self) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        self.loop = asyncio.get_running_loop()
        self._driver.start()
        log.info("connecting to the MQTT broker", extra={"broker": self.broker.url})

    async def stop(self) -> None:
        """Say ``offline`` and disconnect; unacknowledged messages stay with the broker."""
        self._stopping.set()
        self.claim.stopping.set()
        if self.connected:  # a DISCONNECT discards the will: say it ourselves
            said = self.publish(self.claim.topic, self.claim.offline, 1, retain=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(said, 2.0)
        await self._driver.stop()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PublishFailed("the supervisor stopped"))
                future.exception()  # retrieved: nobody may be waiting any more
        self._waiting.clear()

    # -- subscriptions (event loop) -------------------------------------------------------

    def set_subscriptions(self, wanted: dict[str, int]) -> None:
        """Subscribe to what triggers need now (overlaps merged), unsubscribe the rest."""
        self._subs.want(wanted)
        if self.connected:
            self._subs.sync(self._client)

    # -- deliveries -----------------------------------------------------------------------

    def release(self, delivery: Delivery) -> None:
        """The delivery's function runs are over: make room for the next message."""
        if not delivery.released:
            delivery.released = True
            self._in_queue -= 1
            held = self._held
            while held and self._in_queue < self.capacity:
                self._dispatch(held.popleft())
            if not held and self._in_queue < self.capacity and self._driver.paused:
                self._driver.resume_reading()

    def ack(self, delivery: Delivery) -> None:
        """The delivery was handled or dead-lettered: acknowledge it (in arrival order)."""
        self.release(delivery)
        delivery.done = True
        self._send_acks()

    def _send_acks(self) -> None:
        acks = self._acks
        while acks and acks[0].done:
            head = acks.popleft()
            if head.generation == self._generation and self.connected:
                self._client.ack(head.mid, head.qos)

    # -- publishing -----------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool = False,
        trace: TraceContext | None = None,
    ) -> asyncio.Future[None]:
        """Send a message (event loop); the future resolves when the broker has it.

        ``trace``: the span of the call publishing it, carried over MQTT 5 (not over 3.1.1)."""
        loop = self.loop or asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        props = None if trace is None else self.version.publish_properties(trace)
        try:
            info = self._client.publish(topic, payload, qos, retain, props)
        except (ValueError, TypeError) as err:
            return self._failed(future, topic, str(err))
        if info.rc != mqtt.MQTT_ERR_SUCCESS and not (info.rc == mqtt.MQTT_ERR_NO_CONN and qos > 0):
            return self._failed(future, topic, mqtt.error_string(info.rc))
        self.stats.published += 1
        if qos == 0:
            future.set_result(None)
        else:
            if not self._waiting:
                self._client.on_publish = self._cb_publish
            self._waiting[info.mid] = future
        return future

    def _failed(
        self, future: asyncio.Future[None], topic: str, problem: str
    ) -> asyncio.Future[None]:
        self.stats.publish_errors += 1
        future.set_exception(PublishFailed(f"could not publish to {topic!r}: {problem}"))
        return future

    def publish_from_guest(self, ctx: GuestContext, topic: str, payload: bytes, qos: int) -> int:
        """``wasmfleet.publish`` (any thread): 0, E_BUSY or E_DISCONNECTED (mqtt_guest.py)."""
        return self._guest.publish(ctx, topic, payload, qos)

    # -- paho callbacks (on the event loop: mqtt_loop.py) ---------------------------------

    def _cb_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            if not self.version.refused(reason):  # refused 5 under auto: try 3.1.1 next
                self._refused(str(reason))
            return
        self._generation += 1
        self._driver.reset_backoff()
        self._connected(bool(flags.session_present))

    def _cb_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._disconnected(str(reason))

    def _cb_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if topic == self.claim.ping_topic:
            self._ping(message)
            return
        if not self._subs.solicited(topic):  # amqtt: another client's retained subscription
            self.stats.unsolicited += 1
            self._ack_at_once(message)
            return
        delivery = Delivery(
            topic=topic,
            payload=bytes(message.payload),
            qos=message.qos,
            retain=bool(message.retain),
            dup=bool(message.dup),
            mid=message.mid,
            generation=self._generation,
            trace=message_trace(message) if self.version.v5 else None,
        )
        if self._held or self._in_queue >= self.capacity:
            self._held.append(delivery)
        else:
            self._dispatch(delivery)
        if self._in_queue >= self.capacity and not self._driver.paused:
            self._driver.pause_reading()

    def _dispatch(self, delivery: Delivery) -> None:
        self._in_queue += 1
        if delivery.qos > 0:
            self._acks.append(delivery)
        self._on_message(delivery)

    def _cb_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._confirmed(mid, str(reason) if reason.is_failure else None)

    def _cb_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._subs.suback(mid, [(r.is_failure, str(r)) for r in reasons])

    # -- connection events ----------------------------------------------------------------

    def _connected(self, session_present: bool) -> None:
        self.connected = True
        self.version.connected()
        self.stats.connects += 1
        self.stats.last_error = None
        self._acks.clear()  # deliveries of an earlier connection are sent again by the broker
        self._subs.connected(session_present)
        if self.claim.conflict is not None:
            log.info("the other supervisor with this name is gone; connected in its place")
        self.claim.connected()
        log.info(
            "connected to the MQTT broker",
            extra={
                "broker": self.broker.url,
                "session_present": session_present,
                "mqtt_protocol": self.version.name,
            },
        )
        self._say_online()
        self._client.subscribe(self.claim.ping_topic, 0)
        self._subs.sync(self._client)

    # -- presence (mqtt_presence.py) ------------------------------------------------------

    def _say_online(self) -> None:
        self.publish(self.claim.topic, self.claim.online, 1, retain=True).add_done_callback(_quiet)

    def _ping(self, message: mqtt.MQTTMessage) -> None:
        """Another supervisor's probe asks whether this client id's holder is alive: answer."""
        self._ack_at_once(message)  # QoS 1 through a wider trigger subscription
        reply = self.claim.pong(bytes(message.payload))
        if reply is not None and self.connected and not self._stopping.is_set():
            self._client.publish(reply, self.claim.online, 0)

    def _ack_at_once(self, message: mqtt.MQTTMessage) -> None:
        """Acknowledge a message no function handles, in order with the others."""
        if message.qos > 0:
            done = Delivery("", b"", message.qos, False, False, message.mid, self._generation)
            done.done = done.released = True
            self._acks.append(done)
            self._send_acks()

    def _held_off(self, err: NotNow) -> None:
        """The name check said wait: report who holds the client id (once per holder)."""
        if not isinstance(err, HoldOff):
            return
        first = self.claim.hold_off(err)
        self.stats.last_error = err.message
        if first:
            log.error(err.message, extra={"client_id": self.client_id})

    def _disconnected(self, reason: str) -> None:
        if self.connected:
            if not self._stopping.is_set():
                log.warning("MQTT broker connection lost", extra={"reason": reason})
            self.stats.last_error = f"connection lost: {reason}"
        self.connected = False

    def _unreachable(self, problem: str) -> None:
        if self.stats.last_error is None or "refused" not in self.stats.last_error:
            self.stats.last_error = f"cannot reach the broker at {self.broker.url}: {problem}"

    def _refused(self, reason: str) -> None:
        self.stats.last_error = f"the broker refused the connection: {reason}"
        log.error("the MQTT broker refused the connection", extra={"reason": reason})

    def _confirmed(self, mid: int, failure: str | None) -> None:
        future = self._waiting.pop(mid, None)
        if not self._waiting:
            # paho builds a PUBACK reason code and properties for every QoS 0 packet it
            # writes while on_publish is set (a tenth of a QoS 0 message's cost): only
            # listen while a QoS 1/2 publication waits for its acknowledgement.
            self._client.on_publish = None
        if future is None or future.done():
            return
        if failure is None:
            future.set_result(None)
        else:
            self.stats.publish_errors += 1
            future.set_exception(PublishFailed(f"the broker refused the message: {failure}"))


def _quiet(future: asyncio.Future[None]) -> None:
    """Mark a presence publication's failure as seen (the connection's loss says enough)."""
    if not future.cancelled():
        future.exception()
