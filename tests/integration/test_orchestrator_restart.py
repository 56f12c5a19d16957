"""The orchestrator's state survives restarts (also SIGKILL), on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.support import wait_until


def _state(fleet: Fleet) -> dict[str, object]:
    get = fleet.http.get
    return {
        "devices": sorted(d["name"] for d in get("/api/v1/devices").json()),
        "modules": get("/api/v1/modules").json(),
        "deployments": [
            {k: d[k] for k in ("id", "name", "status", "plan", "devices")}
            for d in get("/api/v1/deployments").json()
        ],
        "executions": get("/api/v1/executions").json(),
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sigkill_loses_nothing_acknowledged(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    args = []
    if backend == "postgresql":
        args = ["--database-url", request.getfixturevalue("fresh_postgres_url")]
    with running_fleet(
        tmp_path, ("a", ["--label", "zone=x"]), ("b", []), orchestrator_args=args
    ) as fleet:
        fleet.push("fibo")
        fleet.push("stamp")
        r = fleet.http.post(
            "/api/v1/deployments",
            json={
                "name": "keep",
                "steps": [{"module": "fibo", "function": "fibo", "labels": {"zone": "x"}}],
            },
        )
        assert r.status_code == 201, r.text
        assert fleet.http.post("/execute/keep", json={"iterations": 5}).json()["result"] == "5"
        before = _state(fleet)
        if backend == "postgresql":
            assert (
                "postgresql" in fleet.http.get("/api/v1/status").json()["orchestrator"]["database"]
            )
        fleet.orchestrator.kill()
        fleet.orchestrator.start()
        after = _state(fleet)
        assert after == before
        # Still fully working: the stored data files serve, the deployment runs again.
        stamp = fleet.http.get("/api/v1/modules/stamp").json()
        assert fleet.http.get(f"/file/module/{stamp['id']}/prefix.txt").status_code == 200
        assert fleet.http.post("/execute/keep", json={"iterations": 6}).json()["result"] == "8"
        assert wait_until(lambda: fleet.devices()["a"]["status"] == "active", timeout=10)


def test_put_re_solves_after_the_fleet_changed(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("one", ["--label", "tier=edge"])) as fleet:
        fleet.push("fibo")
        manifest = {
            "name": "moving",
            "steps": [{"module": "fibo", "function": "fibo", "labels": {"tier": "edge"}}],
        }
        assert fleet.http.post("/api/v1/deployments", json=manifest).status_code == 201
        fleet.start_supervisor("two", "--label", "tier=edge")
        fleet.wait_active("two")
        fleet.supervisors["one"].stop()
        assert wait_until(lambda: fleet.devices()["one"]["status"] == "dead", timeout=15)
        r = fleet.http.put("/api/v1/deployments/moving")
        assert r.status_code == 200, r.text
        dep = r.json()
        assert [s["device"] for s in dep["plan"]["steps"]] == ["two"]
        rejected = {x["device"]: x["reason"] for x in dep["plan"]["steps"][0]["rejected"]}
        assert rejected["one"].startswith("one dead")
        assert fleet.http.post("/execute/moving", json={"iterations": 7}).json()["result"] == "13"


def test_device_lost_while_orchestrator_was_down_is_not_trusted(tmp_path: Path) -> None:
    # A slow health interval: the device must be dead on the first check after the
    # restart, not after several failed checks.
    slow = ["--health-interval", "30", "--health-failures", "5"]
    with running_fleet(tmp_path, ("stays", []), ("goes", []), orchestrator_args=slow) as fleet:
        fleet.orchestrator.kill()
        fleet.supervisors["goes"].kill()
        fleet.orchestrator.start()
        assert wait_until(lambda: fleet.devices()["goes"]["status"] == "dead", timeout=10)
        log = fleet.http.get("/api/v1/devices/goes").json()["status_log"]
        assert "not reachable since the orchestrator started" in log[-1]["reason"]
        assert fleet.devices()["stays"]["status"] == "active"
