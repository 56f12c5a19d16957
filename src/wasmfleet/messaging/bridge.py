"""Store-and-forward bridge: topics of a source (edge) broker copied to a destination (cloud).

With the outbox (the default) every message takes this path::

    source ──PUBLISH q1──► on_message ──► outbox.put (committed, fsynced) ──► PUBACK to source
    outbox.pending ──► PUBLISH q1 to destination ──► PUBACK from destination ──► outbox.delete

The source session is persistent (``clean_session=False``, a stable client id), so whatever is
published while the bridge is down waits in the source broker; whatever the bridge acknowledged
is already on its disk; whatever the destination has not acknowledged stays in the outbox and
is sent again after a reconnect or a restart. Messages go out in the order they were stored
(so in order per topic); a resend can repeat messages, never skip one, and every copy carries
the same id (``envelope``), which sinks use to store each message once. A message's W3C
``traceparent`` (MQTT 5 user property, or an envelope's header key) goes along: as a user
property into an MQTT 5 destination, in the envelope into a 3.1.1 one.

Without the outbox (``outbox=None``, best effort) messages are forwarded straight from
``on_message`` on a clean session: what the bridge holds in memory is lost with it.

Only messages whose topic matches one of the bridge's filters cross it; anything else the
source sends is acknowledged and counted as ``unsolicited``. amqtt 0.12 sends a connecting client
the retained messages of every filter that *any* of its clients has subscribed to (e.g. a
supervisor's ``wasmfleet/presence/...``), and a bridge must not copy those to the destination.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.messaging.client import paho_client
from wasmfleet.messaging.envelope import carried_id, carried_trace, new_id
from wasmfleet.messaging.outbox import Outbox, StoredMessage
from wasmfleet.messaging.service import run_until_stopped
from wasmfleet.messaging.wire import SESSION_NEVER_EXPIRES, new_properties, outgoing
from wasmfleet.service.backoff import Backoff

log = logging.getLogger("wasmfleet.bridge")
__all__ = ["SESSION_NEVER_EXPIRES", "Bridge", "BridgeSettings", "new_properties", "outgoing"]

RECONNECT_DELAY = (1, 8)
"""Seconds paho waits before reconnecting: doubles from the first to the second number."""


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything a bridge runs with."""

    source: BrokerAddress
    destination: BrokerAddress
    topics: tuple[str, ...]
    client_id: str
    outbox: Path | None
    qos: int = 1
    source_protocol: int = 4
    destination_protocol: int = 4
    keepalive: int = 30
    window: int = 32
    status_interval: float = 10.0


def default_client_id(outbox: Path | None) -> str:
    """A client id that stays the same for this host and outbox, so the session survives."""
    if outbox is None:
        return f"wasmfleet-bridge-{new_id()[-12:]}"
    seed = f"{socket.gethostname()}:{Path(outbox).expanduser().resolve()}"
    return f"wasmfleet-bridge-{hashlib.sha256(seed.encode()).hexdigest()[:12]}"


