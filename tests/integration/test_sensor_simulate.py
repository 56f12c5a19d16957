"""``wasmfleet sensor simulate`` and ``sensor controller`` as processes against a real Mosquitto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.support import free_port
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.messaging.client import paho_client
from wasmfleet.runtime.host.camera import bundled_sample, bundled_scene

pytestmark = pytest.mark.timeout(90)

WASMFLEET = [sys.executable, "-m", "wasmfleet"]


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        yield broker


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WASMFLEET_BROKER"}
    return subprocess.run(
        [*WASMFLEET, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


class Listener:
    """A paho subscriber that records (arrival time, message) for one topic filter."""

    def __init__(self, url: str, topic: str, qos: int = 1) -> None:
        self.got: list[tuple[float, mqtt.MQTTMessage]] = []
        self.lock = threading.Lock()
        subscribed = threading.Event()
        address = parse_broker_url(url)
        self.client = paho_client(address)
        self.client.on_message = self._keep
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.connect(address.host, address.port)
        self.client.loop_start()
        self.client.subscribe(topic, qos=qos)
        assert subscribed.wait(10), "no SUBACK within 10 s"

    def _keep(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.got.append((time.monotonic(), msg))

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[float, mqtt.MQTTMessage]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.got) >= count:
                    break
            time.sleep(0.02)
        time.sleep(0.2)  # anything extra would arrive now
        with self.lock:
            return list(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listen(mosquitto: MosquittoProcess) -> Iterator[type[Listener]]:
    started: list[Listener] = []

    class Started(Listener):
        def __init__(self, url: str, topic: str, qos: int = 1) -> None:
            super().__init__(url, topic, qos)
            started.append(self)

    yield Started
    for listener in started:
        listener.close()


def test_temperature_readings_arrive_with_the_right_shape_and_rate(
    mosquitto: MosquittoProcess, listen: type[Listener]
) -> None:
    sub = listen(mosquitto.url, "site/+/temperature")
    sim = run(
        "sensor", "simulate", "--kind", "temperature", "--topic", "site/lab/temperature",
        "--rate", "20/s", "--count", "30", "--seed", "5", "--broker", mosquitto.url,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stdout + sim.stderr
    got = sub.wait_for(30)
    assert len(got) == 30, f"{len(got)} of 30 arrived"
    readings = [json.loads(msg.payload) for _, msg in got]
    assert all(set(r) == {"sensor", "seq", "ts", "celsius"} for r in readings)
    assert [r["seq"] for r in readings] == list(range(1, 31))
    assert {r["sensor"] for r in readings} == {"lab"}
    assert all(isinstance(r["celsius"], float) and 0 < r["celsius"] < 45 for r in readings)
    stamps = [r["ts"] for r in readings]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time()) < 120
    # 29 intervals of 50 ms = 1.45 s; generous bounds: the rate is honoured, not exceeded
    assert 0.7 < stamps[-1] - stamps[0] < 10, stamps
    arrived = got[-1][0] - got[0][0]
    assert 0.7 < arrived < 10, arrived
    assert {msg.qos for _, msg in got} == {1}
    summary = sim.stdout.strip().splitlines()[-1]
    assert summary.startswith("sent 30, acked 30 to site/lab/temperature (qos 1)"), summary
    assert "msg/s achieved, 20/s asked" in summary
    achieved = float(summary.split(": ")[1].split(" msg/s")[0])
    assert 5 < achieved < 40, summary
    assert "publishing temperature to site/lab/temperature" in sim.stderr


def test_the_same_seed_publishes_the_same_readings(
    mosquitto: MosquittoProcess, listen: type[Listener]
) -> None:
    runs = []
    for topic in ("seeded/a/temperature", "seeded/b/temperature"):
        sub = listen(mosquitto.url, topic)
        sim = run(
            "sensor", "simulate", "--kind", "temperature", "--topic", topic, "--rate", "50/s",
            "--count", "10", "--seed", "42", "--qos", "0", "--broker", mosquitto.url,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert "sent 10, acked n/a" in sim.stdout
        got = sub.wait_for(10)
        assert len(got) == 10
        runs.append([json.loads(msg.payload)["celsius"] for _, msg in got])
    assert runs[0] == runs[1]


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's frame header; AssertionError if it is not a JPEG."""
    assert data[:2] == b"\xff\xd8", "no SOI marker"
    assert data.rstrip(b"\x00")[-2:] == b"\xff\xd9", "no EOI marker"
    i = 2
    while i + 4 <= len(data):
        assert data[i] == 0xFF, f"bad marker at {i}"
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        assert marker != 0xDA, "scan before any frame header"
        i += 2 + length
    raise AssertionError("no frame header")


