"""Rollouts end to end on real supervisors: waves behind gates, an automatic rollback from a
bad version with no failed call on the copies it never touched, one rollout at a time, undo.

Four devices run one copy each of a ``replicas: all`` step. Version 1 is the example fibo,
version 2 answers ``n + 1000`` (so the test sees which version answered) and version 3 traps
on every call (the bad one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from tests.integration.fleet import Fleet, running_fleet
from tests.support import wait_until

PLUS_1000 = bytes(
    wasmtime.wat2wasm(
        '(module (memory (export "memory") 1)'
        ' (func (export "fibo") (param i64) (result i64) local.get 0 i64.const 1000 i64.add))'
    )
)
TRAPS = bytes(
    wasmtime.wat2wasm(
        '(module (memory (export "memory") 1)'
        ' (func (export "fibo") (param i64) (result i64) unreachable))'
    )
)
DEVICES = ("a", "b", "c", "d")
MANIFEST = {
    "name": "daemon",
    "steps": [{"module": "fibo@1", "function": "fibo", "replicas": "all"}],
}
DONE = {"succeeded", "rolled_back", "undone", "failed"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("rollouts")
    with running_fleet(root, *((name, []) for name in DEVICES)) as running:
        running.push("fibo")
        for wasm in (PLUS_1000, TRAPS):
            r = running.http.post(
                "/api/v1/modules",
                data={"name": "fibo"},
                files={"wasm": ("fibo.wasm", wasm, "application/wasm")},
            )
            assert r.status_code == 201, r.text
        r = running.http.post("/api/v1/deployments", json=MANIFEST)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "active", r.text
        yield running


def _versions(fleet: Fleet) -> dict[str, Any]:
    dep = fleet.http.get("/api/v1/deployments/daemon").json()
    return {c["device"]: c["version"] for c in dep["copies"]}


def _answers(fleet: Fleet) -> list[str]:
    r = fleet.http.post(
        "/api/v1/deployments/daemon/execute",
        params={"all": "true"},
        json={"args": {"iterations": 5}},
    )
    assert r.status_code == 200, r.text
    return sorted(str(c["result"]) for c in r.json()["copies"])


def _finish(fleet: Fleet, rollout_id: str, timeout: float = 60.0) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(fleet.http.get(f"/api/v1/rollouts/{rollout_id}").json())
        return seen.get("status") in DONE

    assert wait_until(done, timeout=timeout), f"rollout did not finish: {seen}"
    return seen


def _start(fleet: Fleet, to: str, **options: Any) -> dict[str, Any]:
    r = fleet.http.post("/api/v1/rollouts", json={"deployment": "daemon", "to": to, **options})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


class Load:
    """Calls every copy straight on its device until stopped (bounded), counting outcomes."""

    def __init__(self, fleet: Fleet, dep_id: str) -> None:
        self.urls = {n: f"{fleet.supervisors[n].url}/{dep_id}/modules/fibo/fibo" for n in DEVICES}
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in DEVICES]

    def _run(self, device: str) -> None:
        with httpx.Client(timeout=5.0) as client:
            for _ in range(20_000):
                if self.stop.is_set():
                    return
                try:
                    ok = client.get(self.urls[device], params={"iterations": 5}).status_code
                except httpx.HTTPError:
                    ok = 0
                self.calls[device] += 1
                self.failed[device] += ok != 200

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_a_good_version_goes_out_in_waves(fleet: Fleet) -> None:
    assert set(_versions(fleet).values()) == {1}
    started = _start(fleet, "fibo@2", canary=1, growth=2, pause="0.3s", min_calls=1)
    assert started["waves"] == [["a"], ["b", "c"], ["d"]]
    rollout = _finish(fleet, started["id"])
    assert rollout["status"] == "succeeded", rollout
    assert [g["passed"] for g in rollout["gates"]] == [True, True, True]
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)
    r = fleet.http.post(
        "/api/v1/deployments/daemon/execute?all=true", json={"args": {"iterations": 5}}
    )
    assert r.status_code == 200, r.text
    assert sorted(c["result"] for c in r.json()["copies"]) == ["1005"] * 4


def test_a_bad_version_rolls_back_by_itself_and_spares_the_other_copies(fleet: Fleet) -> None:
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)
    dep_id = fleet.http.get("/api/v1/deployments/daemon").json()["id"]
    with Load(fleet, dep_id) as load:
        assert wait_until(lambda: min(load.calls[n] for n in DEVICES) >= 5, timeout=20)
        started = _start(fleet, "fibo@3", canary=1, growth=2, pause="1s", min_calls=3)
        rollout = _finish(fleet, started["id"])
    assert rollout["status"] == "rolled_back", rollout
    assert "error rate" in (rollout["reason"] or ""), rollout["reason"]
    updated = set(rollout["updated"])
    assert updated == {"a"}  # the canary's gate stopped it
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)
    untouched = set(DEVICES) - updated
    assert all(load.calls[n] > 0 for n in untouched)
    assert sum(load.failed[n] for n in untouched) == 0, dict(load.failed)
    assert load.failed["a"] > 0  # the bad version did answer with errors before the rollback
    r = fleet.http.post(
        "/api/v1/deployments/daemon/execute?all=true", json={"args": {"iterations": 5}}
    )
    assert sorted(c["result"] for c in r.json()["copies"]) == ["1005"] * 4


def test_one_rollout_at_a_time_and_undo_puts_every_copy_back(fleet: Fleet) -> None:
    started = _start(fleet, "fibo@1", canary=1, growth=1, pause="30s", min_calls=1)
    assert wait_until(lambda: _versions(fleet)["a"] == 1, timeout=20)
    second = fleet.http.post("/api/v1/rollouts", json={"deployment": "daemon", "to": "fibo@3"})
    assert second.status_code == 409, second.text
    assert "rollout" in second.json()["error"]["message"].lower()
    r = fleet.http.post(f"/api/v1/rollouts/{started['id']}/undo")
    assert r.status_code in (200, 202), r.text
    rollout = _finish(fleet, started["id"])
    assert rollout["status"] == "undone", rollout
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)


def _cli(fleet: Fleet, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "wasmfleet", "rollout", *args, "--output", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WASMFLEET_ORCHESTRATOR": fleet.url},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_the_cli_starts_pauses_resumes_and_undoes_a_rollout(fleet: Fleet) -> None:
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)
    started = _cli(fleet, "start", "daemon", "--to", "fibo@1", "--waves", "1,3", "--pause", "2s")
    assert started["status"] in ("pending", "running") and started["waves"] == [
        ["a"],
        list(DEVICES[1:]),
    ]
    rollout_id = started["id"]
    assert _cli(fleet, "pause", rollout_id)["status"] == "paused"
    assert wait_until(lambda: _cli(fleet, "status", rollout_id)["status"] == "paused", timeout=5)
    assert _cli(fleet, "resume", rollout_id)["status"] == "running"
    assert _finish(fleet, rollout_id)["status"] == "succeeded"
    assert _versions(fleet) == dict.fromkeys(DEVICES, 1)
    assert _cli(fleet, "undo", rollout_id)["status"] == "undoing"
    assert _finish(fleet, rollout_id)["status"] == "undone"
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)


def test_a_rollout_survives_an_orchestrator_killed_mid_rollout(fleet: Fleet) -> None:
    assert _versions(fleet) == dict.fromkeys(DEVICES, 2)
    started = _start(fleet, "fibo@1", canary=1, growth=2, pause="1.5s", min_calls=1)
    assert wait_until(lambda: _versions(fleet)["a"] == 1, timeout=20)
    fleet.orchestrator.kill()  # SIGKILL: nothing is saved on the way out
    fleet.orchestrator.start()
    rollout = _finish(fleet, started["id"])
    assert rollout["status"] == "succeeded", rollout
    assert _versions(fleet) == dict.fromkeys(DEVICES, 1)
    assert _answers(fleet) == ["5"] * 4  # fibo(5) of version 1 on every copy
    assert [g["passed"] for g in rollout["gates"]] == [True, True, True]


def test_a_device_dying_mid_wave_fails_the_gate_and_its_copy_returns_on_the_old_version(
    tmp_path: Path,
) -> None:
    with running_fleet(tmp_path, ("a", []), ("b", []), ("c", [])) as fleet:
        fleet.push("fibo")
        r = fleet.http.post(
            "/api/v1/modules",
            data={"name": "fibo"},
            files={"wasm": ("fibo.wasm", PLUS_1000, "application/wasm")},
        )
        assert r.status_code == 201, r.text
        manifest = {**MANIFEST, "steps": [{**MANIFEST["steps"][0], "module": "fibo@1"}]}
        assert fleet.http.post("/api/v1/deployments", json=manifest).status_code == 201
        started = _start(fleet, "fibo@2", waves="1,2", pause="4s", min_calls=1)
        assert started["waves"] == [["a"], ["b", "c"]]
        assert wait_until(lambda: _versions(fleet)["b"] == 2, timeout=30)
        fleet.supervisors["b"].kill()  # dies while its wave is observed
        rollout = _finish(fleet, started["id"])
        assert rollout["status"] == "rolled_back", (
            rollout["reason"],
            rollout["owed"],
            rollout["gates"],
        )
        assert "b" in (rollout["reason"] or ""), rollout["reason"]
        # b's fleet-wide copy left the plan with b: nothing is owed, b is told why it was skipped
        assert not rollout["owed"] and "left the deployment" in rollout["skipped"]["b"], rollout
        running = fleet.http.get("/api/v1/deployments/daemon").json()
        copies = {c["device"]: c["version"] for c in running["copies"]}
        assert copies.get("a") == 1 and copies.get("c") == 1, copies
        # b returns with version 2 installed: its copy comes back on the version a and c run.
        fleet.supervisors["b"].start()
        fleet.wait_active("b")
        dep_id = running["id"]

        def b_runs_version_1() -> bool:
            url = f"{fleet.supervisors['b'].url}/{dep_id}/modules/fibo/fibo"
            try:
                return httpx.get(url, params={"iterations": 5}, timeout=5).json()["result"] == "5"
            except (httpx.HTTPError, ValueError, KeyError):
                return False

        assert wait_until(b_runs_version_1, timeout=30)
        assert wait_until(lambda: _versions(fleet) == dict.fromkeys("abc", 1), timeout=10)
