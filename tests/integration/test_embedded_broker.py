"""The embedded amqtt broker: loopback only; QoS 0 and 1 in asyncio, a thread and a process."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiomqtt
import paho.mqtt.client as mqtt
import psutil
import pytest

from tests.support import free_port
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.messaging.client import paho_client
from wasmfleet.messaging.embedded import BrokerThread, EmbeddedBroker

pytestmark = pytest.mark.timeout(60)


class Collector:
    """A paho subscriber that keeps every message it receives."""

    def __init__(self, url: str, topic: str, qos: int) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        self.client = paho_client(parse_broker_url(url))
        self.client.on_message = lambda c, u, msg: self._keep(msg)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(self.client_host(url), int(url.rsplit(":", 1)[1]))
        self.client.loop_start()
        self.client.subscribe(topic, qos=qos)
        assert subscribed.wait(10), "no SUBACK within 10 s"

    @staticmethod
    def client_host(url: str) -> str:
        return url.split("://", 1)[1].rsplit(":", 1)[0]

    def _keep(self, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append(msg)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[mqtt.MQTTMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.01)
        with self.lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def publish_all(url: str, topic: str, payloads: list[bytes], qos: int) -> None:
    client = paho_client(parse_broker_url(url))
    client.connect("127.0.0.1", int(url.rsplit(":", 1)[1]))
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for payload in payloads]
        for info in infos:
            info.wait_for_publish(timeout=10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def listening_addresses(port: int) -> list[str]:
    """The local addresses of this process's sockets listening on ``port``."""
    return [
        conn.laddr.ip
        for conn in psutil.Process(os.getpid()).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    ]


@pytest.mark.parametrize("qos", [0, 1])
def test_messages_pass_through_the_broker_thread(qos: int) -> None:
    with BrokerThread(port=0) as broker:
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
        sub = Collector(broker.url, "site/+/temperature", qos)
        try:
            payloads = [f"reading {i}".encode() for i in range(200)]
            publish_all(broker.url, "site/lab/temperature", payloads, qos)
            publish_all(broker.url, "site/lab/humidity", [b"not for us"], qos)
            got = sub.wait_for(len(payloads))
        finally:
            sub.close()
    assert [m.payload for m in got] == payloads  # in order, none lost, none extra
    assert {m.topic for m in got} == {"site/lab/temperature"}
    assert {m.qos for m in got} == {qos}


def test_it_listens_on_loopback_only() -> None:
    with BrokerThread(port=0) as broker:
        assert broker.broker.addresses == [("127.0.0.1", broker.port)]
        assert listening_addresses(broker.port) == ["127.0.0.1"]
        others = [
            addr.address
            for addrs in psutil.net_if_addrs().values()
            for addr in addrs
            if addr.family == socket.AF_INET and not addr.address.startswith("127.")
        ]
        for address in others:  # another interface of this machine: nothing listens there
            with pytest.raises(OSError), socket.create_connection((address, broker.port), 1):
                pass
    assert listening_addresses(broker.port) == []


def test_a_taken_port_is_a_sentence() -> None:
    with BrokerThread(port=0) as first:
        second = BrokerThread(port=first.port)
        with pytest.raises(ConfigurationError, match=r"cannot listen on 127.0.0.1:\d+"):
            second.start()
        second.stop()


def test_it_runs_in_the_callers_event_loop_with_aiomqtt() -> None:
    async def scenario() -> list[bytes]:
        async with EmbeddedBroker(port=0) as broker:
            got: list[bytes] = []
            async with (
                aiomqtt.Client("127.0.0.1", broker.port, identifier="sub") as sub,
                aiomqtt.Client("127.0.0.1", broker.port, identifier="pub") as pub,
            ):
                await sub.subscribe("cmd/#", qos=1)
                for i in range(5):
                    await pub.publish(f"cmd/fan/{i}", f"on {i}".encode(), qos=1)
                async with asyncio.timeout(10):
                    async for message in sub.messages:
                        assert isinstance(message.payload, bytes)
                        got.append(message.payload)
                        if len(got) == 5:
                            break
            return got

    assert asyncio.run(scenario()) == [f"on {i}".encode() for i in range(5)]


def test_wasmfleet_broker_runs_in_the_foreground_until_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wasmfleet", "broker", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"broker listening on mqtt://127.0.0.1:{port}" in first, first
        url = f"mqtt://127.0.0.1:{port}"
        sub = Collector(url, "a/b", 1)
        try:
            publish_all(url, "a/b", [b"hello"], 1)
            assert [m.payload for m in sub.wait_for(1)] == [b"hello"]
        finally:
            sub.close()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, out
    assert "broker stopped" in out and "Traceback" not in out
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_wasmfleet_broker_on_a_taken_port_exits_2_with_a_sentence() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [sys.executable, "-m", "wasmfleet", "broker", "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_task_failing_in_the_broker_loop_is_a_log_line_not_a_console_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "broker.log"
    broker = BrokerThread(free_port(), log_path=log_file).start()

    async def fails() -> None:
        raise ConnectionResetError("a client went away while the broker stopped")

    loop = broker._loop
    assert loop is not None
    # As amqtt's client handlers: a task of the broker's loop that fails, never awaited.
    loop.call_soon_threadsafe(lambda: loop.create_task(fails(), name="client-handler"))
    broker.stop()
    gc.collect()  # where asyncio used to print "Task exception was never retrieved"
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert "broker task client-handler ended: ConnectionResetError" in log_file.read_text()
