"""Sinks: store every message of some topics as an object, once, then acknowledge it.

A sink subscribes at QoS 1 on a persistent session and acknowledges a message only after its
object is durable, so a crash never loses one: the broker redelivers what was not acked. The
object's key is ``<topic>/<id>`` (``object_key``), where the id is the one the bridge gave the
message (envelope or MQTT 5 user property, see ``envelope``) or, for a message that came
without one, ``sha256-<hex>`` of its payload. Storing the same id twice keeps one object, so a
redelivered or resent message is harmless. Objects hold the raw payload (the envelope removed).

Stores: a directory (write a temporary file, fsync, rename, fsync the directory) and an
S3-compatible bucket (boto3, imported only when a bucket is configured).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes

from wasmfleet.core.broker_url import BrokerAddress
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.messaging.bridge import RECONNECT_DELAY, SESSION_NEVER_EXPIRES, new_properties
from wasmfleet.messaging.client import paho_client
from wasmfleet.messaging.envelope import carried_id, content_id, unwrap
from wasmfleet.messaging.service import run_until_stopped
from wasmfleet.service.backoff import Backoff

log = logging.getLogger("wasmfleet.sink")


@dataclass(frozen=True, slots=True)
class S3Target:
    """An S3-compatible bucket; credentials come from the usual AWS environment/profile."""

    bucket: str
    endpoint: str | None = None
    prefix: str = ""
    region: str | None = None


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Everything a sink runs with."""

    broker: BrokerAddress
    topics: tuple[str, ...]
    client_id: str
    directory: Path | None = None
    s3: S3Target | None = None
    protocol: int = 4
    keepalive: int = 30
    status_interval: float = 10.0


@dataclass(frozen=True, slots=True)
class Item:
    """A message ready to store: its id, topic and raw payload."""

    id: str
    topic: str
    payload: bytes
    meta: dict[str, str] = field(default_factory=dict)


def default_client_id(directory: Path | None, s3: S3Target | None) -> str:
    """A client id that stays the same for this host and these stores (a durable session)."""
    where = [str(directory.expanduser().resolve()) if directory else "", repr(s3)]
    seed = f"{socket.gethostname()}:{where}"
    return f"wasmfleet-sink-{hashlib.sha256(seed.encode()).hexdigest()[:12]}"


def object_key(topic: str, message_id: str) -> str:
    """``<topic>/<id>`` with each topic level made safe as a path segment.

    ``%`` becomes ``%25``, a leading ``.`` becomes ``%2E`` (so ``.`` and ``..`` are plain
    names and no object looks like a hidden temporary file) and an empty level becomes ``%``.
    """
    levels = []
    for level in topic.split("/"):
        text = level.replace("%", "%25")
        if text.startswith("."):
            text = "%2E" + text[1:]
        levels.append(text or "%")
    return "/".join([*levels, message_id])


def item_of(message: mqtt.MQTTMessage) -> Item:
    """What a received message stores: envelope removed, id found or derived."""
    data = bytes(message.payload)
    envelope = unwrap(data)
    if envelope is not None:
        meta = {"topic": envelope.topic or message.topic}
        if envelope.ts is not None:
            meta["ts"] = f"{envelope.ts:.3f}"
        return Item(envelope.id, message.topic, envelope.payload, meta)
    known = carried_id(data, getattr(message, "properties", None))
    return Item(known or content_id(data), message.topic, data, {"topic": message.topic})


class Store(Protocol):
    """Where a sink puts objects."""

    def put(self, key: str, item: Item) -> bool:
        """Store durably under ``key``; False when it was already there."""
        ...


