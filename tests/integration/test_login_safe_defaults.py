"""``wasmfleet login`` against a real orchestrator with auth on, and the safe defaults at start:
open on loopback with a one-line warning, refused (exit 2, one sentence) on other addresses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import OrchestratorProcess, free_port
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.service.exposure import is_loopback
from wasmfleet.supervisor.settings import SupervisorSettings

WASMFLEET = [sys.executable, "-m", "wasmfleet"]


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[OrchestratorProcess]:
    admin = tmp_path / "admin.token"
    process = OrchestratorProcess(
        tmp_path / "orch", args=["--auth", "on", "--admin-token-file", str(admin)]
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WASMFLEET_")}
    return {**clean, "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "200"}


def _run(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WASMFLEET, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env
    )


def test_login_keeps_a_good_token_and_refuses_a_wrong_one(
    orch: OrchestratorProcess, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    contexts = tmp_path / "config" / "wasmfleet" / "contexts.toml"
    admin = (tmp_path / "admin.token").read_text().strip()

    # A wrong token: a sentence, exit 1, nothing written.
    wrong = _run(env, "login", orch.url, "--name", "lab", stdin="wf_" + "x" * 43 + "\n")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert "refused the token, nothing was saved" in wrong.stderr
    assert "not known to this orchestrator" in wrong.stderr
    assert not contexts.exists()
    before = _run(env, "device", "ls", "--orchestrator", orch.url)
    assert before.returncode == 1 and "needs an API token" in before.stderr

    # The admin's token, piped in: checked, kept in a 0600 file, the context made current.
    good = _run(env, "login", orch.url, "--name", "lab", stdin=admin + "\n")
    assert good.returncode == 0, good.stderr
    assert "as admin (role admin)" in good.stdout and "'lab' is current" in good.stdout
    kept = tmp_path / "config" / "wasmfleet" / "tokens" / "lab.token"
    assert kept.read_text().strip() == admin
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    assert admin not in contexts.read_text()  # the context names the file, not the token
    after = _run(env, "device", "ls", "--output", "json")
    assert after.returncode == 0 and after.stdout.strip() == "[]", after.stderr

    # A second orchestrator URL given by flag does not get the context's token.
    elsewhere = _run(
        env, "device", "ls", "--orchestrator", orch.url.replace("127.0.0.1", "localhost")
    )
    assert elsewhere.returncode == 1 and "needs an API token" in elsewhere.stderr

    # --token-file: the file is named by the context, not copied; logout forgets it.
    named = tmp_path / "mine.token"
    named.write_text(admin + "\n")
    again = _run(env, "login", orch.url, "--name", "lab2", "--token-file", str(named))
    assert again.returncode == 0, again.stderr
    assert str(named) in contexts.read_text()
    assert _run(env, "logout").returncode == 0
    assert named.exists()
    out = _run(env, "--context", "lab2", "device", "ls")
    assert out.returncode == 1 and "needs an API token" in out.stderr
    assert _run(env, "--context", "lab", "device", "ls").returncode == 0


def test_open_device_routes_open_only_what_supervisors_call(tmp_path: Path) -> None:
    process = OrchestratorProcess(tmp_path / "orch", args=["--auth", "on", "--open-device-routes"])
    process.start()
    try:
        beat = process.post("/api/v1/heartbeat", json={"name": "ghost"})
        assert beat.status_code != 401, beat.text
        assert process.get("/file/module/none/wasm").status_code != 401
        assert process.get("/api/v1/status").status_code == 401
        assert process.post("/file/module", files={"x": ("x", b"")}).status_code == 401
    finally:
        process.stop()


@pytest.mark.parametrize("service", ["orchestrator", "supervisor"])
def test_a_service_open_on_every_interface_refuses_to_start(service: str, tmp_path: Path) -> None:
    env = _env(tmp_path)
    args = [service, "--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--no-mdns"]
    done = _run(env, *args)  # the default --host is 0.0.0.0
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"Refusing to start the {service} open on 0.0.0.0 (every interface)" in done.stderr
    assert "--host 127.0.0.1" in done.stderr and "--insecure" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_on_loopback_it_runs_open_with_a_one_line_warning(tmp_path: Path) -> None:
    process = OrchestratorProcess(tmp_path / "orch")
    process.start()
    try:
        warnings = [line for line in process.log().splitlines() if "runs with no auth" in line]
        assert len(warnings) == 1, process.log()
        assert process.get("/api/v1/status").status_code == 200
    finally:
        process.stop()


def test_which_addresses_are_loopback_and_what_each_service_decides() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "", "10.0.0.1", "example.org"]))
    wide = OrchestratorSettings(host="0.0.0.0")
    with pytest.raises(Exception, match="--auth on"):
        wide.exposure()
    assert OrchestratorSettings(host="0.0.0.0", auth="on").exposure() is None
    insecure = OrchestratorSettings(host="10.1.2.3", insecure=True).exposure()
    assert insecure is not None and "--insecure" in insecure
    assert "fine on loopback" in str(OrchestratorSettings(host="127.0.0.1").exposure())
    with pytest.raises(Exception, match="join an orchestrator"):
        SupervisorSettings(name="d", host="192.168.1.5").exposure()
    assert SupervisorSettings(name="d", host="192.168.1.5", insecure=True).exposure()
    assert "fine on loopback" in str(SupervisorSettings(name="d", host="::1").exposure())
