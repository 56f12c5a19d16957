"""HTTPS between real processes on loopback: an orchestrator and a supervisor serving TLS with
certificates of a CA made here, every client verifying against that CA, and clear sentences
for clients without it and for bad certificates or keys at start."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from tests.support import (
    MODULES,
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
    wait_until,
)
from wasmfleet.cli.local_ca import LocalTls, make_local_tls
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.tls import check_server_files

WASMFLEET = [sys.executable, "-m", "wasmfleet"]


def tls_args(files: LocalTls) -> list[str]:
    return ["--tls-cert", str(files.cert), "--tls-key", str(files.key), "--ca-file", str(files.ca)]


@dataclass
class TlsFleet:
    ca: LocalTls
    other: LocalTls
    """A second CA: its certificates are trusted by nobody in the fleet."""
    orchestrator: OrchestratorProcess
    supervisor: SupervisorProcess
    http: httpx.Client


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFleet]:
    root = tmp_path_factory.mktemp("tls")
    ca, other = make_local_tls(root / "ca"), make_local_tls(root / "other")
    trust = ssl.create_default_context(cafile=str(ca.ca))
    orch = OrchestratorProcess(root / "orch", name="orch", args=tls_args(ca), verify=trust)
    sup = SupervisorProcess(root / "edge", name="edge", args=tls_args(ca), verify=trust)
    http = httpx.Client(base_url=orch.url, verify=trust, timeout=60)
    try:
        orch.start()
        sup.args += ["--orchestrator", orch.url]
        sup.start()
        yield TlsFleet(ca, other, orch, sup, http)
    finally:
        http.close()
        sup.stop()
        orch.stop()


def devices(fleet: TlsFleet) -> dict[str, dict[str, object]]:
    return {d["name"]: d for d in fleet.http.get("/api/v1/devices").json()}


def test_supervisor_registers_over_https_and_is_called_over_https(fleet: TlsFleet) -> None:
    assert fleet.orchestrator.url.startswith("https://")
    status = fleet.http.get("/api/v1/status").json()
    assert status["orchestrator"]["public_url"] == fleet.orchestrator.url
    assert wait_until(lambda: devices(fleet).get("edge", {}).get("status") == "active", 20)
    # Registered with tls=1, so the orchestrator calls it (health, deploy, execute) by https.
    assert devices(fleet)["edge"]["url"] == fleet.supervisor.url
    assert str(devices(fleet)["edge"]["url"]).startswith("https://")

    wasm = (MODULES / "fibo" / "fibo.wasm").read_bytes()
    up = fleet.http.post(
        "/file/module",
        data={"name": "fibo"},
        files={"module": ("fibo.wasm", wasm, "application/wasm")},
    )
    assert up.status_code == 201, up.text
    described, files = description_upload("fibo")
    r = fleet.http.post(
        f"/api/v1/modules/{up.json()['id']}/description",
        data={"description": json.dumps(described)},
        files=files or None,
    )
    assert r.status_code == 200, r.text

    # The deploy goes to https://edge; edge downloads the module from https://orchestrator.
    manifest = {"name": "fibo-tls", "steps": [{"module": "fibo", "function": "fibo"}]}
    r = fleet.http.post("/api/v1/deployments", json=manifest)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active" and r.json()["devices"]["edge"]["ok"], r.json()
    r = fleet.http.post("/api/v1/deployments/fibo-tls/execute", json={"args": {"iterations": 10}})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "55"
    assert r.json()["steps"][0]["device"] == "edge"

    # Heartbeats and shipped logs reach the orchestrator over HTTPS too.
    def own_status() -> dict[str, dict[str, object]]:
        body: dict[str, dict[str, object]] = fleet.supervisor.get("/api/v1/status").json()
        return body

    assert wait_until(lambda: int(str(own_status()["heartbeat"]["acked"])) > 0, 10)
    assert wait_until(lambda: int(str(own_status()["logs"]["shipped"])) > 0, 15)
    assert own_status()["registration"]["last_error"] is None


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WASMFLEET_", "SSL_"))}
    return subprocess.run(
        [*WASMFLEET, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "COLUMNS": "200", **env},
    )


def test_the_cli_verifies_the_orchestrator(fleet: TlsFleet) -> None:
    url = {"WASMFLEET_ORCHESTRATOR": fleet.orchestrator.url}
    refused = cli("device", "ls", env=url)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert f"The orchestrator at {fleet.orchestrator.url} presented a certificate this " in (
        refused.stderr
    )
    assert "WASMFLEET_CA_FILE" in refused.stderr  # says what to do
    wrong = cli("device", "ls", env={**url, "WASMFLEET_CA_FILE": str(fleet.other.ca)})
    assert wrong.returncode == 1 and "does not trust" in wrong.stderr, wrong.stderr

    trusted = cli(
        "device", "ls", "--output", "json", env={**url, "WASMFLEET_CA_FILE": str(fleet.ca.ca)}
    )
    assert trusted.returncode == 0, trusted.stderr
    assert "edge" in {d["name"] for d in json.loads(trusted.stdout)}
    flag = cli("status", "--ca-file", str(fleet.ca.ca), env=url)
    assert flag.returncode == 0, flag.stderr

    plain = cli(
        "device",
        "ls",
        env={"WASMFLEET_ORCHESTRATOR": fleet.orchestrator.url.replace("https", "http")},
    )
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert "https://" in plain.stderr, plain.stderr

    unusable = cli("device", "ls", env={**url, "WASMFLEET_CA_FILE": str(fleet.ca.key)})
    assert unusable.returncode == 2 and "holds no PEM certificate" in unusable.stderr


def test_plain_clients_without_the_ca_are_refused(fleet: TlsFleet) -> None:
    for url in (fleet.orchestrator.url, fleet.supervisor.url):
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(
                url + "/health", verify=ssl.create_default_context(cafile=str(fleet.other.ca))
            )


def test_a_supervisor_trusting_another_ca_cannot_register(fleet: TlsFleet, tmp_path: Path) -> None:
    stranger = SupervisorProcess(
        tmp_path / "stranger",
        name="stranger",
        args=[
            "--tls-cert",
            str(fleet.ca.cert),
            "--tls-key",
            str(fleet.ca.key),
            "--ca-file",
            str(fleet.other.ca),
            "--orchestrator",
            fleet.orchestrator.url,
        ],
        verify=ssl.create_default_context(cafile=str(fleet.ca.ca)),
    )
    stranger.start()
    try:

        def registration() -> dict[str, object]:
            body: dict[str, object] = stranger.get("/api/v1/status").json()["registration"]
            return body

        assert wait_until(lambda: int(str(registration()["registrations_failed"])) > 0, 15)
        assert "CERTIFICATE_VERIFY_FAILED" in str(registration()["last_error"])
        assert registration()["registrations_ok"] == 0
        assert "stranger" not in devices(fleet)
    finally:
        stranger.stop()


def start_refused(service: str, tmp_path: Path, *args: str) -> str:
    """Start ``service`` with ``args``; it must exit 2 at once with one sentence."""
    done = subprocess.run(
        [*WASMFLEET, service, "--host", "127.0.0.1", "--port", "1", "--data-dir",
         str(tmp_path / service), "--no-mdns", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.mark.parametrize("service", ["orchestrator", "supervisor"])
def test_bad_certificates_or_keys_stop_the_service_at_start(
    service: str, fleet: TlsFleet, tmp_path: Path
) -> None:
    ca, other = fleet.ca, fleet.other
    said = start_refused(service, tmp_path, "--tls-cert", str(ca.cert), "--tls-key", str(other.key))
    assert f"The TLS key {other.key} does not belong to the certificate {ca.cert}" in said
    said = start_refused(service, tmp_path, "--tls-cert", str(ca.cert))
    assert "--tls-cert was given without --tls-key" in said
    missing = tmp_path / "nowhere.pem"
    said = start_refused(service, tmp_path, "--tls-cert", str(missing), "--tls-key", str(ca.key))
    assert f"The TLS certificate {missing} (--tls-cert or WASMFLEET_" in said
    assert "does not exist" in said
    said = start_refused(service, tmp_path, "--tls-cert", str(ca.key), "--tls-key", str(ca.key))
    assert "is not a PEM certificate" in said
    said = start_refused(service, tmp_path, "--tls-cert", str(ca.cert), "--tls-key", str(ca.cert))
    assert "is not a PEM private key" in said
    said = start_refused(service, tmp_path, "--ca-file", str(tmp_path))
    assert "is a folder, not a file" in said


def test_encrypted_and_unreadable_keys_get_a_sentence(fleet: TlsFleet, tmp_path: Path) -> None:
    key = serialization.load_pem_private_key(fleet.ca.key.read_bytes(), password=None)
    locked = tmp_path / "locked.pem"
    locked.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ConfigurationError, match="is encrypted with a password"):
        check_server_files(fleet.ca.cert, locked, "--tls-cert", "--tls-key")
    if os.geteuid() != 0:  # root reads any file
        hidden = tmp_path / "hidden.pem"
        hidden.write_bytes(fleet.ca.key.read_bytes())
        hidden.chmod(0)
        with pytest.raises(ConfigurationError, match="permission denied"):
            check_server_files(fleet.ca.cert, hidden, "--tls-cert", "--tls-key")
    check_server_files(fleet.ca.cert, fleet.ca.key, "--tls-cert", "--tls-key")  # the pair is fine
