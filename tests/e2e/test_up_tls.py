"""``wasmfleet up --tls``: the fleet on a CA made for the run, and its printed commands work."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.up_process import WASMFLEET, UpProcess


@pytest.fixture
def fleet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[UpProcess]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the context "up"
    running = UpProcess(tmp_path / "up", "--tls")
    try:
        yield running
    finally:
        running.kill()


def exports(output: str) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines of "What to try next"."""
    return dict(re.findall(r"^\s+export (WASMFLEET_[A-Z_]+)=(\S+)", output, re.MULTILINE))


@pytest.mark.timeout(150)
def test_up_tls_serves_https_and_its_printed_commands_work(fleet: UpProcess) -> None:
    assert fleet.ready.wait(90), f"no 'What to try next' block within 90 s:\n{fleet.output}"
    assert fleet.proc.poll() is None, f"up exited with {fleet.proc.returncode}:\n{fleet.output}"
    assert "Traceback" not in fleet.output and "error:" not in fleet.output, fleet.output
    url = f"https://127.0.0.1:{fleet.port}"
    ca = fleet.data_dir / "tls" / "ca.pem"
    assert exports(fleet.output) == {"WASMFLEET_ORCHESTRATOR": url, "WASMFLEET_CA_FILE": str(ca)}
    state = json.loads((fleet.data_dir / "up.json").read_text())
    assert all(item["url"].startswith("https://127.0.0.1:") for item in state.values()), state

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WASMFLEET_", "SSL_"))}
    env = {**clean, **exports(fleet.output), "COLUMNS": "200"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*WASMFLEET, *args], capture_output=True, text=True, timeout=60, env=env
        )

    # Auth is on and the context "up" names the fleet's URL, CA and token file.
    contexts = (fleet.config_home / "wasmfleet" / "contexts.toml").read_text()
    assert 'current-context = "up"' in contexts and f'"{ca}"' in contexts, contexts
    assert str(fleet.data_dir / "admin.token") in contexts
    devices = cli("device", "ls", "--output", "json")
    assert devices.returncode == 0, devices.stderr
    listed = json.loads(devices.stdout)
    assert sorted(d["name"] for d in listed) == ["cam-gw", "cloud-vm", "edge-box"]
    assert all(d["status"] == "active" and d["url"].startswith("https://") for d in listed)
    run = cli("exec", "camera-pipeline", "--output", "json")  # two devices, a file between them
    assert run.returncode == 0, run.stdout + run.stderr
    assert [s["device"] for s in json.loads(run.stdout)["steps"]] == ["cam-gw", "edge-box"]
    fibo = cli("exec", "fibo", "iterations=10", "--output", "json")
    assert fibo.returncode == 0, fibo.stdout + fibo.stderr
    assert json.loads(fibo.stdout)["result"] == "55"

    # The curl lines as printed (with --cacert), run by a shell.
    printed = [
        line.split("    #")[0].strip()
        for line in fleet.lines
        if line.strip().startswith("curl --cacert")
    ]
    assert len(printed) == 4, fleet.output  # status, /metrics, execute, a supervisor's function
    for command in printed:
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip(), command
    assert all("Authorization: Bearer $(cat " in command for command in printed[:3]), printed
    without = subprocess.run(
        ["curl", "-sS", f"{url}/api/v1/status"], capture_output=True, text=True, timeout=30
    )
    assert without.returncode != 0  # the throwaway CA is trusted only where it is given

    assert fleet.stop() == 0, fleet.output
    assert "Traceback" not in fleet.output
