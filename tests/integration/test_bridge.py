"""The store-and-forward bridge against real Mosquitto brokers, as real processes.

Acceptance tests of the edge-to-cloud pipeline: 1000 QoS 1 messages go edge broker → bridge
(``python -m wasmfleet bridge``) → cloud broker → sink (``python -m wasmfleet sink --dir``),
while the bridge is SIGKILLed, the cloud broker is stopped for 5 s, or the bridge's link to the
cloud is cut. Each run must leave exactly 1000 objects (none lost, none stored twice) whose
bytes are what was published, and a subscriber on the cloud broker must see every topic in
publishing order. The same faults with ``--qos 0 --no-outbox`` lose messages: the guarantee is
the outbox's doing. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.support import ChildProcess, free_port, wait_until
from wasmfleet.messaging.envelope import USER_PROPERTY, unwrap

N = 1000
TOPICS = [f"faces/cam{i}" for i in range(4)]


def payload(seq: int) -> bytes:
    """Message ``seq``: its number, then 200-1200 bytes of image-like noise (NULs, newlines)."""
    rng = random.Random(seq)
    return b"%06d|" % seq + rng.randbytes(rng.randint(200, 1200)) + b"\n\x00\xff"


def seq_of(data: bytes) -> int:
    """The number ``payload`` put at the front."""
    return int(data[:6])


class Wasmfleet(ChildProcess):
    """``python -m wasmfleet <args>`` with its output in a log file."""

    def __init__(self, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Wasmfleet:
        """Start the process (its output is appended to the log)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wasmfleet", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self

    def log(self) -> str:
        """Everything the process (and its earlier runs) printed."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 20.0) -> None:
        """Wait until ``pattern`` (a regex) appears ``count`` times in the log."""
        if not wait_until(lambda: len(re.findall(pattern, self.log())) >= count, timeout):
            raise AssertionError(f"no {pattern!r} (x{count}) within {timeout} s:\n{self.log()}")


def run_cli(
    *args: str, timeout: float = 30.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m wasmfleet <args>`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "wasmfleet", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def client(url: str, client_id: str, *, clean: bool = True, protocol: int = 4) -> mqtt.Client:
    """A connected paho client with its network thread running."""
    version = mqtt.MQTTv5 if protocol == 5 else mqtt.MQTTv311
    c = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean if protocol != 5 else None,
        protocol=version,
    )
    c.reconnect_delay_set(1, 2)
    port = int(url.rsplit(":", 1)[1])
    c.connect_async("127.0.0.1", port, keepalive=10)
    c.loop_start()
    if not wait_until(c.is_connected, 10):
        raise AssertionError(f"test client could not connect to {url}")
    return c


class Publisher(threading.Thread):
    """Publishes ``payload(0..n-1)`` at QoS 1 round-robin over TOPICS, one every ``interval``."""

    def __init__(self, url: str, n: int = N, interval: float = 0.004) -> None:
        super().__init__(daemon=True)
        self.client = client(url, "test-publisher")
        self.n, self.interval, self.sent = n, interval, 0
        self.infos: list[mqtt.MQTTMessageInfo] = []

    def run(self) -> None:
        """Publish them all, paced."""
        for seq in range(self.n):
            info = self.client.publish(TOPICS[seq % len(TOPICS)], payload(seq), qos=1)
            self.infos.append(info)
            self.sent = seq + 1
            time.sleep(self.interval)

    def finish(self, timeout: float = 30.0) -> None:
        """Wait until every message was published and acknowledged by the edge broker."""
        self.join(timeout)
        assert not self.is_alive(), "publisher did not finish"
        assert wait_until(lambda: all(i.is_published() for i in self.infos), timeout)
        self.client.disconnect()
        self.client.loop_stop()


class CloudWatcher:
    """A persistent QoS 1 subscriber on the cloud broker recording arrival order per topic."""

    def __init__(self, url: str, protocol: int = 4) -> None:
        self.arrivals: list[tuple[str, str, int]] = []  # (topic, id, seq)
        self.raw: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.client = client(url, "test-watcher", clean=False, protocol=protocol)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.subscribe("faces/#", qos=1)
        assert self.subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.raw.append(message)
        envelope = unwrap(message.payload)
        if envelope is not None:
            self.arrivals.append((message.topic, envelope.id, seq_of(envelope.payload)))
            return
        props = dict(getattr(message.properties, "UserProperty", None) or [])
        self.arrivals.append((message.topic, props.get(USER_PROPERTY, ""), seq_of(message.payload)))

    def seen(self) -> int:
        """How many distinct messages arrived."""
        return len({seq for _t, _i, seq in self.arrivals})

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def summary(self) -> str:
        """Arrivals at the cloud, and how many were resends."""
        return f"{len(self.arrivals)} arrivals at the cloud for {self.seen()} messages"

    def check_order(self) -> None:
        """Per topic, the first arrival of each message is in publishing order."""
        for topic in TOPICS:
            first: list[int] = []
            for t, _id, seq in self.arrivals:
                if t == topic and seq not in first:
                    first.append(seq)
            assert first == sorted(first), f"{topic} out of order: {first}"
        ids: dict[int, set[str]] = {}
        for _t, message_id, seq in self.arrivals:
            ids.setdefault(seq, set()).add(message_id)
        assert all(len(v) == 1 for v in ids.values()), "a message arrived under two ids"


def objects(directory: Path) -> list[Path]:
    """The objects a directory sink wrote (temporary files excluded)."""
    if not directory.exists():
        return []
    return [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")]


def check_sink(directory: Path, n: int = N) -> None:
    """Exactly ``n`` objects, one per message, each holding what was published."""
    found = objects(directory)
    seqs = sorted(seq_of(p.read_bytes()) for p in found)
    missing = sorted(set(range(n)) - set(seqs))
    assert not missing, f"{len(missing)} message(s) lost, e.g. {missing[:10]}"
    assert len(found) == n, f"{len(found)} objects for {n} messages (duplicates)"
    for path in found:
        data = path.read_bytes()
        assert data == payload(seq_of(data))
        assert path.parent.name in {t.rsplit("/", 1)[1] for t in TOPICS}


class Pipeline:
    """Edge and cloud brokers, a sink, a cloud watcher and a bridge, all on loopback."""

    def __init__(self, tmp: Path, edge: MosquittoProcess, cloud: MosquittoProcess) -> None:
        self.tmp, self.edge, self.cloud = tmp, edge, cloud
        self.objects = tmp / "objects"
        self.sink = Wasmfleet(tmp / "sink.log", "sink", "--broker", cloud.url, "-t", "faces/#",
                              "--dir", str(self.objects), "--status-interval", "1")  # fmt: skip
        self.bridge: Wasmfleet | None = None
        self.watcher: CloudWatcher | None = None

    def start(self, *bridge_args: str, to: str | None = None, protocol: int = 4) -> None:
        """Start the sink and the watcher, then the bridge; wait until all are subscribed."""
        self.sink.start().wait_for("subscribed to faces/#")
        self.watcher = CloudWatcher(self.cloud.url, protocol=protocol)
        outbox = (
            [] if "--no-outbox" in bridge_args else ["--outbox", str(self.tmp / "outbox.sqlite")]
        )
        self.bridge = Wasmfleet(
            self.tmp / "bridge.log", "bridge", "--from", self.edge.url,
            "--to", to or self.cloud.url, "-t", "faces/#", "--status-interval", "0.5",
            *outbox, *bridge_args,
        )  # fmt: skip
        self.bridge.start().wait_for("subscribed to faces/#")

    def delivered(self) -> int:
        """Objects in the sink so far."""
        return len(objects(self.objects))

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until the sink and the watcher hold all N messages (or the timeout)."""
        watcher = self.watcher
        assert watcher is not None
        wait_until(lambda: self.delivered() >= N and watcher.seen() >= N, timeout, 0.2)

    def settle_lossy(self, quiet: float = 3.0, timeout: float = 30.0) -> None:
        """Wait until the sink's object count stopped changing for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline and self.delivered() < N:
            count = self.delivered()
            if count != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since > quiet:
                return
            time.sleep(0.2)

    def close(self) -> None:
        """Stop the processes and the watcher."""
        for proc in (self.bridge, self.sink):
            if proc is not None:
                proc.stop()
        if self.watcher is not None:
            self.watcher.close()

    def report(self) -> str:
        """The logs, for assertion messages."""
        bridge = self.bridge.log() if self.bridge else ""
        return f"--- bridge\n{bridge[-6000:]}\n--- sink\n{self.sink.log()[-3000:]}"


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """Two real Mosquitto brokers (edge, cloud) and the pipeline between them."""
    with (
        running_mosquitto(tmp_path / "edge") as edge,
        running_mosquitto(tmp_path / "cloud") as cloud,
    ):
        line = Pipeline(tmp_path, edge, cloud)
        try:
            yield line
        finally:
            line.close()


def kill_and_restart_bridge(line: Pipeline, publisher: Publisher, *, burst: bool = False) -> int:
    """At message ~500 (published, or in a burst: stored by the sink): SIGKILL the bridge,
    keep publishing 0.5 s, start it again."""
    assert line.bridge is not None
    progress = line.delivered if burst else (lambda: publisher.sent)
    assert wait_until(lambda: progress() >= N // 2, 30, 0.01 if burst else 0.001)
    line.bridge.kill()
    at_kill = line.delivered()
    time.sleep(0.5)
    line.bridge.start()
    return at_kill


def stop_cloud_for_5_s(line: Pipeline, publisher: Publisher) -> int:
    """At message ~500: stop the cloud broker (SIGTERM), start it again 5 s later."""
    assert wait_until(lambda: publisher.sent >= N // 2, 30, 0.001)
    line.cloud.stop()
    at_stop = line.delivered()
    time.sleep(5)
    line.cloud.start()
    return at_stop


@pytest.mark.parametrize("pace", ["paced", "burst"])
def test_bridge_killed_at_message_500_loses_nothing(pipeline: Pipeline, pace: str) -> None:
    pipeline.start()
    publisher = Publisher(pipeline.edge.url, interval=0.004 if pace == "paced" else 0.0)
    publisher.start()
    at_kill = kill_and_restart_bridge(pipeline, publisher, burst=pace == "burst")
    publisher.finish()
    pipeline.settle()
    assert pipeline.watcher is not None
    print(f"{pace}: bridge killed with {at_kill} objects stored; {pipeline.watcher.summary()}")
    assert at_kill < N
    assert pipeline.bridge is not None
    assert pipeline.bridge.log().count("bridge mqtt://") == 2, pipeline.report()
    check_sink(pipeline.objects)
    assert pipeline.watcher is not None
    pipeline.watcher.check_order()


def test_cloud_broker_down_for_5_s_loses_nothing(pipeline: Pipeline) -> None:
    pipeline.start()
    publisher = Publisher(pipeline.edge.url)
    publisher.start()
    stop_cloud_for_5_s(pipeline, publisher)
    publisher.finish()
    pipeline.settle()
    assert pipeline.bridge is not None and pipeline.watcher is not None
    print(f"cloud down for 5 s: {pipeline.watcher.summary()}")
    log = pipeline.bridge.log()
    assert re.search(r"destination down; .*waiting in outbox [1-9]", log), pipeline.report()
    check_sink(pipeline.objects)
    assert pipeline.watcher is not None
    pipeline.watcher.check_order()


@pytest.mark.parametrize("fault", ["bridge killed", "cloud down"])
def test_qos0_without_outbox_loses_messages_in_the_same_fault(
    pipeline: Pipeline, fault: str
) -> None:
    pipeline.start("--qos", "0", "--no-outbox")
    publisher = Publisher(pipeline.edge.url)
    publisher.start()
    if fault == "bridge killed":
        kill_and_restart_bridge(pipeline, publisher)
    else:
        stop_cloud_for_5_s(pipeline, publisher)
    publisher.finish()
    pipeline.settle_lossy()
    delivered = pipeline.delivered()
    print(f"best effort, {fault}: {delivered} of {N} delivered, {N - delivered} lost")
    assert 0 < delivered < N, pipeline.report()


class CuttableLink:
    """A TCP proxy on loopback whose traffic can be silently dropped, then reset."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.dropping = False
        self.sockets: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.server.settimeout(0.2)
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"mqtt://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while self.running:
            try:
                near, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                far = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                near.close()
                continue
            far.settimeout(None)
            self.sockets += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if not self.dropping:
                    dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Packets vanish: both ends keep their connection but hear nothing."""
        self.dropping = True

    def restore(self) -> None:
        """The link comes back; connections that lived through the cut are reset."""
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()
        self.dropping = False

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        self.running = False
        self.restore()
        self.server.close()


def test_network_cut_between_bridge_and_cloud_loses_nothing(pipeline: Pipeline) -> None:
    link = CuttableLink(pipeline.cloud.port)
    try:
        pipeline.start("--keepalive", "2", to=link.url)
        publisher = Publisher(pipeline.edge.url)
        publisher.start()
        assert wait_until(lambda: publisher.sent >= N // 2, 30, 0.001)
        link.cut()
        time.sleep(4)
        link.restore()
        publisher.finish()
        pipeline.settle()
        check_sink(pipeline.objects)
        assert pipeline.watcher is not None
        pipeline.watcher.check_order()
        assert pipeline.bridge is not None
        assert "lost destination" in pipeline.bridge.log(), pipeline.report()
    finally:
        link.close()


def test_mqtt5_carries_the_id_as_a_user_property(pipeline: Pipeline) -> None:
    pipeline.sink.args += ["--protocol", "5"]
    pipeline.start("--from-protocol", "5", "--to-protocol", "5", protocol=5)
    publisher = Publisher(pipeline.edge.url, n=50, interval=0.001)
    publisher.start()
    publisher.finish()
    assert wait_until(lambda: pipeline.delivered() >= 50, 20)
    watcher = pipeline.watcher
    assert watcher is not None
    assert wait_until(lambda: watcher.seen() >= 50, 10)
    for message in watcher.raw:
        props = dict(message.properties.UserProperty)
        assert message.payload == payload(seq_of(message.payload))  # no envelope
        assert (pipeline.objects / message.topic / props[USER_PROPERTY]).is_file()
    check_sink(pipeline.objects, n=50)


def test_a_restarted_bridge_resumes_its_session_and_empties_its_outbox(pipeline: Pipeline) -> None:
    pipeline.start()
    assert pipeline.bridge is not None
    pipeline.cloud.stop()
    publisher = Publisher(pipeline.edge.url, n=40, interval=0.001)
    publisher.start()
    publisher.finish()
    pipeline.bridge.wait_for(r"waiting in outbox 40")
    assert pipeline.bridge.stop() == 0
    pipeline.bridge.start().wait_for(r"session resumed")
    assert "outbox" in pipeline.bridge.log() and ": 40 message(s) waiting" in pipeline.bridge.log()
    pipeline.cloud.start()
    assert wait_until(lambda: pipeline.delivered() >= 40, 30), pipeline.report()
    pipeline.bridge.wait_for(r"waiting in outbox 0", count=1)
    check_sink(pipeline.objects, n=40)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--qos", "0"], "--qos 0 cannot keep the outbox's promise"),
        (["--no-outbox", "--outbox", "x.sqlite"], "exclude each other"),
        (["-t", "faces/#/x"], "'#' must be the last level"),
        (["--to-protocol", "6"], "is not an MQTT version"),
    ],
)
def test_bad_bridge_settings_exit_2_with_a_sentence(args: list[str], message: str) -> None:
    result = run_cli("bridge", "--from", "mqtt://127.0.0.1:1", "--to", "mqtt://127.0.0.1:2",
                     "-t", "faces/#", *args)  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_same_broker_on_both_sides_is_refused() -> None:
    result = run_cli("bridge", "--from", "mqtt://127.0.0.1:1883", "--to", "mqtt://127.0.0.1",
                     "-t", "a")  # fmt: skip
    assert result.returncode == 2 and "same broker" in result.stderr


def test_a_second_bridge_on_the_same_outbox_is_refused(tmp_path: Path) -> None:
    outbox = str(tmp_path / "outbox.sqlite")
    first = Wasmfleet(tmp_path / "first.log", "bridge", "--from", "mqtt://127.0.0.1:1",
                      "--to", "mqtt://127.0.0.1:2", "-t", "a", "--outbox", outbox)  # fmt: skip
    first.start().wait_for("waiting")
    try:
        result = run_cli("bridge", "--from", "mqtt://127.0.0.1:1", "--to", "mqtt://127.0.0.1:2",
                         "-t", "a", "--outbox", outbox)  # fmt: skip
        assert result.returncode == 2 and "in use by another process" in result.stderr
    finally:
        assert first.stop() == 0
