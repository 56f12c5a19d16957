"""Signed modules across a fleet: an orchestrator that requires signatures and supervisors
that trust the same key run a module signed with it, end to end; a device that trusts
another key refuses the deployment, which is reported and rolled back."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.fleet import running_fleet
from tests.support import MODULES, description_upload
from wasmfleet.core.signing import sign_module
from wasmfleet.core.signing_keys import SigningKey, generate_key

KEY = generate_key()
STRANGER = generate_key()


def _pub(root: Path, key: SigningKey) -> str:
    path = root / f"{key.key_id}.pub"
    path.write_bytes(key.public.pem())
    return str(path)


def test_a_signed_module_runs_on_devices_that_trust_its_key(tmp_path: Path) -> None:
    (tmp_path / "fleet").mkdir()
    trusted = _pub(tmp_path, KEY)
    other = _pub(tmp_path, STRANGER)
    with running_fleet(
        tmp_path / "fleet",
        ("a", ["--trusted-key", trusted]),
        ("b", ["--trusted-key", other]),
        orchestrator_args=["--require-signatures", "--trusted-key", trusted],
    ) as fleet:
        signed = sign_module((MODULES / "fibo" / "fibo.wasm").read_bytes(), KEY)
        r = fleet.http.post(
            "/api/v1/modules",
            data={"name": "fibo"},
            files={"wasm": ("fibo.wasm", signed, "application/wasm")},
        )
        assert r.status_code == 201, r.text
        module = r.json()
        assert module["signed_by"] == KEY.key_id, module
        described, files = description_upload("fibo")
        r = fleet.http.post(
            f"/api/v1/modules/{module['id']}/description",
            data={"description": json.dumps(described)},
            files=files or None,
        )
        assert r.status_code == 200, r.text

        # a trusts the signer: the module runs there.
        r = fleet.http.post(
            "/api/v1/deployments",
            json={"name": "on-a", "steps": [{"module": "fibo", "function": "fibo", "device": "a"}]},
        )
        assert r.status_code == 201 and r.json()["status"] == "active", r.text
        run = fleet.http.post("/api/v1/deployments/on-a/execute", json={"args": {"iterations": 10}})
        assert run.status_code == 200 and run.json()["result"] == "55", run.text

        # b trusts another key: it refuses before compiling, and the deployment says why.
        r = fleet.http.post(
            "/api/v1/deployments",
            json={"name": "on-b", "steps": [{"module": "fibo", "function": "fibo", "device": "b"}]},
        )
        assert r.status_code == 502, r.text
        assert r.json()["error"]["code"] == "deploy_failed"
        dep = r.json()["deployment"]
        assert dep["status"] == "failed", dep
        assert f"signed by key {KEY.key_id}, which is not trusted" in dep["error"], dep["error"]
        held = fleet.supervisors["b"].get("/deploy").json()
        assert held == [], held