def test_camera_frames_default_to_the_bundled_scene_in_order(
    mosquitto: MosquittoProcess, listen: type[Listener]
) -> None:
    sub = listen(mosquitto.url, "site/lab/camera")
    sim = run(
        "sensor", "simulate", "--kind", "camera", "--topic", "site/lab/camera",
        "--rate", "10/s", "--count", "3", "--broker", mosquitto.url,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stdout + sim.stderr
    got = sub.wait_for(3)
    assert len(got) == 3
    scene = sorted(bundled_scene().glob("frame-*.jpg"))
    assert len(scene) == 8
    assert [msg.payload for _, msg in got] == [p.read_bytes() for p in scene[:3]]
    for _, msg in got:
        assert jpeg_size(msg.payload) == (320, 240)
    assert "sent 3, acked 3" in sim.stdout


def test_camera_frames_from_a_folder_in_name_order(
    mosquitto: MosquittoProcess, listen: type[Listener], tmp_path: Path
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    sample = bundled_sample()
    variants = [sample[:-2] + bytes([0] * n) + b"\xff\xd9" for n in (1, 2)]
    for name, data in zip(("b.jpg", "a.jpeg"), variants, strict=True):
        (frames / name).write_bytes(data)
    (frames / "notes.txt").write_text("ignored")
    sub = listen(mosquitto.url, "cam/2")
    sim = run(
        "sensor", "simulate", "--kind", "camera", "--topic", "cam/2", "--rate", "50/s",
        "--count", "3", "--camera-dir", str(frames), "--broker", mosquitto.url,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stdout + sim.stderr
    got = [msg.payload for _, msg in sub.wait_for(3)]
    assert got == [variants[1], variants[0], variants[1]]


def test_the_controller_logs_each_command_until_its_count(mosquitto: MosquittoProcess) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [*WASMFLEET, "sensor", "controller", "--topic", "site/+/commands", "--count", "3",
         "--broker", mosquitto.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline()
        assert "controller listening on site/+/commands" in ready, ready
        address = parse_broker_url(mosquitto.url)
        pub = paho_client(address)
        pub.connect(address.host, address.port)
        pub.loop_start()
        sent = [
            ("site/lab/commands", b'{"fan": "on"}'),
            ("site/lab/temperature", b"21.5"),  # not a command topic: not logged
            ("site/hall/commands", b"display: hello\nworld"),
            ("site/lab/commands", b"\xff\xd8\xff\xe0jpeg"),
        ]
        for topic, payload in sent:
            pub.publish(topic, payload, qos=1).wait_for_publish(10)
        pub.disconnect()
        pub.loop_stop()
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, out + err
    assert out.splitlines() == [
        'site/lab/commands {"fan": "on"}',
        "site/hall/commands display: hello\\nworld",
        "site/lab/commands <8 bytes, image/jpeg>",
    ]
    assert "received 3 commands" in err


def test_the_controller_stops_after_its_duration(mosquitto: MosquittoProcess) -> None:
    started = time.monotonic()
    ctl = run("sensor", "controller", "--duration", "0.5", "--broker", mosquitto.url)
    assert ctl.returncode == 0, ctl.stdout + ctl.stderr
    assert ctl.stdout == "" and "received 0 commands" in ctl.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "command",
    [
        ["sensor", "simulate", "--kind", "temperature", "--topic", "a/b", "--count", "1"],
        ["sensor", "controller", "--count", "1"],
    ],
    ids=["simulate", "controller"],
)
def test_an_unreachable_broker_is_one_line_and_exit_1(command: list[str]) -> None:
    url = f"mqtt://127.0.0.1:{free_port()}"  # nothing listens there
    result = run(*command, "--broker", url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: Cannot reach the MQTT broker at {url}: Connection refused."
    ]
    assert result.stdout == ""
