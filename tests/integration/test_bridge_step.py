"""A bridge as a deployment step: two real Mosquitto brokers and real supervisor processes.

The edge broker is the supervisor's own ``--broker``; a deployment document with a
``bridges`` entry makes the supervisor run a store-and-forward bridge to the cloud broker.
200 QoS 1 messages published at the edge arrive at the cloud, each once, also across a
supervisor restart (the outbox and the edge session survive it); redeploying the same
document keeps the running bridge; deleting the deployment stops it. A bridge that has no
``from`` on a supervisor without a broker is refused with 422. Every wait is bounded.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.streams_support import Listener, publish
from tests.support import SupervisorProcess, wait_until
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.messaging.client import paho_client
from wasmfleet.messaging.envelope import unwrap

Start = Callable[..., SupervisorProcess]
N = 200


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """The edge broker (the supervisor's own)."""
    with running_mosquitto(tmp_path / "edge") as broker:
        yield broker


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """The cloud broker (where the bridge forwards to)."""
    with running_mosquitto(tmp_path / "cloud") as broker:
        yield broker


def document(dep_id: str, to: str, source: str | None = None) -> dict[str, Any]:
    """A deployment document with one bridge of ``crops/#`` and nothing else."""
    entry = {"name": f"{dep_id}-0", "from": source, "to": to, "topics": ["crops/#"], "qos": 1}
    return {"deploymentId": dep_id, "bridges": [entry]}


def bridges(sup: SupervisorProcess) -> dict[str, Any]:
    """The ``bridges`` part of the supervisor's status."""
    found: dict[str, Any] = sup.get("/api/v1/status").json()["bridges"]
    return found


def payloads(listener: Listener, prefix: str) -> list[bytes]:
    """The payloads that arrived on topics starting with ``prefix``, envelopes removed."""
    out = []
    for _topic, data in listener.on(prefix):
        envelope = unwrap(data)
        assert envelope is not None, data[:80]  # MQTT 3.1.1: ids travel in an envelope
        out.append(envelope.payload)
    return out


def wait_forwarding(edge_url: str, listener: Listener) -> None:
    """Publish probes at the edge until one reaches the cloud (the bridge has subscribed)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        publish(edge_url, "crops/probe", b"probe")
        if wait_until(lambda: listener.on("crops/probe"), 0.5):
            return
    raise AssertionError("the bridge never forwarded a probe message")


def publish_many(url: str, first: int, count: int) -> None:
    """Publish messages ``first..first+count-1`` on crops/cam1/jpeg at QoS 1, acknowledged."""
    broker = parse_broker_url(url)
    client = paho_client(broker)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        infos = [
            client.publish("crops/cam1/jpeg", b"crop-%05d" % i, qos=1)
            for i in range(first, first + count)
        ]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def session_present(url: str, client_id: str) -> bool:
    """Whether the broker still holds a persistent session for ``client_id``."""
    broker = parse_broker_url(url)
    client = paho_client(broker, client_id=client_id, clean_session=False)
    flags: dict[str, bool] = {}
    done = threading.Event()

    def connected(_c: Any, _u: Any, f: Any, _r: Any, _p: Any) -> None:
        flags["present"] = bool(f.session_present)
        done.set()

    client.on_connect = connected
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        assert done.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    # Leave no session behind: connect once more with a clean one.
    cleaner = paho_client(broker, client_id=client_id, clean_session=True)
    cleaner.connect(broker.host, broker.port)
    cleaner.disconnect()
    return flags["present"]


def test_a_deployed_bridge_forwards_survives_restarts_and_stops_when_removed(
    start_supervisor: Start, edge: MosquittoProcess, cloud: MosquittoProcess, tmp_path: Path
) -> None:
    sup = start_supervisor("gw", args=["--broker", edge.url])
    described = sup.get("/.well-known/wasmiot-device-description").json()
    assert "wasmfleet.bridge" in described["wasmfleet"]["interfaces"]
    out = Listener(cloud.url, "crops/#")
    try:
        answer = sup.deploy(document("uplink", cloud.url))
        assert answer.status_code == 200, answer.text
        assert answer.json()["bridges"] == ["uplink-0"] and answer.json()["modules"] == []
        wait_forwarding(edge.url, out)

        publish_many(edge.url, 0, N)
        expected = {b"crop-%05d" % i for i in range(N)}
        assert wait_until(lambda: expected <= set(payloads(out, "crops/cam1/")), 30), len(
            out.on("crops/cam1/")
        )
        got = payloads(out, "crops/cam1/")
        assert len(got) == N and set(got) == expected  # each once: no loss, no duplicate

        def drained() -> bool:
            counters = bridges(sup)["uplink-0"]
            return bool(counters["waiting"] == 0 and counters["forwarded"] == counters["received"])

        assert wait_until(drained, 10), bridges(sup)  # every PUBACK from the cloud came back
        status = bridges(sup)["uplink-0"]
        assert status["state"] == "running" and status["deployment"] == "uplink"
        assert status["from"] == edge.url and status["to"] == cloud.url
        assert status["source_connected"] and status["destination_connected"]
        assert status["received"] >= N + 1 and status["redelivered"] == 0
        assert status["client_id"] == "wasmfleet-gw-uplink-0"
        outbox = sup.data_dir / "bridges" / "uplink-0.sqlite"
        assert status["outbox"] == str(outbox) and outbox.exists()

        # The supervisor stops (its bridge with it); what the edge gets meanwhile waits in the
        # bridge's persistent session and is forwarded after the restart.
        started = time.monotonic()
        assert sup.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once shut down
        assert time.monotonic() - started < 8  # no bridge thread kept the process alive
        assert "bridge uplink-0 stopped" in sup.log()
        publish_many(edge.url, N, 50)
        sup.start()
        more = {b"crop-%05d" % i for i in range(N, N + 50)}
        assert wait_until(lambda: more <= set(payloads(out, "crops/cam1/")), 30)
        assert len(payloads(out, "crops/cam1/")) == N + 50
        before = bridges(sup)["uplink-0"]["received"]
        assert before == 50

        # The same document again: the running bridge is kept (its counters go on).
        again = sup.deploy(document("uplink", cloud.url))
        assert again.status_code == 200, again.text
        time.sleep(0.5)
        assert bridges(sup)["uplink-0"]["received"] == before
        assert bridges(sup)["uplink-0"]["state"] == "running"

        # Removing the deployment stops the bridge: nothing published afterwards arrives,
        # the empty outbox is deleted and the edge broker forgets the bridge's session.
        removed = httpx.delete(sup.url + "/deploy/uplink", timeout=30)
        assert removed.status_code == 200, removed.text
        assert wait_until(lambda: bridges(sup) == {}, 10), bridges(sup)
        publish(edge.url, "crops/cam1/jpeg", b"after-removal")
        time.sleep(3)
        assert b"after-removal" not in payloads(out, "crops/")
        assert not outbox.exists()
        assert not session_present(edge.url, "wasmfleet-gw-uplink-0")
    finally:
        out.close()


def test_a_bridge_without_from_needs_a_broker_on_its_device(
    start_supervisor: Start, edge: MosquittoProcess, cloud: MosquittoProcess
) -> None:
    sup = start_supervisor("plain")  # no --broker
    refused = sup.deploy(document("uplink", cloud.url))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "unprocessable"
    assert error["message"] == (
        "Bridge 'uplink-0' has no 'from' broker, and this device has no MQTT broker of its "
        "own to bridge from; give the bridge a 'from' URL, or deploy it to a device started "
        "with --broker mqtt://host:1883."
    )
    assert sup.get("/deploy").json() == [] and bridges(sup) == {}

    # With a 'from' it runs there all the same.
    answer = sup.deploy(document("explicit", cloud.url, source=edge.url))
    assert answer.status_code == 200, answer.text
    out = Listener(cloud.url, "crops/#")
    try:
        wait_forwarding(edge.url, out)
        assert bridges(sup)["explicit-0"]["from"] == edge.url
    finally:
        out.close()
    bad = document("loop", edge.url, source=edge.url)
    looped = sup.deploy(bad)
    assert looped.status_code == 400 and "are the same broker" in looped.text


def test_a_bridge_step_through_the_orchestrator(
    tmp_path: Path, edge: MosquittoProcess, cloud: MosquittoProcess
) -> None:
    from tests.integration.fleet import running_fleet

    cloud_with_login = cloud.url.replace("mqtt://", "mqtt://gw:secret@")
    devices = (
        ("gw", ["--broker", edge.url, "--label", "role=gateway"]),
        ("plain", ["--label", "role=gateway"]),  # no broker of its own
    )
    (tmp_path / "fleet").mkdir()
    with running_fleet(tmp_path / "fleet", *devices) as fleet:
        fleet.push("fibo")
        manifest = {
            "name": "uplink",
            "steps": [
                {
                    "bridge": {"to": cloud_with_login, "topic": "crops/#"},
                    "labels": {"role": "gateway"},
                },
                {"module": "fibo", "function": "fibo", "device": "plain"},
            ],
        }
        answer = fleet.http.post("/api/v1/deployments", json=manifest)
        assert answer.status_code == 201, answer.text
        dep = answer.json()
        bridge, fibo = dep["plan"]["steps"]
        assert bridge["device"] == "gw" and bridge["module"] is None
        assert bridge["bridge"] == {
            "from": None,
            "to": cloud.url.replace("mqtt://", "mqtt://gw@"),  # the password stays out
            "topics": ["crops/#"],
            "qos": 1,
        }
        assert {r["device"]: r["reason"] for r in bridge["rejected"]} == {
            "plain": "plain lacks wasmfleet.publish"
        }
        assert fibo["device"] == "plain" and fibo["bridge"] is None
        documents = fleet.documents(dep["id"])
        assert documents["gw"]["bridges"] == [
            {
                "name": f"{dep['id']}-0",
                "from": None,
                "to": cloud_with_login,
                "topics": ["crops/#"],
                "qos": 1,
            }
        ]
        assert documents["gw"]["modules"] == [] and "bridges" not in documents["plain"]
        fibo_instructions = documents["plain"]["instructions"]["modules"]["fibo"]["fibo"]
        assert fibo_instructions["from"] is None and fibo_instructions["to"] is None

        gw = fleet.supervisors["gw"]
        out = Listener(cloud.url, "crops/#")
        try:
            wait_forwarding(edge.url, out)
        finally:
            out.close()
        run = fleet.http.post(
            "/api/v1/deployments/uplink/execute", json={"args": {"iterations": 10}}
        )
        assert run.status_code == 200, run.text
        assert [s["step"] for s in run.json()["steps"]] == [1]  # the function step only

        only = {
            "name": "bridges-only",
            "steps": [{"bridge": {"from": edge.url, "to": cloud.url, "topic": "x/#"}}],
        }
        created = fleet.http.post("/api/v1/deployments", json=only)
        assert created.status_code == 201, created.text
        refused = fleet.http.post("/api/v1/deployments/bridges-only/execute", json={})
        assert refused.status_code == 409 and "only bridge steps" in refused.text

        removed = fleet.http.delete("/api/v1/deployments/uplink")
        assert removed.status_code == 200, removed.text
        assert wait_until(lambda: f"{dep['id']}-0" not in bridges(gw), 10), bridges(gw)
