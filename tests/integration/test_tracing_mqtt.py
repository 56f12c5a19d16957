"""traceparent over MQTT: publications carry their call's span, triggered calls continue it,
bridges forward it (MQTT 5 user property, envelope key over 3.1.1); amqtt falls back to 3.1.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.streams_support import Listener, Start, broker, streams, thermo, wait_subscribed
from tests.support import FileServer, SupervisorProcess, readme_body, wait_until
from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.core.tracing import TRACEPARENT, parse
from wasmfleet.messaging.client import paho_client
from wasmfleet.messaging.embedded import BrokerThread
from wasmfleet.messaging.envelope import unwrap
from wasmfleet.messaging.wire import new_properties

__all__ = ["broker"]  # fixture
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Listener5:
    """An MQTT 5 client collecting (topic, payload, traceparent or None) of some filters."""

    def __init__(self, url: str, *filters: str) -> None:
        self.messages: list[tuple[str, bytes, str | None]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        address = parse_broker_url(url)
        self.client = paho_client(address, protocol=5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe([(f, 1) for f in filters])
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        assert subscribed.wait(10), "the test listener could not subscribe"

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        pairs = getattr(message.properties, "UserProperty", None) or []
        trace = dict(pairs).get(TRACEPARENT)
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), trace))

    def wait(self, count: int) -> list[tuple[str, bytes, str | None]]:
        """Wait until ``count`` messages arrived; return them."""
        assert wait_until(lambda: len(self.messages) >= count, 15), self.messages
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def publish5(url: str, topic: str, payload: bytes, traceparent: str | None) -> None:
    """Publish one QoS 1 message over MQTT 5, with a ``traceparent`` user property if given."""
    address: BrokerAddress = parse_broker_url(url)
    client = paho_client(address, protocol=5)
    client.connect(address.host, address.port)
    client.loop_start()
    props = None
    if traceparent is not None:
        props = new_properties(PacketTypes.PUBLISH)
        props.UserProperty = [(TRACEPARENT, traceparent)]
    try:
        client.publish(topic, payload, qos=1, properties=props).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def entries(sup: SupervisorProcess, function: str, count: int) -> list[dict[str, Any]]:
    """The history entries of ``function`` once there are ``count`` of them."""

    def found() -> list[dict[str, Any]]:
        history = sup.get("/request-history").json()
        return [e for e in history if e["function_name"] == function]

    assert wait_until(lambda: len(found()) >= count, 15), sup.get("/request-history").json()
    return found()


def call_fibo(sup: SupervisorProcess, dep: str) -> dict[str, Any]:
    """Call fibo(10) on ``sup`` as a caller with trace CALLER; its history entry."""
    call = sup.get(f"/{dep}/modules/fibo/fibo?iterations=10", headers={"traceparent": CALLER})
    assert call.status_code == 200, call.text
    entry: dict[str, Any] = httpx.get(call.json()["resultUrl"], timeout=10).json()
    return entry


def fibo_publishing(files: FileServer, dep: str, topic: str) -> dict[str, Any]:
    """fibo, publishing its results to ``topic``."""
    body = readme_body(files, dep, "fibo")
    body["instructions"]["modules"]["fibo"]["fibo"]["publish"] = {"topic": topic}
    return body


def fibo_triggered(files: FileServer, dep: str, topic: str) -> dict[str, Any]:
    """fibo, run for each number published on ``topic``."""
    body = readme_body(files, dep, "fibo")
    body["instructions"]["modules"]["fibo"]["fibo"]["trigger"] = {"topic": topic, "qos": 1}
    return body


def test_a_published_result_and_a_guest_publication_carry_the_trace_to_triggered_calls(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess
) -> None:
    out = Listener5(broker.url, "fibo/out", "thermo/readings")
    try:
        a = start_supervisor("mq-a", args=["--broker", broker.url])
        b = start_supervisor("mq-b", args=["--broker", broker.url])
        assert a.deploy(fibo_publishing(files, "pa", "fibo/out")).status_code == 200
        body = thermo(files, "ta", {"annotate": {"trigger": {"topic": "raw/#", "qos": 1}}})
        assert a.deploy(body).status_code == 200
        assert b.deploy(fibo_triggered(files, "pb", "fibo/out")).status_code == 200
        body = thermo(files, "tb", {"celsius": {"trigger": "thermo/readings"}})
        assert b.deploy(body).status_code == 200
        wait_subscribed(a, "raw/#")
        wait_subscribed(b, "fibo/out", "thermo/readings")
        assert streams(a)["mqtt_protocol"] == streams(b)["mqtt_protocol"] == "5"

        # HTTP call on A -> published result -> triggered call on B.
        first = call_fibo(a, "pa")
        caller = parse(CALLER)
        assert caller is not None
        assert first["trace_id"] == caller.trace_id and first["parent_span_id"] == caller.span_id
        [triggered] = entries(b, "fibo", 1)
        assert triggered["method"] == "MQTT" and triggered["success"], triggered
        assert triggered["trace_id"] == caller.trace_id
        assert triggered["parent_span_id"] == first["span_id"]
        assert triggered["span_id"] not in (first["span_id"], caller.span_id)

        # A message with a trace -> annotate on A (wasmfleet.publish) -> celsius on B.
        upstream = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        publish5(broker.url, "raw/kitchen", b"22.5", upstream)
        [annotate] = entries(a, "annotate", 1)
        assert annotate["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert annotate["parent_span_id"] == "b7ad6b7169203331"
        [celsius] = entries(b, "celsius", 1)
        assert celsius["trace_id"] == annotate["trace_id"], celsius
        assert celsius["parent_span_id"] == annotate["span_id"]

        # What went over the broker: the publishing calls' spans as traceparent.
        seen = {topic: trace for topic, _payload, trace in out.wait(2)}
        assert parse(seen["fibo/out"]) == (caller.trace_id, first["span_id"], True)
        assert parse(seen["thermo/readings"]) == (annotate["trace_id"], annotate["span_id"], True)

        # An invalid traceparent is ignored: the triggered call starts its own trace.
        publish5(broker.url, "raw/hall", b"19", "00-not-a-trace-01")
        second = [e for e in entries(a, "annotate", 2) if e["message"]["topic"] == "raw/hall"]
        assert len(second) == 1 and "parent_span_id" not in second[0]
        assert second[0]["trace_id"] != annotate["trace_id"]
    finally:
        out.close()


def test_over_mqtt_311_messages_carry_nothing_and_payloads_stay_byte_for_byte(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess
) -> None:
    out = Listener5(broker.url, "fibo/out")
    try:
        a = start_supervisor("old-a", args=["--broker", broker.url, "--mqtt-protocol", "3.1.1"])
        b = start_supervisor("old-b", args=["--broker", broker.url, "--mqtt-protocol", "3.1.1"])
        assert a.deploy(fibo_publishing(files, "oa", "fibo/out")).status_code == 200
        assert b.deploy(fibo_triggered(files, "ob", "fibo/out")).status_code == 200
        wait_subscribed(b, "fibo/out")
        assert streams(a)["mqtt_protocol"] == "3.1.1"
        first = call_fibo(a, "oa")
        assert out.wait(1) == [("fibo/out", b"55", None)]
        [triggered] = entries(b, "fibo", 1)
        assert triggered["success"] and "parent_span_id" not in triggered
        assert triggered["trace_id"] != first["trace_id"]
    finally:
        out.close()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A second Mosquitto broker."""
    with running_mosquitto(tmp_path / "cloud") as process:
        yield process


