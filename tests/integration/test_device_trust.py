"""Devices that trust only their orchestrator, with real processes on loopback: a
single-use join token, a device registering with its credential, control routes refused
to anyone but the orchestrator, --calls token, and revocation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import OrchestratorProcess, SupervisorProcess, wait_until


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[tuple[OrchestratorProcess, dict[str, str]]]:
    token_file = tmp_path / "admin.token"
    proc = OrchestratorProcess(
        tmp_path / "orch", args=["--auth", "on", "--admin-token-file", str(token_file)]
    )
    proc.start()
    try:
        yield proc, {"authorization": f"Bearer {token_file.read_text().strip()}"}
    finally:
        proc.stop()


def _join_token(orch: OrchestratorProcess, admin: dict[str, str], name: str) -> str:
    r = orch.post(
        "/api/v1/tokens", json={"name": f"join@{name}", "role": "device-join"}, headers=admin
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_join_register_refuse_control_and_revoke(
    tmp_path: Path, orch: tuple[OrchestratorProcess, dict[str, str]]
) -> None:
    proc, admin = orch
    token = _join_token(proc, admin, "cam-1")
    sup = SupervisorProcess(
        tmp_path / "cam-1",
        name="cam-1",
        args=["--join", proc.url, "--calls", "token"],
        env={"WASMFLEET_JOIN_TOKEN": token},
    )
    sup.start()
    try:
        creds = tmp_path / "cam-1" / "credentials.json"
        assert creds.stat().st_mode & 0o777 == 0o600
        # the join token worked once: a second use is refused
        again = proc.post(
            "/api/v1/devices/join",
            json={"name": "cam-1"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert again.status_code == 401 and "join token" in again.json()["error"]["message"]
        # the device registered and heartbeats with its credential (auth on)
        assert wait_until(
            lambda: any(
                d["name"] == "cam-1" and d["status"] == "active"
                for d in proc.get("/api/v1/devices", headers=admin).json()
            ),
            timeout=20,
        ), sup.log()
        # control from anyone but the orchestrator: refused, nothing installed
        r = sup.deploy({"deploymentId": "x", "modules": [], "instructions": {"modules": {}}})
        assert r.status_code == 401, r.text
        r = sup.post("/register", json={"url": "http://127.0.0.1:9"}, headers={
            "authorization": "Bearer wfo_" + "0" * 64})  # fmt: skip
        assert r.status_code == 403, r.text
        assert sup.get("/deploy").json() in ([], {}) or "x" not in str(sup.get("/deploy").json())
        # --calls token: an anonymous call is refused
        r = sup.get("/x/modules/m/f")
        assert r.status_code == 401 and "--calls token" in r.json()["error"]["message"]
        # revoke: heartbeats are refused and the device gets no new work
        r = proc.post("/api/v1/devices/cam-1/revoke", headers=admin)
        assert r.status_code == 200, r.text
        assert wait_until(
            lambda: (
                sup.get("/api/v1/status").json()["heartbeat"].get("failures", 0) > 0
                or "401" in str(sup.get("/api/v1/status").json()["heartbeat"])
            ),
            timeout=10,
        ), sup.get("/api/v1/status").json()["heartbeat"]
        device = proc.get("/api/v1/devices/cam-1", headers=admin).json()
        assert device["status"] == "dead", device
        # the audit names who joined and who revoked
        audit = proc.get("/api/v1/audit", params={"limit": 50}, headers=admin).json()
        done = {(e["route"], e["role"], e["target"]) for e in audit}
        assert ("/api/v1/devices/join", "device-join", "cam-1") in done, audit
        assert ("/api/v1/devices/{key}/revoke", "admin", "cam-1") in done, audit
    finally:
        sup.stop()


def test_a_join_token_for_another_name_is_refused(
    tmp_path: Path, orch: tuple[OrchestratorProcess, dict[str, str]]
) -> None:
    proc, admin = orch
    token = _join_token(proc, admin, "cam-2")
    r = httpx.post(
        proc.url + "/api/v1/devices/join",
        json={"name": "cam-3"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403 and "cam-2" in r.json()["error"]["message"]


def test_joined_devices_run_a_pipeline_with_calls_token_and_a_revoked_one_gets_no_work(
    tmp_path: Path, orch: tuple[OrchestratorProcess, dict[str, str]]
) -> None:
    """Auth on, two joined devices that take function calls only with a token: the
    orchestrator deploys (control bearer), executes (control bearer) and a hands the result
    to b (hop token); after b is revoked, a deployment asking for b is refused."""
    import json

    from tests.support import MODULES, description_upload

    proc, admin = orch
    sups = []
    try:
        for name in ("a", "b"):
            token = _join_token(proc, admin, name)
            sup = SupervisorProcess(
                tmp_path / name,
                name=name,
                args=["--join", proc.url, "--calls", "token"],
                env={"WASMFLEET_JOIN_TOKEN": token},
            )
            sups.append(sup.start())
        assert wait_until(
            lambda: (
                sorted(
                    d["name"]
                    for d in proc.get("/api/v1/devices", headers=admin).json()
                    if d["status"] == "active"
                )
                == ["a", "b"]
            ),
            timeout=20,
        )
        wasm = (MODULES / "fibo" / "fibo.wasm").read_bytes()
        r = proc.post(
            "/api/v1/modules",
            data={"name": "fibo"},
            files={"wasm": ("fibo.wasm", wasm, "application/wasm")},
            headers=admin,
        )
        assert r.status_code == 201, r.text
        described, files = description_upload("fibo")
        r = proc.post(
            f"/api/v1/modules/{r.json()['id']}/description",
            data={"description": json.dumps(described)},
            files=files or None,
            headers=admin,
        )
        assert r.status_code == 200, r.text
        steps = [
            {"module": "fibo", "function": "fibo", "device": "a"},
            {"module": "fibo", "function": "fibo", "device": "b"},
        ]
        r = proc.post("/api/v1/deployments", json={"name": "pair", "steps": steps}, headers=admin)
        assert r.status_code == 201 and r.json()["status"] == "active", r.text
        dep_id = r.json()["id"]
        run = proc.post(
            "/api/v1/deployments/pair/execute", json={"args": {"iterations": 7}}, headers=admin
        )
        assert run.status_code == 200, run.text
        body = run.json()
        assert [s["device"] for s in body["steps"]] == ["a", "b"]
        assert body["result"] == "233", body  # fib(7) = 13 on a, fib(13) = 233 on b
        # the function itself is not open: an anonymous call to b is refused
        direct = sups[1].get(f"/{dep_id}/modules/fibo/fibo", params={"iterations": 3})
        assert direct.status_code == 401, direct.text
        # revoke b: it is dead for the orchestrator and gets no new work
        assert proc.post("/api/v1/devices/b/revoke", headers=admin).status_code == 200
        assert wait_until(
            lambda: proc.get("/api/v1/devices/b", headers=admin).json()["status"] == "dead",
            timeout=10,
        )
        single = {"name": "on-b", "steps": [{"module": "fibo", "function": "fibo", "device": "b"}]}
        refused = proc.post("/api/v1/deployments", json=single, headers=admin)
        assert refused.status_code == 422, refused.text
        assert "b" in refused.json()["error"]["message"]
    finally:
        for sup in sups:
            sup.stop()
