"""``wasmfleet up`` as a newcomer runs it: a fleet of real processes, then the CLI against it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import free_port, wait_until
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.messaging.client import paho_client

WASMFLEET = [sys.executable, "-m", "wasmfleet"]


def cli(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMFLEET_ORCHESTRATOR": url, "COLUMNS": "200"}
    return subprocess.run(
        [*WASMFLEET, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not a running process
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class Up:
    """``wasmfleet up`` in the background, its output collected line by line."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.supervisor_port = free_port()
        self.data_dir = data_dir
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "WASMFLEET_UP_SUPERVISOR_PORT": str(self.supervisor_port),
        }
        self.proc = subprocess.Popen(
            [*WASMFLEET, "up", "--port", str(self.port), "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Press Ctrl-C to stop" in line:  # the last line of "What to try next"
                self.ready.set()
        self.ready.set()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> dict[str, int]:
        state = json.loads((self.data_dir / "up.json").read_text())
        return {name: int(item["pid"]) for name, item in state.items()}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Up]:
    running = Up(tmp_path / "up")
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(timeout=10)
        state = tmp_path / "up" / "up.json"
        if state.exists():
            for pid in running.pids().values():
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(180)
def test_up_runs_a_fleet_the_cli_can_use_and_stops_it_on_ctrl_c(fleet: Up) -> None:
    assert fleet.ready.wait(60), f"no 'What to try next' block within 60 s:\n{fleet.output}"
    assert fleet.proc.poll() is None, f"up exited with {fleet.proc.returncode}:\n{fleet.output}"
    assert "Traceback" not in fleet.output, fleet.output
    assert "error:" not in fleet.output, fleet.output
    assert "What to try next" in fleet.output
    assert f"curl {fleet.url}/api/v1/status" in fleet.output

    devices = cli(fleet.url, "device", "ls", "--output", "json")
    assert devices.returncode == 0, devices.stderr
    listed = json.loads(devices.stdout)
    assert sorted(d["name"] for d in listed) == ["cam-gw", "cloud-vm", "edge-box"]
    assert all(d["status"] == "active" for d in listed)

    run = cli(fleet.url, "exec", "camera-pipeline", "--output", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    execution = json.loads(run.stdout)
    assert int(execution["result"]) > 0
    assert [s["device"] for s in execution["steps"]] == ["cam-gw", "edge-box"]

    fibo = cli(fleet.url, "exec", "fibo", "iterations=10", "--output", "json")
    assert fibo.returncode == 0, fibo.stdout + fibo.stderr
    assert int(json.loads(fibo.stdout)["result"]) == 55
    assert [s["device"] for s in json.loads(fibo.stdout)["steps"]] == ["cloud-vm"]

    # Self-healing: stall edge-box; tally's counter moves to its failover cloud-vm, the
    # camera pipeline (edge-box is the only role=edge device) waits degraded until it returns.
    pids = fleet.pids()
    api = httpx.Client(base_url=fleet.url, timeout=30)

    def deployment(name: str) -> dict[str, Any]:
        body: dict[str, Any] = api.get(f"/api/v1/deployments/{name}").json()
        return body

    os.kill(pids["edge-box"], signal.SIGSTOP)
    try:
        moved = wait_until(
            lambda: deployment("tally")["plan"]["steps"][1]["device"] == "cloud-vm", timeout=20
        )
        assert moved, deployment("tally")
        tally = cli(fleet.url, "exec", "tally", "iterations=10", "--output", "json")
        assert tally.returncode == 0, tally.stdout + tally.stderr
        assert [s["device"] for s in json.loads(tally.stdout)["steps"]] == ["cam-gw", "cloud-vm"]
        assert deployment("camera-pipeline")["status"] == "degraded"
    finally:
        os.kill(pids["edge-box"], signal.SIGCONT)
    assert wait_until(lambda: deployment("camera-pipeline")["status"] == "active", timeout=20)

    # Streams: a reading published to the fleet's broker runs thermo-alerts on edge-box, and
    # the message counts reach wasmfleet status through the heartbeats.
    found = re.search(r"the MQTT broker (mqtt://[0-9.]+:[0-9]+)", fleet.output)
    assert found, fleet.output
    broker = parse_broker_url(found.group(1))
    publisher = paho_client(broker)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    try:
        publisher.publish("site/lab/temperature", b"35.5", qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    def handled() -> int:
        devices = {d["name"]: d for d in api.get("/api/v1/devices").json()}
        return int((devices["edge-box"].get("streams") or {}).get("handled", 0))

    assert wait_until(lambda: handled() >= 1, timeout=20)
    api.close()

    status = cli(fleet.url, "status")
    assert status.returncode == 0, status.stderr
    for word in ("cam-gw", "edge-box", "cloud-vm", "camera-pipeline", "fibo", "moved steps",
                 "thermo-alerts", "messages"):  # fmt: skip
        assert word in status.stdout, word

    assert sorted(pids) == ["cam-gw", "cloud-vm", "edge-box", "orchestrator"]
    fleet.proc.send_signal(signal.SIGINT)
    try:
        fleet.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"up did not stop within 20 s of Ctrl-C:\n{fleet.output}")
    assert fleet.proc.returncode == 0, fleet.output
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
        time.sleep(0.1)
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert "Traceback" not in fleet.output, fleet.output
    assert str(fleet.data_dir / "logs") in fleet.output
    assert (fleet.data_dir / "logs" / "orchestrator.log").exists()
