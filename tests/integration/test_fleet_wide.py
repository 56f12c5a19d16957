"""Fleet-wide steps (``replicas: all``) with real supervisors on loopback, like a DaemonSet.

Three devices, two labelled ``role=cam``: the step gets a copy on each of those two; a
fourth ``cam`` device registers later and gets one too (at the same epoch: the other
copies are not fenced); a device that dies loses its copy without the deployment being
degraded or the copy moving; an execution goes through one copy, ``?all=true`` through all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.fleet import running_fleet
from tests.integration.healing import deployment, held
from tests.support import wait_until

CAM = ["--label", "role=cam"]
MANIFEST = {
    "name": "daemon",
    "steps": [{"module": "fibo", "function": "fibo", "replicas": "all", "labels": {"role": "cam"}}],
}


def _copies(dep: dict[str, Any]) -> list[str]:
    return [c["device"] for c in dep["copies"]]


def test_replicas_all_follows_the_fleet(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("a", CAM), ("b", CAM), ("c", [])) as fleet:
        fleet.push("fibo")
        r = fleet.http.post("/api/v1/deployments", json=MANIFEST)
        assert r.status_code == 201, r.text
        dep = r.json()
        assert dep["status"] == "active", dep
        assert _copies(dep) == ["a", "b"]
        assert [c["version"] for c in dep["copies"]] == [1, 1]
        assert {s["step"] for s in dep["plan"]["steps"]} == {0}
        epoch = dep["epoch"]
        assert dep["id"] in held(fleet.supervisors["a"]) and dep["id"] in held(
            fleet.supervisors["b"]
        )
        assert dep["id"] not in held(fleet.supervisors["c"])

        # One execution runs on one copy; the next call starts at the other (round robin).
        seen = []
        for _ in range(2):
            r = fleet.http.post(
                "/api/v1/deployments/daemon/execute", json={"args": {"iterations": 10}}
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["result"] == "55" and len(body["steps"]) == 1
            seen.append(body["steps"][0]["device"])
        assert sorted(seen) == ["a", "b"]

        # A matching device that registers later gets a copy, at the same epoch.
        fleet.start_supervisor("d", *CAM)
        fleet.wait_active("d")
        assert wait_until(
            lambda: _copies(deployment(fleet, "daemon")) == ["a", "b", "d"], timeout=30
        )
        dep = deployment(fleet, "daemon")
        assert dep["epoch"] == epoch and dep["status"] == "active"
        assert wait_until(lambda: dep["id"] in held(fleet.supervisors["d"]), timeout=15)

        # ?all=true runs it from every copy: three results.
        r = fleet.http.post(
            "/api/v1/deployments/daemon/execute?all=true", json={"args": {"iterations": 10}}
        )
        assert r.status_code == 200, r.text
        copies = r.json()["copies"]
        assert [(c["device"], c["success"], c["result"]) for c in copies] == [
            ("a", True, "55"),
            ("b", True, "55"),
            ("d", True, "55"),
        ]

        # A device that dies loses its copy: nothing moves, nothing is degraded.
        fleet.supervisors["b"].kill()
        assert wait_until(lambda: _copies(deployment(fleet, "daemon")) == ["a", "d"], timeout=30)
        dep = deployment(fleet, "daemon")
        assert dep["status"] == "active" and dep["moves"] == [] and dep["epoch"] == epoch
        r = fleet.http.post(
            "/api/v1/deployments/daemon/execute?all=true", json={"args": {"iterations": 10}}
        )
        assert [c["device"] for c in r.json()["copies"]] == ["a", "d"]
        assert all(c["success"] for c in r.json()["copies"])
