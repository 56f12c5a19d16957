"""``wasmfleet up`` and MQTT: its embedded broker (or the one given), told to every supervisor."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.up_process import WASMFLEET, UpProcess
from tests.mqtt import running_mosquitto
from tests.support import free_port
from wasmfleet.cli.local_fleet import supervisor_takes_broker


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[Callable[..., UpProcess]]:
    started: list[UpProcess] = []

    class Started(UpProcess):
        def __init__(self, *extra: str) -> None:
            super().__init__(tmp_path / f"up{len(started)}", "--no-pipeline", *extra)
            started.append(self)

    yield Started
    for up in started:
        up.kill()


def broker_flag(command: list[str]) -> str | None:
    return command[command.index("--broker") + 1] if "--broker" in command else None


@pytest.mark.timeout(150)
def test_up_runs_the_embedded_broker_tells_the_supervisors_and_stops_it(
    start_up: Callable[..., UpProcess],
) -> None:
    port, cloud_port = free_port(), free_port()
    up = start_up("--broker-port", str(port), "--cloud-broker-port", str(cloud_port))
    assert up.ready.wait(90), up.output
    url, cloud = f"mqtt://127.0.0.1:{port}", f"mqtt://127.0.0.1:{cloud_port}"
    assert f"started the embedded MQTT broker on {url} (loopback only)" in up.output
    assert f"started the cloud's embedded MQTT broker on {cloud} (loopback only)" in up.output
    assert f"the MQTT broker {url}, the cloud's MQTT broker {cloud}" in up.output
    assert f"sensor simulate --kind temperature --topic site/lab/temperature --rate 5/s " \
        f"--broker {url}" in up.output  # fmt: skip
    commands = up.supervisor_commands()
    assert sorted(commands) == ["cam-gw", "cloud-vm", "edge-box"]
    if supervisor_takes_broker():
        assert {n: broker_flag(c) for n, c in commands.items()} == {
            "cam-gw": url, "edge-box": url, "cloud-vm": cloud,
        }  # fmt: skip

    sim = subprocess.run(
        [*WASMFLEET, "sensor", "simulate", "--kind", "temperature", "--topic",
         "site/lab/temperature", "--rate", "50/s", "--count", "10", "--broker", url],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sim.returncode == 0, sim.stdout + sim.stderr
    assert "sent 10, acked 10" in sim.stdout

    assert up.stop() == 0, up.output
    assert "Traceback" not in up.output and "error:" not in up.output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    for name in ("broker.log", "cloud-broker.log"):
        assert "Broker closed" in (up.data_dir / "logs" / name).read_text(), name
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", cloud_port), timeout=1).close()


@pytest.mark.timeout(150)
def test_up_uses_a_given_broker_and_starts_none(
    start_up: Callable[..., UpProcess], tmp_path: Path
) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as mosquitto:
        up = start_up("--broker", mosquitto.url)
        assert up.ready.wait(90), up.output
        assert "embedded MQTT broker" not in up.output  # neither the lab's nor the cloud's
        assert f"using the MQTT broker {mosquitto.url}" in up.output
        assert f"--broker {mosquitto.url}" in up.output
        if supervisor_takes_broker():
            commands = up.supervisor_commands()
            assert {broker_flag(c) for c in commands.values()} == {mosquitto.url}
        assert up.stop() == 0, up.output
        assert not (up.data_dir / "logs" / "broker.log").exists()
