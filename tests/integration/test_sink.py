"""``wasmfleet sink`` as a real process on a real Mosquitto: directory and S3 (moto) stores."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.packettypes import PacketTypes

from tests.integration.test_bridge import Wasmfleet, client, objects, run_cli
from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.support import free_port, wait_until
from wasmfleet.messaging.bridge import new_properties
from wasmfleet.messaging.envelope import wrap
from wasmfleet.messaging.sink import object_key

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never ask a metadata service off this machine
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A real Mosquitto whose sessions survive its restarts."""
    with running_mosquitto(tmp_path / "broker") as running:
        yield running


STARTED: list[Wasmfleet] = []
"""Every sink process a test started; stopped after each test, whatever it asserted."""


@pytest.fixture(autouse=True)
def _stop_sinks() -> Iterator[None]:
    yield
    while STARTED:
        STARTED.pop().stop()


def start_sink(tmp: Path, broker: MosquittoProcess, *args: str, name: str = "sink") -> Wasmfleet:
    """A sink process subscribed to ``faces/#`` (stopped after the test)."""
    sink = Wasmfleet(tmp / f"{name}.log", "sink", "--broker", broker.url, "-t", "faces/#",
                     "--status-interval", "0.5", *args)  # fmt: skip
    STARTED.append(sink)
    sink.start().wait_for("subscribed to faces/#")
    return sink


def publish(broker: MosquittoProcess, messages: list[tuple[str, bytes]], **kw: Any) -> None:
    """Publish at QoS 1 and wait for the broker's acknowledgements."""
    pub = client(broker.url, "test-publisher", **kw)
    infos = [pub.publish(topic, data, qos=1) for topic, data in messages]
    assert wait_until(lambda: all(i.is_published() for i in infos), 20)
    pub.disconnect()
    pub.loop_stop()


def test_object_keys_keep_every_topic_inside_the_store() -> None:
    assert object_key("faces/cam1", "id1") == "faces/cam1/id1"
    assert object_key("a/../b", "x") == "a/%2E./b/x"
    assert object_key("./.hidden", "x") == "%2E/%2Ehidden/x"
    assert object_key("a//b/", "x") == "a/%/b/%/x"
    assert object_key("100%/x", "i") == "100%25/x/i"
    assert object_key("/", "i") != object_key("%", "i")


def test_each_id_becomes_one_object_holding_the_raw_payload(tmp_path: Path, broker: Any) -> None:
    sink = start_sink(tmp_path, broker, "--dir", str(tmp_path / "objects"))
    image = bytes(range(256)) * 8 + b"\n\x00"
    enveloped = wrap("cam1-0001", image, topic="faces/cam1", ts=1.0)
    publish(broker, [
        ("faces/cam1", enveloped),
        ("faces/cam1", enveloped),  # the same message again: still one object
        ("faces/raw", b"no id here"),
        ("faces/raw", b"no id here"),  # same bytes, same content id
        ("faces/../up", b"escape?"),
        ("faces//x", b"empty level"),
    ])  # fmt: skip
    root = tmp_path / "objects"
    assert wait_until(lambda: len(objects(root)) >= 4, 20), sink.log()
    sink.wait_for(r"received 6, stored 4, already stored 2")
    assert (root / "faces/cam1/cam1-0001").read_bytes() == image
    raw_id = "sha256-" + hashlib.sha256(b"no id here").hexdigest()
    assert (root / "faces/raw" / raw_id).read_bytes() == b"no id here"
    assert (root / "faces/%2E./up").is_dir()
    assert (root / "faces/%/x").is_dir()
    assert sorted(p.relative_to(root).parts[0] for p in objects(root)) == ["faces"] * 4
    assert sink.stop() == 0
    assert not [p for p in root.rglob(".*") if p.is_file()], "temporary files left behind"