class DirectoryStore:
    """Objects as files under a directory, written atomically and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigurationError(f"Cannot create --dir {self.root}: {err.strerror}.") from None

    def put(self, key: str, item: Item) -> bool:
        """Write ``<root>/<key>`` via a temporary file and a rename; False if it exists."""
        target = self.root / key
        if target.exists():
            return False
        self._make_dirs(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(item.payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)
        return True

    def _make_dirs(self, directory: Path) -> None:
        """Create missing directories, fsyncing each parent so the entries survive a crash."""
        if directory.is_dir():
            return
        self._make_dirs(directory.parent)
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
            _fsync_dir(directory.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3Store:
    """Objects in an S3-compatible bucket (AWS, MinIO, Ceph, moto) via boto3."""

    def __init__(self, target: S3Target) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigurationError(
                "--s3-bucket needs boto3, which is not installed; "
                "install it with: pip install 'wasmfleet[s3]'."
            ) from None
        session = boto3.session.Session(region_name=target.region)
        if session.get_credentials() is None:
            raise ConfigurationError(
                "No AWS credentials for --s3-bucket: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)."
            )
        config = Config(
            s3={"addressing_style": "path"} if target.endpoint else {},
            retries={"max_attempts": 3, "mode": "standard"},
        )
        self.target = target
        self.client = session.client("s3", endpoint_url=target.endpoint, config=config)

    def put(self, key: str, item: Item) -> bool:
        """PUT the object unless it exists (``If-None-Match: *``); False when it was there.

        A store that ignores the condition overwrites the object with the same bytes, which
        still leaves one object per key.
        """
        meta = {"wasmfleet-id": item.id, **{k: quote(v) for k, v in item.meta.items()}}
        try:
            self.client.put_object(
                Bucket=self.target.bucket,
                Key=self.target.prefix + key,
                Body=item.payload,
                Metadata=meta,
                IfNoneMatch="*",
            )
        except self.client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise
        return True


class Sink:
    """A persistent QoS 1 subscription that stores each message before acknowledging it."""

    def __init__(self, settings: SinkSettings, stores: list[Store] | None = None) -> None:
        self.settings = settings
        self.stores = stores if stores is not None else self._stores()
        self.stats = {"received": 0, "stored": 0, "duplicates": 0}
        self.connected = False
        self._stopping = threading.Event()
        client = paho_client(
            settings.broker,
            client_id=settings.client_id,
            clean_session=False,
            protocol=settings.protocol,
        )
        client.manual_ack_set(True)
        client.reconnect_delay_set(*RECONNECT_DELAY)
        client.on_connect = self._connected
        client.on_subscribe = self._subscribed
        client.on_message = self._on_message
        client.on_disconnect = self._disconnected
        props = None
        if settings.protocol == 5:
            props = new_properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        client.connect_async(
            settings.broker.host,
            settings.broker.port,
            keepalive=settings.keepalive,
            clean_start=False if settings.protocol == 5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=props,
        )
        self.client = client

    def _stores(self) -> list[Store]:
        stores: list[Store] = []
        if self.settings.directory is not None:
            stores.append(DirectoryStore(self.settings.directory))
        if self.settings.s3 is not None:
            stores.append(S3Store(self.settings.s3))
        if not stores:
            raise ConfigurationError("A sink needs somewhere to write: --dir and/or --s3-bucket.")
        return stores

    def start(self) -> None:
        """Connect (in the background: the broker may be down) and start storing."""
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect; a message being stored is left unacknowledged for redelivery."""
        self._stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

    def status(self) -> str:
        """One line: connection and counters."""
        s = self.stats
        return (
            f"broker {'up' if self.connected else 'down'}; received {s['received']}, "
            f"stored {s['stored']}, already stored {s['duplicates']}"
        )

    def _connected(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("%s refused the connection: %s", self.settings.broker.url, reason)
            return
        self.connected = True
        resumed = " (session resumed)" if flags.session_present else ""
        log.info("connected to %s%s", self.settings.broker.url, resumed)
        client.subscribe([(t, 1) for t in self.settings.topics])

    def _subscribed(self, _c: mqtt.Client, _u: Any, _m: int, reasons: list[Any], _p: Any) -> None:
        refused = [t for t, r in zip(self.settings.topics, reasons, strict=False) if r.is_failure]
        if refused:
            log.error("the broker refused the subscription to %s", ", ".join(refused))
        else:
            log.info("subscribed to %s at QoS 1", ", ".join(self.settings.topics))

    def _disconnected(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.connected and not self._stopping.is_set():
            log.warning("lost %s (%s); reconnecting", self.settings.broker.url, reason)
        self.connected = False

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._store(client, message)
        except Exception:  # never let one message kill paho's network thread
            log.exception("could not store message %d; the broker will redeliver it", message.mid)

    def _store(self, client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        """Store in every store (retrying while they fail), then acknowledge."""
        self.stats["received"] += 1
        item = item_of(message)
        key = object_key(message.topic, item.id)
        backoff = Backoff(0.1, 10.0)
        while True:
            try:
                fresh = [store.put(key, item) for store in self.stores]
                break
            except Exception as err:  # storage down or full: keep the message unacked, retry
                delay = backoff.next()
                log.error("cannot store %s (%s); retrying in %.1f s", key, err, delay)
                if self._stopping.wait(delay):
                    return
        self.stats["stored" if any(fresh) else "duplicates"] += 1
        if message.qos > 0:
            client.ack(message.mid, message.qos)


def run_sink(settings: SinkSettings, stop: threading.Event) -> None:
    """Run a sink until ``stop`` is set, logging its status every ``status_interval`` s."""
    sink = Sink(settings)
    run_until_stopped(sink, stop, settings.status_interval, log)
    log.info("stopped; %s", sink.status())
