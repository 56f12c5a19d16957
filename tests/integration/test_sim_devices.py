"""The device simulator against a real orchestrator: 50 simulated devices in one process
register, get a copy of a ``replicas: all`` step each and answer it, and three of them killed
on command are declared dead, and no other."""

from __future__ import annotations

from pathlib import Path

from tests.integration.fleet import Fleet
from tests.sim_support import SimProcess
from tests.support import wait_until

COUNT = 50
MANIFEST = {
    "name": "everywhere",
    "steps": [{"module": "fibo", "function": "fibo", "replicas": "all"}],
}


def test_fifty_simulated_devices_take_a_fleet_wide_step_and_three_die(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    sim = SimProcess(tmp_path / "sim", name="sim", orchestrator_url=fleet.url, count=COUNT)
    try:
        fleet.orchestrator.start()
        sim.start()
        names = [f"sim-{i:02d}" for i in range(1, COUNT + 1)]
        assert wait_until(
            lambda: (
                sorted(n for n, d in fleet.devices().items() if d["status"] == "active") == names
            ),
            timeout=30,
        ), fleet.devices()
        # the orchestrator may list a device before the simulator has read its answer
        assert wait_until(lambda: sim.status()["registered"] == COUNT, timeout=10), sim.status()

        fleet.push("fibo")
        r = fleet.http.post("/api/v1/deployments", json=MANIFEST)
        assert r.status_code == 201, r.text
        dep = r.json()
        assert dep["status"] == "active", dep
        assert sorted(c["device"] for c in dep["copies"]) == names
        held = {d["name"]: d["deployments"] for d in sim.get("/_sim/devices").json()}
        assert held == {n: [dep["id"]] for n in names}

        r = fleet.http.post(
            "/api/v1/deployments/everywhere/execute?all=true", json={"args": {"iterations": 10}}
        )
        assert r.status_code == 200, r.text
        copies = r.json()["copies"]
        assert [(c["device"], c["success"], c["result"]) for c in copies] == [
            (n, True, "55") for n in names
        ]

        killed = ["sim-07", "sim-23", "sim-41"]
        r = sim.command_devices("kill", killed)
        assert r.status_code == 200 and r.json()["devices"] == dict.fromkeys(killed, "dead")
        assert wait_until(
            lambda: all(fleet.devices()[n]["status"] == "dead" for n in killed), timeout=20
        ), {n: fleet.devices()[n] for n in killed}
        # No other is dead (one may be "suspect" for a moment on a loaded machine: that is
        # not a declaration, and it must not have gone further).
        statuses = {n: d["status"] for n, d in fleet.devices().items()}
        assert sorted(statuses) == names
        assert sorted(n for n, s in statuses.items() if s == "dead") == killed, statuses
        for name in (n for n in names if n not in killed):
            log = fleet.http.get(f"/api/v1/devices/{name}").json()["status_log"]
            assert all(e["status"] != "dead" for e in log), (name, log)

        # An unknown device or command is refused with a sentence, nothing changes.
        r = sim.command_devices("kill", ["sim-01", "nobody"])
        assert r.status_code == 404 and "nobody" in r.json()["error"]["message"]
        assert sim.status()["lives"] == {"alive": COUNT - 3, "dead": 3, "stalled": 0}
    finally:
        sim.stop()
        fleet.stop()


def test_devices_spread_over_orchestrators_move_to_one_that_answers(tmp_path: Path) -> None:
    """With two orchestrator URLs, half the devices start on each; the first one never
    answers (nothing listens there), so its devices move to the second, register and heartbeat
    there: every device is active on the orchestrator that answers."""
    from tests.support import free_port

    fleet = Fleet(tmp_path)
    nobody = f"http://127.0.0.1:{free_port()}"
    sim = SimProcess(tmp_path / "sim", name="sim", orchestrator_url=[nobody, fleet.url], count=10)
    try:
        fleet.orchestrator.start()
        sim.start()
        names = [f"sim-{i:02d}" for i in range(1, 11)]
        assert wait_until(
            lambda: (
                sorted(n for n, d in fleet.devices().items() if d["status"] == "active") == names
            ),
            timeout=30,
        ), (fleet.devices(), sim.status())
        status = sim.status()
        assert status["switched"] >= 5, status  # the five that started on the silent one
        assert wait_until(lambda: sim.status()["acked"] >= 20, timeout=10), sim.status()
    finally:
        sim.stop()
        fleet.stop()
