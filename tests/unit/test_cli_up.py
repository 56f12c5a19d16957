"""``wasmfleet up``'s parts that need no orchestrator: ports, command lines, stopping children."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from wasmfleet.cli import local_fleet as up
from wasmfleet.cli.up_hints import what_next


def test_pick_port_keeps_a_free_port_and_skips_busy_or_taken_ones() -> None:
    busy = {3000, 3001}
    assert up.pick_port(5001, is_free=lambda p: p not in busy) == 5001
    assert up.pick_port(3000, is_free=lambda p: p not in busy) == 3002
    assert up.pick_port(5001, taken={5001, 5002}, is_free=lambda p: True) == 5003


def test_pick_port_falls_back_to_any_free_port() -> None:
    port = up.pick_port(40000, is_free=lambda p: False)
    assert not 40000 <= port < 40100 and up.port_free(port)


def test_a_listening_port_is_busy() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not up.port_free(port)
        assert up.pick_port(port) != port


def test_the_three_devices_and_their_command_lines(tmp_path: Path) -> None:
    assert [d.name for d in up.DEVICES] == ["cam-gw", "edge-box", "cloud-vm"]
    cam = up.supervisor_child(up.DEVICES[0], 5001, tmp_path, "http://127.0.0.1:3000")
    command = cam.command
    assert command[:4] == [sys.executable, "-m", "wasmfleet", "supervisor"]

    def value(flag: str) -> list[str]:
        return [command[i + 1] for i, arg in enumerate(command) if arg == flag]

    assert value("--port") == ["5001"] and value("--name") == ["cam-gw"]
    assert value("--host") == ["127.0.0.1"] and "--no-mdns" in command
    assert value("--orchestrator") == ["http://127.0.0.1:3000"]
    assert value("--label") == ["role=gateway", "location=campus/lab-1"]
    assert value("--camera") == ["simulated"] and value("--sensors") == ["simulated"]
    assert value("--capacity") == ["cores=1,memory=512MiB"]
    assert value("--data-dir") == [str(tmp_path / "cam-gw")]
    assert cam.log_path == tmp_path / "logs" / "cam-gw.log"
    edge, cloud = up.DEVICES[1], up.DEVICES[2]
    assert (edge.camera, edge.capacity) == ("none", "cores=2,memory=2048MiB,accelerator=100")
    assert (cloud.camera, cloud.sensors, cloud.capacity) == (
        "none",
        "none",
        "cores=4,memory=8192MiB",
    )
    orch = up.orchestrator_child(3000, tmp_path).command
    assert orch[3:] == [
        "orchestrator", "--host", "127.0.0.1", "--port", "3000",
        "--data-dir", str(tmp_path / "orchestrator"), "--no-mdns",
        "--public-url", "http://127.0.0.1:3000",
    ]  # fmt: skip


def test_children_get_no_wasmfleet_settings_from_this_shell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WASMFLEET_ORCHESTRATOR", "http://elsewhere:1")
    monkeypatch.setenv("WASMIOT_SUPERVISOR_PORT", "7")
    env = up.child_env()
    assert "WASMFLEET_ORCHESTRATOR" not in env and "WASMIOT_SUPERVISOR_PORT" not in env
    assert env["PYTHONUNBUFFERED"] == "1" and env["PATH"] == os.environ["PATH"]


def _child(tmp_path: Path, name: str, code: str) -> up.Child:
    return up.Child(name, 1, [sys.executable, "-c", code], tmp_path / "logs" / f"{name}.log")


def test_stop_terminates_then_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    polite = _child(tmp_path, "polite", "import time; print('up', flush=True); time.sleep(60)")
    stubborn = _child(
        tmp_path,
        "stubborn",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)",
    )
    children = [polite, stubborn]
    for child in children:
        child.start(up.child_env())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "ready" not in stubborn.tail():
        time.sleep(0.05)
    started = time.monotonic()
    up.stop(children, grace=1.0)
    assert time.monotonic() - started < 8
    assert polite.exited() is not None and stubborn.exited() == -9
    assert polite.tail() == "up"


def test_wait_orchestrator_shows_the_log_tail_when_it_exits(tmp_path: Path) -> None:
    child = _child(tmp_path, "orchestrator", "import sys; print('boom: bad config'); sys.exit(3)")
    child.port = 9  # nothing answers there
    child.start(up.child_env())
    with pytest.raises(up.StartFailed) as failed:
        up.wait_orchestrator(child, timeout=20)
    text = str(failed.value)
    assert "The orchestrator exited with status 3." in text
    assert "boom: bad config" in text and str(child.log_path) in text


def test_wait_orchestrator_times_out_with_a_sentence(tmp_path: Path) -> None:
    child = _child(tmp_path, "orchestrator", "import time; time.sleep(30)")
    child.port = 9
    child.start(up.child_env())
    try:
        with pytest.raises(
            up.StartFailed, match=r"did not answer on http://127.0.0.1:9 within 0.5 s"
        ):
            up.wait_orchestrator(child, timeout=0.5)
    finally:
        up.stop([child], grace=2)


def test_write_state_records_pids_urls_and_logs(tmp_path: Path) -> None:
    child = _child(tmp_path, "cam-gw", "pass")
    child.port = 5001
    child.start(up.child_env())
    assert child.proc is not None
    child.proc.wait(timeout=10)
    up.write_state(tmp_path, [child])
    state = json.loads((tmp_path / "up.json").read_text())
    assert state == {
        "cam-gw": {
            "url": "http://127.0.0.1:5001",
            "pid": child.proc.pid,
            "log": str(tmp_path / "logs" / "cam-gw.log"),
        }
    }


def test_what_next_uses_the_real_ports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cloud = up.supervisor_child(up.DEVICES[2], 5013, tmp_path, "http://127.0.0.1:3005")
    deployed = {
        "fibo": {"id": "dep1", "plan": {"steps": [{"device": "cloud-vm"}]}},
        "camera-pipeline": {"id": "dep2", "plan": {"steps": []}},
    }
    what_next("http://127.0.0.1:3005", [cloud], deployed)
    out = capsys.readouterr().out
    assert "What to try next" in out
    assert "export WASMFLEET_ORCHESTRATOR=http://127.0.0.1:3005" in out
    assert "curl http://127.0.0.1:3005/api/v1/status" in out
    assert "exec camera-pipeline" in out and "exec fibo iterations=30" in out
    assert "curl 'http://127.0.0.1:5013/dep1/modules/fibo/fibo?iterations=7'" in out
    what_next("http://127.0.0.1:3000", [], {})
    assert "export" not in capsys.readouterr().out


def test_with_tls_every_child_serves_https_and_trusts_the_runs_ca(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from wasmfleet.cli.local_ca import LocalTls

    tls = LocalTls(tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server-key.pem")
    wanted = ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--ca-file", str(tls.ca)]
    orch = up.orchestrator_child(3000, tmp_path, tls=tls)
    assert orch.url == "https://127.0.0.1:3000" and orch.command[-6:] == wanted
    assert "https://127.0.0.1:3000" in orch.command  # its --public-url
    cam = up.supervisor_child(up.DEVICES[0], 5001, tmp_path, orch.url, tls=tls)
    assert cam.url == "https://127.0.0.1:5001"
    at = cam.command.index("--tls-cert")
    assert cam.command[at : at + 6] == wanted
    what_next(orch.url, [cam], {"fibo": {"id": "d", "plan": {"steps": [{"device": "cam-gw"}]}}},
              ca_file=tls.ca)  # fmt: skip
    out = capsys.readouterr().out
    assert f"export WASMFLEET_CA_FILE={tls.ca}" in out
    assert f"curl --cacert {tls.ca} https://127.0.0.1:3000/api/v1/status" in out
    assert f"curl --cacert {tls.ca} 'https://127.0.0.1:5001/d/modules/fibo/fibo" in out
    assert "\n  curl http" not in out