def test_a_killed_sink_loses_nothing_and_stores_nothing_twice(tmp_path: Path, broker: Any) -> None:
    root = tmp_path / "objects"
    sink = start_sink(tmp_path, broker, "--dir", str(root))
    messages = [(f"faces/cam{i % 3}", wrap(f"m{i:04d}", b"%d" % i)) for i in range(600)]
    publish(broker, messages[:300])
    assert wait_until(lambda: len(objects(root)) >= 100, 20)
    sink.kill()
    publish(broker, messages[300:])  # queued by the broker for the sink's session
    sink.start()
    assert wait_until(lambda: len(objects(root)) >= 600, 30), sink.log()
    sink.wait_for("session resumed")
    names = sorted(p.name for p in objects(root))
    assert names == sorted(f"m{i:04d}" for i in range(600))
    assert all(p.read_bytes() == b"%d" % int(p.name[1:]) for p in objects(root))


def test_mqtt5_user_property_names_the_object(tmp_path: Path, broker: Any) -> None:
    root = tmp_path / "objects"
    sink = start_sink(tmp_path, broker, "--dir", str(root), "--protocol", "5")
    pub = client(broker.url, "test-v5", protocol=5)
    props = new_properties(PacketTypes.PUBLISH)
    props.UserProperty = [("wasmfleet-id", "v5-id")]
    info = pub.publish("faces/v5", b"payload", qos=1, properties=props)
    info.wait_for_publish(10)
    assert info.is_published()
    pub.loop_stop()
    assert wait_until(lambda: (root / "faces/v5/v5-id").is_file(), 20), sink.log()
    assert (root / "faces/v5/v5-id").read_bytes() == b"payload"


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[str, Any]]:
    """A moto S3 server on loopback and a boto3 client for it (skips without moto)."""
    server_module = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    port = free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        yield endpoint, s3
    finally:
        server.stop()


def test_s3_sink_writes_the_same_keys_idempotently(
    tmp_path: Path, broker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with moto_s3() as (endpoint, s3):
        s3.create_bucket(Bucket="faces")
        sink = start_sink(tmp_path, broker, "--s3-bucket", "faces", "--s3-endpoint", endpoint,
                          "--s3-prefix", "edge1/", "--dir", str(tmp_path / "objects"))  # fmt: skip
        message = wrap("face-42", b"\xff\xd8jpeg\n\x00", topic="faces/cam1")
        publish(broker, [("faces/cam1", message), ("faces/cam1", message), ("faces/cam2", b"x")])
        sink.wait_for(r"received 3, stored 2, already stored 1")

        def keys() -> list[str]:
            listing = s3.list_objects_v2(Bucket="faces")
            return sorted(o["Key"] for o in listing.get("Contents", []))

        raw_id = "sha256-" + hashlib.sha256(b"x").hexdigest()
        assert keys() == sorted(["edge1/faces/cam1/face-42", f"edge1/faces/cam2/{raw_id}"])
        got = s3.get_object(Bucket="faces", Key="edge1/faces/cam1/face-42")
        assert got["Body"].read() == b"\xff\xd8jpeg\n\x00"
        assert got["Metadata"]["wasmfleet-id"] == "face-42"
        assert (tmp_path / "objects/faces/cam1/face-42").read_bytes() == b"\xff\xd8jpeg\n\x00"
        assert sink.stop() == 0


def test_sink_without_boto3_says_how_to_install_it(tmp_path: Path) -> None:
    shim = tmp_path / "shim" / "boto3"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('boto3 is hidden for this test')\n")
    env = {
        **os.environ,
        "PYTHONPATH": f"{shim.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    result = run_cli(
        "sink", "--broker", "mqtt://127.0.0.1:1", "-t", "a", "--s3-bucket", "b", env=env
    )
    assert result.returncode == 2, result.stderr
    assert "needs boto3" in result.stderr and "wasmfleet[s3]" in result.stderr


def test_sink_without_aws_credentials_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("boto3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    result = run_cli(
        "sink", "--broker", "mqtt://127.0.0.1:1", "-t", "a", "--s3-bucket", "b", env=env
    )
    assert result.returncode == 2, result.stderr
    assert "No AWS credentials" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "needs somewhere to write"),
        (["--dir", "d", "--s3-prefix", "p/"], "need --s3-bucket"),
        (["--dir", "d", "--protocol", "4.0"], "is not an MQTT version"),
        (["--dir", "d", "-t", "a+"], "'+' must be a whole level"),
    ],
)
def test_bad_sink_settings_exit_2_with_a_sentence(args: list[str], message: str) -> None:
    result = run_cli("sink", "--broker", "mqtt://127.0.0.1:1", "-t", "faces/#", *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
