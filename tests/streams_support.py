"""Helpers for the stream tests: a listening MQTT client, publishing, deploy bodies, status."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.support import FileServer, SupervisorProcess, readme_body, wait_until
from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.messaging.client import paho_client

Start = Callable[..., SupervisorProcess]
DEAD = "wasmfleet/dead-letter"


class Listener:
    """A test's own MQTT client: collects messages of some topic filters."""

    def __init__(self, url: str | BrokerAddress, *filters: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        broker = parse_broker_url(url) if isinstance(url, str) else url
        self.client = paho_client(broker)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe([(f, 1) for f in filters])
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test listener could not subscribe"

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def on(self, prefix: str) -> list[tuple[str, bytes]]:
        """(topic, payload) of the messages whose topic starts with ``prefix``."""
        with self._lock:
            return [(t, p) for t, p, _ in self.messages if t.startswith(prefix)]

    def wait(self, prefix: str, count: int, timeout: float = 15.0) -> list[tuple[str, bytes]]:
        """Wait until ``count`` messages arrived on ``prefix``; return them."""
        assert wait_until(lambda: len(self.on(prefix)) >= count, timeout), self.messages
        return self.on(prefix)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def publish(
    url: str | BrokerAddress, topic: str, payload: bytes | str, *, retain: bool = False
) -> None:
    """Publish one QoS 1 message and wait until the broker has it."""
    broker = parse_broker_url(url) if isinstance(url, str) else url
    client = paho_client(broker)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def thermo(files: FileServer, dep_id: str, routes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A deploy body for thermo's functions in ``routes`` with their trigger/publish."""
    body = readme_body(files, dep_id, "thermo", functions=sorted(routes))
    for function, extra in routes.items():
        body["instructions"]["modules"]["thermo"][function].update(extra)
    return body


def streams(sup: SupervisorProcess) -> dict[str, Any]:
    """The ``streams`` part of the supervisor's status."""
    status: dict[str, Any] = sup.get("/api/v1/status").json()["streams"]
    return status


def wait_subscribed(sup: SupervisorProcess, *filters: str) -> None:
    """Wait until the broker confirmed the supervisor's subscriptions to ``filters``."""
    ok = wait_until(lambda: set(filters) <= set(streams(sup)["active"]), 15)
    assert ok, streams(sup)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A Mosquitto broker on loopback for one test."""
    with running_mosquitto(tmp_path / "mosquitto") as process:
        yield process


@pytest.fixture
def listen(broker: MosquittoProcess) -> Iterator[Callable[..., Listener]]:
    """Open listeners on the broker; closed afterwards."""
    opened: list[Listener] = []

    def open_listener(*filters: str) -> Listener:
        listener = Listener(broker.url, *filters)
        opened.append(listener)
        return listener

    yield open_listener
    for listener in opened:
        listener.close()
