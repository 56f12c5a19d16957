"""``wasmfleet up`` as a newcomer runs it: a fleet of real processes, then the CLI against it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.up_process import WASMFLEET, UpProcess, alive
from tests.support import wait_until
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.messaging.client import paho_client


def cli(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WASMFLEET_ORCHESTRATOR": url, "COLUMNS": "200"}
    return subprocess.run(
        [*WASMFLEET, *args], capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UpProcess]:
    # The printed commands find the fleet through the context "up" that up writes here.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("WASMFLEET_TOKEN", "WASMFLEET_TOKEN_FILE", "WASMFLEET_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    running = UpProcess(tmp_path / "up")
    try:
        yield running
    finally:
        running.kill()


@pytest.mark.timeout(180)
def test_up_runs_a_fleet_the_cli_can_use_and_stops_it_on_ctrl_c(fleet: UpProcess) -> None:
    assert fleet.ready.wait(60), f"no 'What to try next' block within 60 s:\n{fleet.output}"
    assert fleet.proc.poll() is None, f"up exited with {fleet.proc.returncode}:\n{fleet.output}"
    assert "Traceback" not in fleet.output, fleet.output
    assert "error:" not in fleet.output, fleet.output
    assert "What to try next" in fleet.output
    token_file = fleet.data_dir / "admin.token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    # Auth is on: the orchestrator refuses a caller without the token ...
    assert httpx.get(f"{fleet.url}/api/v1/status", timeout=10).status_code == 401
    # The devices joined it: each holds its own credential and refuses control from others.
    for name in ("cam-gw", "edge-box", "cloud-vm"):
        held = fleet.data_dir / name / "credentials.json"
        assert oct(held.stat().st_mode & 0o777) == "0o600", held
    stranger = httpx.post(f"http://127.0.0.1:{fleet.supervisor_port}/deploy", json={}, timeout=10)
    assert stranger.status_code == 401, stranger.text
    # ... and the curl lines, as printed, send it (run by a shell, as a user pastes them).
    printed = [
        line.split("    #")[0].strip()
        for line in fleet.lines
        if line.strip().startswith("curl ") and "/api/v1/" in line
    ]
    assert f'curl -H "Authorization: Bearer $(cat {token_file})" {fleet.url}/api/v1/status' in (
        printed
    ), fleet.output
    for command in printed:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        answer = json.loads(done.stdout)  # not the error shape {"error": {"status", ...}}
        assert not isinstance(answer.get("error"), dict), (command, done.stdout)
    # The dashboard's address is printed and served; the /metrics line, as printed, answers
    # Prometheus text about this fleet.
    assert f"{fleet.url}/ui/" in fleet.output
    assert httpx.get(f"{fleet.url}/ui/", timeout=10).status_code == 200
    scrape = next(
        line.split("    #")[0].strip()
        for line in fleet.lines
        if line.strip().startswith("curl ") and line.split("    #")[0].strip().endswith("/metrics")
    )
    done = subprocess.run(scrape, shell=True, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and 'wasmfleet_devices{status="active"} 3.0' in done.stdout, (
        scrape,
        done.stdout[-2000:],
        done.stderr,
    )
    assert "current context is now 'up'" in fleet.output
    listed = cli(fleet.url, "context", "ls")
    current = [line.split() for line in listed.stdout.splitlines() if line.startswith("*")]
    assert current == [["*", "up", fleet.url, str(token_file), "-"]], listed.stdout + listed.stderr

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

    # examples/everywhere.yaml: replicas: all puts a copy of fibo on each of the three devices.
    every = cli(fleet.url, "exec", "everywhere", "--all", "iterations=10", "--output", "json")
    assert every.returncode == 0, every.stdout + every.stderr
    copies = json.loads(every.stdout)["copies"]
    assert sorted(c["device"] for c in copies) == ["cam-gw", "cloud-vm", "edge-box"]
    assert {c["result"] for c in copies} == {"55"}

    # Self-healing: stall edge-box; tally's counter moves to its failover cloud-vm, the
    # camera pipeline (edge-box is the only role=edge device) waits degraded until it returns.
    pids = fleet.pids()
    api = httpx.Client(
        base_url=fleet.url, timeout=30, headers={"authorization": f"Bearer {fleet.token}"}
    )

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

    def counter(device: str, key: str) -> int:
        devices = {d["name"]: d for d in api.get("/api/v1/devices").json()}
        return int((devices[device].get("streams") or {}).get(key, 0))

    assert wait_until(lambda: counter("edge-box", "handled") >= 1, timeout=20)
    # The camera uplink (seed 004): 9 frames on the lab's broker, motion.detect on cam-gw,
    # 8 reports over the uplink bridge to the cloud's broker, crops.unpack on cloud-vm, and
    # the sink wrote one object per crop. The alert above crossed the same bridge.
    assert "camera-uplink: 9 frames from the simulated camera, 9 crops" in fleet.output
    crops = fleet.data_dir / "objects" / "store" / "crops" / "lab"
    assert len([p for p in crops.iterdir() if not p.name.startswith(".")]) == 9
    assert counter("cam-gw", "received") == 9 and counter("cam-gw", "handled") == 9
    bridged = wait_until(lambda: counter("cam-gw", "bridged") == 9, timeout=20)
    assert bridged, json.dumps(api.get("/api/v1/devices/cam-gw").json().get("streams"))  # 8+1
    assert wait_until(lambda: counter("cloud-vm", "handled") == 9, timeout=20)
    assert counter("cloud-vm", "guest_published") == 9  # the crops
    # ML at the edge: cam-gw (started --no-nn) takes the picture, a device with WASI-NN
    # finds the face in it with BlazeFace; the inference's quality shows in its /health.
    faces = cli(fleet.url, "exec", "face-pipeline", "--output", "json")
    assert faces.returncode == 0, faces.stdout + faces.stderr
    steps = json.loads(faces.stdout)["steps"]
    assert steps[0]["device"] == "cam-gw" and steps[1]["device"] != "cam-gw"
    found = httpx.get(json.loads(faces.stdout)["result"], timeout=10).json()
    assert (found["width"], found["height"]) == (320, 240) and len(found["faces"]) == 1
    assert found["faces"][0]["score"] > 0.8
    rejected = {
        r["device"]: r["reason"]
        for r in deployment("face-pipeline")["plan"]["steps"][1]["rejected"]
    }
    assert "lacks wasi_ephemeral_nn" in rejected["cam-gw"]
    devices = {d["name"]: d for d in api.get("/api/v1/devices").json()}
    health = httpx.get(f"{devices[steps[1]['device']]['url']}/health", timeout=10).json()
    [quality] = [q for key, q in health["qoa"].items() if key.endswith("/face/detect_file")]
    assert quality["count"] >= 1 and quality["confidence_mean"] > 0.8
    api.close()

    # Places and apps: two labs with their things (lab 2's registered by its simulators), the
    # app installed in lab 1 on a one-minute schedule, its run driving lab 1's fan over MQTT.
    assert "installed too-warm-lab-1 (too-warm@1 at campus/lab-1)" in fleet.output
    assert "runs too-warm-logic.check on edge-box" in fleet.output
    assert "ran too-warm-lab-1 once now: ok" in fleet.output
    fan_log = fleet.data_dir / "logs" / "lab-1-fan.log"
    assert wait_until(lambda: '{"speed":2}' in fan_log.read_text(), timeout=20), fan_log
    places = cli(fleet.url, "location", "ls", "-o", "json")
    assert places.returncode == 0, places.stderr
    by_path = {loc["path"]: loc for loc in json.loads(places.stdout)}
    assert {"campus/lab-1", "campus/lab-2"} <= set(by_path), places.stdout
    lab2 = cli(fleet.url, "sensor", "show", "lab-2-temp", "-o", "json")
    assert lab2.returncode == 0 and json.loads(lab2.stdout)["topic"] == "campus/lab-2/temp"
    installs = cli(fleet.url, "app", "installs", "-o", "json")
    [install] = json.loads(installs.stdout)
    assert install["location"] == "campus/lab-1" and install["schedule"]["cron"] == "* * * * *"
    assert [w["device"] for w in install["where"]] == ["edge-box"]

    status = cli(fleet.url, "status")
    assert status.returncode == 0, status.stderr
    for word in ("cam-gw", "edge-box", "cloud-vm", "camera-pipeline", "fibo", "moved steps",
                 "thermo-alerts", "messages", "too-warm-lab-1"):  # fmt: skip
        assert word in status.stdout, word

    assert sorted(pids) == ["cam-gw", "cloud-vm", "edge-box", "orchestrator"]
    fleet.proc.send_signal(signal.SIGINT)
    try:
        fleet.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail(f"up did not stop within 20 s of Ctrl-C:\n{fleet.output}")
    assert fleet.proc.returncode == 0, fleet.output
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(alive(p) for p in pids.values()):
        time.sleep(0.1)
    assert not [name for name, pid in pids.items() if alive(pid)]
    simulators = subprocess.run(
        ["pgrep", "-f", "--", f"--orchestrator {fleet.url} "], capture_output=True, text=True
    )
    assert simulators.returncode == 1, f"the labs' simulators outlived up: {simulators}"
    assert "Traceback" not in fleet.output, fleet.output
    assert str(fleet.data_dir / "logs") in fleet.output
    assert (fleet.data_dir / "logs" / "orchestrator.log").exists()
