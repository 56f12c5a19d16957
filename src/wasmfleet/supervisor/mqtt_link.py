"""The supervisor's one MQTT connection: a paho client run on the event loop (mqtt_loop.py).

- **Session.** Client id ``wasmfleet-<device name>`` with a persistent session (MQTT 3.1.1
  ``clean_session=false``): while the supervisor is down or restarting, the broker keeps
  its subscriptions and queues QoS 1/2 messages. The filters the broker holds are kept in
  ``<data dir>/mqtt-subscriptions.json``, so a restart that finds its session re-subscribes
  nothing (re-subscribing would make the broker send every retained message again).
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
  message to the loop, where every paho call happens.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.core.subscriptions import plan_subscriptions
from wasmfleet.messaging.client import paho_client
from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.runtime.host.messaging import E_BUSY, E_DISCONNECTED, PUBLISH_OK
from wasmfleet.supervisor.mqtt_loop import PahoOnLoop
from wasmfleet.supervisor.store import write_atomic

log = logging.getLogger("wasmfleet.supervisor.mqtt")
MAX_GUEST_PENDING = 1000
"""Guest publications waiting for the broker, at most; beyond, publish answers E_BUSY."""


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
    done: bool = False
    released: bool = False


@dataclass(slots=True)
class GuestPublish:
    """A ``wasmfleet.publish`` call, once the event loop has handed it to paho."""

    topic: str
    future: asyncio.Future[None] | None = None


@dataclass(slots=True)
class LinkStats:
    """Counters of the connection."""

    connects: int = 0
    published: int = 0
    """Messages handed to the connection: results, guest publications and dead letters."""
    guest_published: int = 0
    """Of those, ``wasmfleet.publish`` calls."""
    publish_errors: int = 0
    refused_filters: dict[str, str] = field(default_factory=dict)
    last_error: str | None = None


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
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self.capacity = capacity
        self.connected = False
        self.stats = LinkStats()
        self._state_path = state_path
        self._on_message = on_message
        self._client = paho_client(broker, client_id=client_id, clean_session=False)
        self._client.manual_ack_set(True)
        # paho lets only 20 QoS 1/2 publications wait for their PUBACK by default; results
        # are acknowledged upstream only after their PUBACK, so that window would cap a
        # stream at 20 messages per round trip. Keep it as wide as the incoming window.
        self._client.max_inflight_messages_set(max(20, capacity))
        self._driver = PahoOnLoop(
            self._client, broker.host, broker.port, on_unreachable=self._unreachable
        )
        self._client.on_connect = self._cb_connect
        self._client.on_disconnect = self._cb_disconnect
        self._client.on_message = self._cb_message
        self._client.on_publish = self._cb_publish
        self._client.on_subscribe = self._cb_subscribe
        self._in_queue = 0
        self._stopping = threading.Event()
        self._generation = 0
        self._acks: deque[Delivery] = deque()
        self._held: deque[Delivery] = deque()
        """Read while ``capacity`` messages were in progress: dispatched as room frees up."""
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._sub_mids: dict[int, list[str]] = {}
        self._wanted: dict[str, int] = {}
        self._subscribed = self._load_state()
        self._active: set[str] = set()
        """Filters the broker confirmed (SUBACK), or kept in a session it still had."""
        self._guest_pending = 0
        self._guest_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def subscriptions(self) -> dict[str, int]:
        """Filter -> QoS this client asks of the broker."""
        return dict(self._wanted)

    @property
    def active(self) -> list[str]:
        """The filters the broker confirmed: messages on them reach this device."""
        return sorted(f for f in self._active if f in self._wanted)

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
        self._loop = asyncio.get_running_loop()
        self._driver.start()
        log.info("connecting to the MQTT broker", extra={"broker": self.broker.url})

    async def stop(self) -> None:
        """Disconnect; unacknowledged messages stay with the broker for the next start."""
        self._stopping.set()
        await self._driver.stop()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(PublishFailed("the supervisor stopped"))
                future.exception()  # retrieved: nobody may be waiting any more
        self._waiting.clear()

    # -- subscriptions (event loop) -------------------------------------------------------

    def set_subscriptions(self, wanted: dict[str, int]) -> None:
        """Subscribe to what triggers need now (overlaps merged), unsubscribe the rest."""
        self._wanted = plan_subscriptions(wanted)
        if self.connected:
            self._sync()

    def _sync(self) -> None:
        stale = sorted(f for f in self._subscribed if f not in self._wanted)
        new = [(f, q) for f, q in self._wanted.items() if self._subscribed.get(f) != q]
        if stale:
            rc, _mid = self._client.unsubscribe(stale)
            if rc == mqtt.MQTT_ERR_SUCCESS:
                for topic_filter in stale:
                    self._subscribed.pop(topic_filter, None)
                    self._active.discard(topic_filter)
        if new:
            rc, mid = self._client.subscribe(new)
            if rc == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                self._subscribed.update(new)
                self._sub_mids[mid] = [f for f, _ in new]
        if stale or new:
            log.info(
                "MQTT subscriptions changed",
                extra={"subscribed": ",".join(f for f, _ in new), "unsubscribed": ",".join(stale)},
            )
            self._save_state()

    def _load_state(self) -> dict[str, int]:
        try:
            state = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(state, dict) or state.get("client_id") != self.client_id:
            return {}
        subs = state.get("subscriptions")
        return {str(k): int(v) for k, v in subs.items()} if isinstance(subs, dict) else {}

    def _save_state(self) -> None:
        state = {"client_id": self.client_id, "subscriptions": self._subscribed}
        try:
            write_atomic(self._state_path, json.dumps(state, sort_keys=True).encode())
        except OSError as err:
            log.warning("could not save MQTT subscriptions", extra={"error": str(err)})

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
        acks = self._acks
        while acks and acks[0].done:
            head = acks.popleft()
            if head.generation == self._generation and self.connected:
                self._client.ack(head.mid, head.qos)

    # -- publishing -----------------------------------------------------------------------

    def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool = False
    ) -> asyncio.Future[None]:
        """Send a message (event loop); the future resolves when the broker has it."""
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        try:
            info = self._client.publish(topic, payload, qos, retain)
        except (ValueError, TypeError) as err:
            return self._failed(future, topic, str(err))
        if info.rc != mqtt.MQTT_ERR_SUCCESS and not (info.rc == mqtt.MQTT_ERR_NO_CONN and qos > 0):
            return self._failed(future, topic, mqtt.error_string(info.rc))
        self.stats.published += 1
        if qos == 0:
            future.set_result(None)
        else:
            self._waiting[info.mid] = future
        return future

    def _failed(
        self, future: asyncio.Future[None], topic: str, problem: str
    ) -> asyncio.Future[None]:
        self.stats.publish_errors += 1
        future.set_exception(PublishFailed(f"could not publish to {topic!r}: {problem}"))
        return future

    def publish_from_guest(self, ctx: GuestContext, topic: str, payload: bytes, qos: int) -> int:
        """``wasmfleet.publish`` (any thread): 0, E_BUSY or E_DISCONNECTED."""
        loop = self._loop
        if loop is None or self._stopping.is_set():
            return E_DISCONNECTED
        if qos == 0 and not self.connected:
            return E_DISCONNECTED
        with self._guest_lock:
            if self._guest_pending >= MAX_GUEST_PENDING:
                return E_BUSY
            self._guest_pending += 1
        token = GuestPublish(topic)
        if ctx.message is not None:
            ctx.message.publishes.append(token)
        loop.call_soon_threadsafe(self._publish_token, token, payload, qos)
        return PUBLISH_OK

    def _publish_token(self, token: GuestPublish, payload: bytes, qos: int) -> None:
        token.future = self.publish(token.topic, payload, qos)
        self.stats.guest_published += 1
        token.future.add_done_callback(self._guest_done)

    def _guest_done(self, future: asyncio.Future[None]) -> None:
        with self._guest_lock:
            self._guest_pending -= 1
        if not future.cancelled() and future.exception() is not None:
            log.warning("a guest's publication failed", extra={"error": str(future.exception())})

    # -- paho callbacks (on the event loop: mqtt_loop.py) ---------------------------------

    def _cb_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
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
        delivery = Delivery(
            topic=message.topic,
            payload=bytes(message.payload),
            qos=message.qos,
            retain=bool(message.retain),
            dup=bool(message.dup),
            mid=message.mid,
            generation=self._generation,
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
        self._suback(mid, [(r.is_failure, str(r)) for r in reasons])

    # -- connection events ----------------------------------------------------------------

    def _connected(self, session_present: bool) -> None:
        self.connected = True
        self.stats.connects += 1
        self.stats.last_error = None
        self._acks.clear()  # deliveries of an earlier connection are sent again by the broker
        if not session_present:
            self._subscribed = {}
        self._active = set(self._subscribed)
        log.info(
            "connected to the MQTT broker",
            extra={"broker": self.broker.url, "session_present": session_present},
        )
        self._sync()

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
        if future is None or future.done():
            return
        if failure is None:
            future.set_result(None)
        else:
            self.stats.publish_errors += 1
            future.set_exception(PublishFailed(f"the broker refused the message: {failure}"))

    def _suback(self, mid: int, results: list[tuple[bool, str]]) -> None:
        filters = self._sub_mids.pop(mid, [])
        for topic_filter, (failed, reason) in zip(filters, results, strict=False):
            if failed:
                self._subscribed.pop(topic_filter, None)
                self._active.discard(topic_filter)
                self.stats.refused_filters[topic_filter] = reason
                log.error(
                    "the MQTT broker refused a subscription",
                    extra={"filter": topic_filter, "reason": reason},
                )
            else:
                self.stats.refused_filters.pop(topic_filter, None)
                self._active.add(topic_filter)