def bridge_document(dep_id: str, source: str, to: str, topic: str) -> dict[str, Any]:
    """A deployment document with one bridge and nothing else."""
    entry = {"name": f"{dep_id}-0", "from": source, "to": to, "topics": [topic], "qos": 1}
    return {"deploymentId": dep_id, "bridges": [entry]}


def test_bridges_keep_the_trace_from_mqtt_5_through_311_and_back(
    start_supervisor: Start,
    files: FileServer,
    broker: MosquittoProcess,
    cloud: MosquittoProcess,
    tmp_path: Path,
) -> None:
    """edge (MQTT 5) -> middle (3.1.1: the envelope) -> cloud (MQTT 5 user properties)."""
    with running_mosquitto(tmp_path / "middle") as middle:
        a = start_supervisor("br-a", args=["--broker", broker.url])
        b = start_supervisor("br-b", args=["--broker", cloud.url])
        # Bridges on supervisors of their own: under auto one reads the edge with MQTT 5 and
        # writes the envelope (3.1.1); told to speak 5, the other writes user properties.
        up = start_supervisor("br-up")
        down = start_supervisor("br-down", args=["--mqtt-protocol", "5"])
        assert a.deploy(fibo_publishing(files, "ba", "fibo/out")).status_code == 200
        assert b.deploy(fibo_triggered(files, "bb", "fibo/out")).status_code == 200
        wait_subscribed(b, "fibo/out")
        assert up.deploy(bridge_document("up", broker.url, middle.url, "fibo/#")).status_code == 200
        doc = bridge_document("down", middle.url, cloud.url, "fibo/#")
        assert down.deploy(doc).status_code == 200
        wait_bridge(up, "up-0")
        wait_bridge(down, "down-0")
        seen_middle = Listener(middle.url, "fibo/#")  # an MQTT 3.1.1 client
        out = Listener5(cloud.url, "fibo/out")
        try:
            first = call_fibo(a, "ba")
            [(_topic, wrapped)] = seen_middle.wait("fibo/", 1)
            envelope = unwrap(wrapped)
            assert envelope is not None and envelope.payload == b"55", wrapped[:160]
            assert parse(envelope.traceparent) == (first["trace_id"], first["span_id"], True)
            header = json.loads(wrapped.split(b"\n", 1)[0])
            assert header[TRACEPARENT] == envelope.traceparent
            used = up.get("/api/v1/status").json()["bridges"]["up-0"]["mqtt_protocol"]
            assert used == {"from": "5", "to": "3.1.1"}
            used = down.get("/api/v1/status").json()["bridges"]["down-0"]["mqtt_protocol"]
            assert used == {"from": "5", "to": "5"}

            [(_topic, _payload, trace)] = out.wait(1)
            assert trace == envelope.traceparent  # out of the envelope, a user property again
            [triggered] = entries(b, "fibo", 1)
            assert triggered["success"], triggered
            assert triggered["trace_id"] == first["trace_id"]
            assert triggered["parent_span_id"] == first["span_id"]
        finally:
            seen_middle.close()
            out.close()