class Bridge:
    """One running bridge: two paho clients, an outbox and a forwarding thread."""

    def __init__(self, settings: BridgeSettings) -> None:
        self.settings = settings
        self.outbox = Outbox(settings.outbox) if settings.outbox is not None else None
        self.stats = collections.Counter[str]()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._closing = False
        self._acks: collections.deque[tuple[int, int, bool]] = collections.deque()
        self._epoch = 0
        self._connected = {"source": False, "destination": False}
        self._window = settings.window
        self._subscribe_mid: int | None = None
        self._inflight: dict[int, int] = {}  # destination packet id -> outbox seq
        self._forwarder = threading.Thread(target=self._forward_loop, name="bridge-forward")
        self.source = self._client(settings.source, settings.source_protocol, "source")
        self.destination = self._client(settings.destination, settings.destination_protocol, "out")

    # -- lifecycle -----------------------------------------------------------------------

    def _client(self, broker: BrokerAddress, protocol: int, role: str) -> mqtt.Client:
        durable = role == "source" and self.outbox is not None
        client_id = (
            self.settings.client_id if role == "source" else f"{self.settings.client_id}-out"
        )
        client = paho_client(
            broker, client_id=client_id, clean_session=not durable, protocol=protocol
        )
        client.reconnect_delay_set(*RECONNECT_DELAY)
        if role == "source":
            client.manual_ack_set(durable)
            client.on_connect = self._source_connected
            client.on_message = self._on_message
            client.on_subscribe = self._subscribed
            client.on_disconnect = self._disconnected("source")
        else:
            client.max_inflight_messages_set(0)  # the forwarder's window bounds what is in flight
            client.on_connect = self._destination_connected
            client.on_publish = self._published
            client.on_disconnect = self._disconnected("destination")
        props = None
        if protocol == 5 and durable:
            props = new_properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        client.connect_async(
            broker.host,
            broker.port,
            keepalive=self.settings.keepalive,
            clean_start=not durable if protocol == 5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        return client

    def start(self) -> None:
        """Connect to both brokers (in the background; they may be down) and start forwarding."""
        if self.outbox is not None:
            waiting = self.outbox.count()
            log.info("outbox %s: %d message(s) waiting", self.outbox.path, waiting)
        self.destination.loop_start()
        if self.outbox is not None:
            self._forwarder.start()
        self.source.loop_start()

    def stop(self, drain: float = 2.0) -> None:
        """Stop receiving, give in-flight messages ``drain`` seconds, then disconnect."""
        self._closing = True
        self.source.disconnect()
        self.source.loop_stop()
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline and self._acks_outstanding():
            time.sleep(0.05)
        self._stopping.set()
        self._wake.set()
        if self._forwarder.is_alive():
            self._forwarder.join(timeout=5)
        self.destination.disconnect()
        self.destination.loop_stop()
        log.info("stopped; %s", self.status())
        if self.outbox is not None:
            self.outbox.close()

    def _acks_outstanding(self) -> bool:
        return bool(self._connected["destination"] and self._inflight)

    def counters(self) -> dict[str, Any]:
        """Connections and counters, as JSON-able data (call it while the bridge runs)."""
        s = self.stats
        return {
            "source_connected": self._connected["source"],
            "destination_connected": self._connected["destination"],
            "received": s["received"],
            "redelivered": s["duplicates"],
            "forwarded": s["forwarded"],
            "rejected": s["rejected"],
            "dropped": s["dropped"],
            "unsolicited": s["unsolicited"],
            "waiting": self.outbox.count() if self.outbox is not None else 0,
        }

    def status(self) -> str:
        """One line: connections and counters."""
        c = self.counters()
        up = {k: "up" if c[f"{k}_connected"] else "down" for k in ("source", "destination")}
        return (
            f"source {up['source']}, destination {up['destination']}; received {c['received']}"
            f" (+{c['redelivered']} redelivered), forwarded {c['forwarded']}, "
            f"rejected {c['rejected']}, dropped {c['dropped']}, unsolicited {c['unsolicited']}, "
            f"waiting in outbox {c['waiting']}"
        )

    # -- source side ---------------------------------------------------------------------

    def _source_connected(
        self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any
    ) -> None:
        if reason.is_failure:
            log.error("source %s refused the connection: %s", self.settings.source.url, reason)
            return
        self._connected["source"] = True
        wanted = "\n".join(sorted(self.settings.topics))
        stored = self.outbox.get_meta("subscriptions") if self.outbox is not None else None
        if flags.session_present and stored == wanted:
            log.info("connected to source %s (session resumed)", self.settings.source.url)
            return
        if flags.session_present and stored:
            gone = set(stored.split("\n")) - set(self.settings.topics)
            if gone:
                client.unsubscribe(sorted(gone))
        _rc, self._subscribe_mid = client.subscribe(
            [(t, self.settings.qos) for t in self.settings.topics]
        )
        log.info(
            "connected to source %s; subscribing to %s",
            self.settings.source.url,
            ", ".join(self.settings.topics),
        )

    def _subscribed(self, _c: mqtt.Client, _u: Any, mid: int, reasons: list[Any], _p: Any) -> None:
        refused = [t for t, r in zip(self.settings.topics, reasons, strict=False) if r.is_failure]
        if refused:
            log.error("source refused the subscription to %s", ", ".join(refused))
            return
        if mid == self._subscribe_mid and self.outbox is not None:
            self.outbox.set_meta("subscriptions", "\n".join(sorted(self.settings.topics)))
        log.info("subscribed to %s at QoS %d", ", ".join(self.settings.topics), self.settings.qos)

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if not self._wanted(message.topic):
                self._drop_unsolicited(client, message)
            elif self.outbox is None:
                self._forward_now(message)
            else:
                self._receive(client, message)
        except Exception:  # never let one message kill paho's network thread
            log.exception("could not take message %d; the source will redeliver it", message.mid)

    def _wanted(self, topic: str) -> bool:
        """True when ``topic`` matches one of the bridge's filters."""
        return any(mqtt.topic_matches_sub(sub, topic) for sub in self.settings.topics)

    def _drop_unsolicited(self, client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        """A message the bridge did not subscribe to: acknowledged, counted, not forwarded."""
        if message.qos > 0 and self.outbox is not None:
            client.ack(message.mid, message.qos)  # manual acks: else the source redelivers it
        if self.stats["unsolicited"] == 0:
            log.info(
                "source %s sent a message on %s, which none of the bridge's topics (%s) "
                "match; it is not forwarded (later ones are only counted)",
                self.settings.source.url,
                message.topic,
                ", ".join(self.settings.topics),
            )
        self.stats["unsolicited"] += 1

    def _receive(self, client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        """Commit to the outbox, then acknowledge to the source."""
        payload = bytes(message.payload)
        props = getattr(message, "properties", None)
        known = carried_id(message.payload, props)
        if known is not None:
            key, digest, dedupe, message_id = f"id:{known}", "", True, known
        elif message.qos > 0:
            digest = hashlib.sha256(message.topic.encode() + b"\0" + payload).hexdigest()[:32]
            key, dedupe, message_id = f"mid:{message.mid}", bool(message.dup), new_id()
        else:
            key, digest, dedupe, message_id = None, "", False, new_id()
        trace = carried_trace(payload, props)
        stored = self._store(message, payload, message_id, key, digest, dedupe, trace)
        if stored is None:
            return  # stopping: not acked, so the source broker keeps it
        if message.qos > 0:
            client.ack(message.mid, message.qos)
        self.stats["received" if stored else "duplicates"] += 1
        self._wake.set()

    def _store(
        self,
        message: mqtt.MQTTMessage,
        payload: bytes,
        message_id: str,
        key: str | None,
        digest: str,
        dedupe: bool,
        traceparent: str | None = None,
    ) -> bool | None:
        """Commit to the outbox, retrying while the disk fails; None when stopping."""
        assert self.outbox is not None
        backoff = Backoff(0.1, 5.0)
        while not self._stopping.is_set():
            try:
                _id, stored = self.outbox.put(
                    message.topic,
                    payload,
                    message_id=message_id,
                    qos=message.qos,
                    retain=bool(message.retain),
                    key=key,
                    digest=digest,
                    dedupe=dedupe,
                    traceparent=traceparent,
                )
                return stored
            except Exception as err:  # disk full, I/O error: hold the message back and retry
                delay = backoff.next()
                log.error(
                    "cannot store a message in the outbox (%s); retrying in %.1f s", err, delay
                )
                self._stopping.wait(delay)
        return None

    def _forward_now(self, message: mqtt.MQTTMessage) -> None:
        """Best effort: publish to the destination straight away, nothing kept on disk."""
        props = getattr(message, "properties", None)
        known = carried_id(message.payload, props)
        stored = StoredMessage(
            seq=0,
            id=known or new_id(),
            topic=message.topic,
            payload=bytes(message.payload),
            qos=self.settings.qos,
            retain=bool(message.retain),
            stored_at=time.time(),
            traceparent=carried_trace(message.payload, props),
        )
        payload, props = outgoing(stored, self.settings.destination_protocol)
        info = self.destination.publish(
            message.topic, payload, qos=self.settings.qos, retain=stored.retain, properties=props
        )
        self.stats["received"] += 1
        if info.rc == mqtt.MQTT_ERR_SUCCESS:
            self.stats["forwarded"] += 1
        elif self.settings.qos == 0:
            self.stats["dropped"] += 1

    # -- destination side ----------------------------------------------------------------

    def _destination_connected(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.error(
                "destination %s refused the connection: %s", self.settings.destination.url, reason
            )
            return
        with self._lock:
            if self.outbox is not None:
                client.drop_out_messages()  # the forwarder resends them from the outbox, in order
            self._epoch += 1
            self._connected["destination"] = True
            limit = getattr(props, "ReceiveMaximum", None)
            self._window = min(self.settings.window, int(limit)) if limit else self.settings.window
        log.info("connected to destination %s", self.settings.destination.url)
        self._wake.set()

    def _published(self, _c: mqtt.Client, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        # Called with paho's message lock held: only hand the ack to the forwarder thread.
        self._acks.append((self._epoch, mid, bool(reason.is_failure)))
        self._wake.set()

    def _disconnected(self, role: str) -> Any:
        url = self.settings.source.url if role == "source" else self.settings.destination.url

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            was = self._connected[role]
            with self._lock:
                self._connected[role] = False
            if was and not self._closing:
                log.warning("lost %s %s (%s); reconnecting", role, url, reason)

        return on_disconnect

    # -- forwarding ----------------------------------------------------------------------

    def _forward_loop(self) -> None:
        """Publish stored messages in order, at most ``window`` unacknowledged at a time."""
        epoch, cursor = self._epoch, 0
        while not self._stopping.is_set():
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            try:
                with self._lock:
                    epoch, cursor = self._forward_step(epoch, cursor)
            except Exception as err:  # the outbox failed (disk): keep the messages, try again
                log.error("forwarding from the outbox failed (%s); retrying", err)
                self._stopping.wait(1.0)

    def _forward_step(self, epoch: int, cursor: int) -> tuple[int, int]:
        """Apply acknowledgements, then publish what fits in the window; the new position."""
        assert self.outbox is not None
        done = []
        while self._acks:
            ack_epoch, mid, failed = self._acks.popleft()
            seq = self._inflight.pop(mid, None) if ack_epoch == epoch else None
            if seq is not None:
                done.append(seq)
                self.stats["rejected" if failed else "forwarded"] += 1
                if failed:
                    log.error("the destination refused message #%d; it is dropped", seq)
        self.outbox.delete(done)
        if self._epoch != epoch:  # reconnected: paho dropped what was in flight, resend it
            epoch, cursor = self._epoch, 0
            self._inflight.clear()
        room = self._window - len(self._inflight)
        if not self._connected["destination"] or room <= 0:
            return epoch, cursor
        for message in self.outbox.pending(after=cursor, limit=room):
            payload, props = outgoing(message, self.settings.destination_protocol)
            info = self.destination.publish(
                message.topic, payload, qos=1, retain=message.retain, properties=props
            )
            self._inflight[info.mid] = message.seq
            cursor = message.seq
        return epoch, cursor


def run_bridge(settings: BridgeSettings, stop: threading.Event) -> None:
    """Run a bridge until ``stop`` is set, logging its status every ``status_interval`` s."""
    run_until_stopped(Bridge(settings), stop, settings.status_interval, log)