def wait_bridge(sup: SupervisorProcess, name: str) -> None:
    """Wait until bridge ``name`` on ``sup`` is connected to both brokers."""

    def up() -> bool:
        entry = sup.get("/api/v1/status").json()["bridges"].get(name, {})
        return bool(entry.get("source_connected") and entry.get("destination_connected"))

    assert wait_until(up, 15), sup.get("/api/v1/status").json()["bridges"]


def test_the_embedded_amqtt_broker_gets_mqtt_311(
    start_supervisor: Start, files: FileServer, tmp_path: Path
) -> None:
    with BrokerThread(port=0, log_path=tmp_path / "amqtt.log") as amqtt:
        a = start_supervisor("am-a", args=["--broker", amqtt.url])
        b = start_supervisor("am-b", args=["--broker", amqtt.url])
        assert a.deploy(fibo_publishing(files, "aa", "fibo/out")).status_code == 200
        assert b.deploy(fibo_triggered(files, "ab", "fibo/out")).status_code == 200
        wait_subscribed(b, "fibo/out")
        assert wait_until(lambda: streams(a)["connected"] is True, 15), streams(a)
        assert streams(a)["mqtt_protocol"] == streams(b)["mqtt_protocol"] == "3.1.1"
        call_fibo(a, "aa")
        [triggered] = entries(b, "fibo", 1)
        assert triggered["success"] and "parent_span_id" not in triggered
        assert "does not speak 5" in a.log()
