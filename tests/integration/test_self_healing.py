"""Self-healing with real processes on loopback: SIGKILL, SIGSTOP, jitter, flapping, restarts.

The pipeline is fibo (pinned to device ``a``) → a *stateful* counter that adds fibo(10) = 55
per execution, so the results of a stream of executions show both that no execution was
lost and that no step ran twice: on each device the counter climbs 55, 110, 165 ... with
no gap and no repeat.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from tests.integration.fleet import Fleet, running_fleet
from tests.integration.healing import (
    PIPELINE,
    WORKER,
    Outcome,
    Stream,
    deployment,
    held,
    host_of,
    pause,
    status_log,
)
from tests.support import SupervisorProcess, wait_until

ARGS = {"iterations": 10}


def _start(fleet: Fleet, manifest: dict[str, Any] | None = None) -> str:
    fleet.push("fibo")
    fleet.push("counter")
    r = fleet.http.post("/api/v1/deployments", json=manifest or PIPELINE)
    assert r.status_code == 201, r.text
    return host_of(fleet, "heal", 1)


def heartbeats_acked(sup: SupervisorProcess) -> int:
    """How many of its heartbeats the orchestrator acknowledged (the supervisor's count)."""
    count: int = sup.get("/api/v1/status").json()["heartbeat"]["acked"]
    return count


def _counter_runs(outcomes: list[Outcome]) -> list[list[int]]:
    """The successful counter values, split where the counter started again from 55."""
    runs: list[list[int]] = []
    for outcome in outcomes:
        if outcome.status != 200:
            continue
        value = int(outcome.result)
        if value == 55 or not runs:
            runs.append([])
        runs[-1].append(value)
    return runs


def test_sigkill_during_a_stream_moves_the_step_and_loses_nothing(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("a", []), ("b", WORKER), ("c", WORKER)) as fleet:
        victim = _start(fleet)
        assert victim in ("b", "c")
        with Stream(fleet.url, "heal", ARGS) as stream:
            assert stream.wait_successes(5)
            killed_at = time.monotonic()
            fleet.supervisors[victim].kill()
            assert wait_until(lambda: deployment(fleet, "heal")["moves"], timeout=20)
            assert stream.wait_successes(10, timeout=30)
        dep = deployment(fleet, "heal")
        survivor = dep["plan"]["steps"][1]["device"]
        assert survivor not in (victim, "a") and dep["status"] == "active"
        move = dep["moves"][-1]
        assert (move["from"], move["to"], move["step"]) == (victim, survivor, 1)
        assert f"{victim} is dead" in move["reason"] and "phi" in move["reason"]
        log = status_log(fleet, victim)
        assert log[-1]["status"] == "dead" and "phi" in log[-1]["reason"]
        # Every execution succeeded (the one in flight was retried on the new device) ...
        failures = [o for o in stream.outcomes if o.status != 200]
        for failure in failures:  # ... unless the kill hit a call mid-way: then it says so
            assert failure.error and "may have run" in failure.error, failure
        assert len(failures) <= 1
        # ... and no step ran twice: two unbroken counter runs, the old and the new device.
        runs = _counter_runs(stream.outcomes)
        assert len(runs) == 2, runs
        for run in runs:
            assert run == [55 * (i + 1) for i in range(len(run))], runs
        after = [o for o in stream.outcomes if o.at > killed_at and o.status == 200]
        assert after and all(o.steps[-1]["device"] == survivor for o in after[1:])
        healing = fleet.http.get("/api/v1/status").json()["orchestrator"]["healing"]
        assert healing["steps_moved"] >= 1 and healing["heartbeats"] > 0

        # The victim restarts with its old copy on disk: it is removed, not served.
        restarted = fleet.supervisors[victim]
        restarted.start()
        assert wait_until(lambda: dep["id"] not in held(restarted), timeout=15)
        assert deployment(fleet, "heal")["plan"]["steps"][1]["device"] == survivor


def test_a_quick_supervisor_restart_keeps_its_work(tmp_path: Path) -> None:
    # "Quick" is relative to the detection window: with the default 1.5 s of tolerated pause a
    # device is dead after ~2.5 s of silence, less than a restart takes on a loaded machine (it
    # was judged dead and moved). Tolerating 30 s, as long as start() waits for a restart, makes
    # every restart this test can see a quick one.
    tolerant = ["--acceptable-pause", "30"]
    with running_fleet(
        tmp_path, ("a", []), ("b", WORKER), ("c", WORKER), orchestrator_args=tolerant
    ) as fleet:
        host = _start(fleet)
        epoch = deployment(fleet, "heal")["epoch"]
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"
        restarted = fleet.supervisors[host]
        restarted.kill()
        restarted.start()  # back well before it could be judged dead
        # The orchestrator has heard the new process (and answered its deployments' epochs)
        # once it acknowledged a few of its heartbeats: from then on the silence is over.
        assert wait_until(lambda: heartbeats_acked(restarted) >= 3, timeout=30)
        dep = deployment(fleet, "heal")
        assert (dep["moves"], dep["epoch"], dep["plan"]["steps"][1]["device"]) == ([], epoch, host)
        assert held(fleet.supervisors[host]) == {dep["id"]: epoch}
        # The restored counter starts again from 0 (state lives in the instance).
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"


def test_a_short_stall_moves_nothing_and_a_long_one_moves_and_fences(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("a", []), ("b", WORKER), ("c", WORKER)) as fleet:
        victim = _start(fleet)
        sup = fleet.supervisors[victim]
        dep_id = deployment(fleet, "heal")["id"]
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"

        pause(sup, 1.5)
        time.sleep(3.0)  # well past the moment a missed heartbeat would have made it dead
        assert deployment(fleet, "heal")["moves"] == []
        assert all(e["status"] != "dead" for e in status_log(fleet, victim))
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "110"

        pause(sup, 10.0)
        # While it was stopped the step moved; now it is back, and its copy is fenced.
        dep = deployment(fleet, "heal")
        assert dep["moves"] and dep["moves"][-1]["from"] == victim
        survivor = dep["plan"]["steps"][1]["device"]
        assert survivor not in (victim, "a")
        assert wait_until(lambda: dep_id not in held(sup), timeout=15), held(sup)
        assert wait_until(lambda: fleet.devices()[victim]["status"] == "active", timeout=10)
        assert dep_id in held(fleet.supervisors[survivor])
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"
        statuses = [e["status"] for e in status_log(fleet, victim)]
        assert statuses[-2:] == ["dead", "active"]


def test_heartbeat_jitter_raises_no_alarm(tmp_path: Path) -> None:
    jittery = ["--heartbeat-jitter", "0.3"]
    with running_fleet(tmp_path, ("a", []), ("j", jittery)) as fleet:
        time.sleep(8.0)
        assert [e["status"] for e in status_log(fleet, "j")] == ["active"]
        assert fleet.devices()["j"]["monitoring"] == "heartbeats"
        # ... and a real failure is still detected.
        fleet.supervisors["j"].kill()
        assert wait_until(lambda: fleet.devices()["j"]["status"] == "dead", timeout=10)


def test_failovers_are_tried_first(tmp_path: Path) -> None:
    manifest = {
        "name": "heal",
        "steps": [
            {"module": "fibo", "function": "fibo", "device": "a"},
            {"module": "counter", "function": "add", "device": "b", "failovers": ["d", "c"]},
        ],
    }
    with running_fleet(tmp_path, ("a", []), ("b", []), ("c", []), ("d", [])) as fleet:
        _start(fleet, manifest)
        fleet.supervisors["b"].kill()
        assert wait_until(lambda: host_of(fleet, "heal", 1) == "d", timeout=20)
        fleet.supervisors["d"].kill()
        assert wait_until(lambda: host_of(fleet, "heal", 1) == "c", timeout=20)
        assert wait_until(lambda: deployment(fleet, "heal")["status"] == "active", timeout=20)
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"
        assert [(m["from"], m["to"]) for m in deployment(fleet, "heal")["moves"]] == [
            ("b", "d"),
            ("d", "c"),
        ]


def test_unplaceable_work_is_degraded_and_retried_when_the_device_returns(
    tmp_path: Path,
) -> None:
    manifest = {
        "name": "heal",
        "steps": [
            {"module": "fibo", "function": "fibo", "device": "a"},
            {"module": "counter", "function": "add", "labels": {"zone": "z"}},
        ],
    }
    with running_fleet(tmp_path, ("a", []), ("z", ["--label", "zone=z"])) as fleet:
        _start(fleet, manifest)
        fleet.supervisors["z"].kill()
        assert wait_until(lambda: deployment(fleet, "heal")["status"] == "degraded", timeout=20)
        dep = deployment(fleet, "heal")
        assert "No device can take over" in dep["error"] and "zone" in dep["error"]
        refused = fleet.http.post("/execute/heal", json=ARGS)
        assert refused.status_code == 409 and "degraded" in refused.json()["error"]["message"]
        fleet.supervisors["z"].start()
        assert wait_until(lambda: deployment(fleet, "heal")["status"] == "active", timeout=20)
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"


def test_a_flapping_device_gets_no_new_work_until_stable(tmp_path: Path) -> None:
    damping = ["--flap-count", "2", "--stable-after", "600"]
    with running_fleet(tmp_path, ("a", []), ("f", []), orchestrator_args=damping) as fleet:
        for _ in range(2):
            fleet.supervisors["f"].kill()
            assert wait_until(lambda: fleet.devices()["f"]["status"] == "dead", timeout=10)
            fleet.supervisors["f"].start()
            assert wait_until(lambda: fleet.devices()["f"]["status"] == "active", timeout=10)
        view = fleet.devices()["f"]
        assert view["placeable"] is False and "flapping" in view["unplaceable_because"]
        fleet.push("fibo")
        r = fleet.http.post(
            "/api/v1/deployments",
            json={"name": "new", "steps": [{"module": "fibo", "function": "fibo", "device": "f"}]},
        )
        assert r.status_code == 422, r.text
        assert "f flapping: 2 failures" in r.json()["error"]["reasons"]["f"]


def test_an_orchestrator_restart_redeploys_nothing_healthy(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("a", []), ("b", WORKER)) as fleet:
        worker = _start(fleet)
        before = deployment(fleet, "heal")
        held_before = held(fleet.supervisors[worker])
        fleet.orchestrator.kill()
        time.sleep(1.0)
        fleet.orchestrator.start()
        time.sleep(6.0)  # longer than any detection: a device wrongly judged would be dead
        after = deployment(fleet, "heal")
        assert (after["epoch"], after["status"], after["moves"]) == (before["epoch"], "active", [])
        assert held(fleet.supervisors[worker]) == held_before
        for name in ("a", "b"):
            assert [e["status"] for e in status_log(fleet, name)] == ["active"], name
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"


def test_an_orchestrator_killed_during_a_move_finishes_it_after_restart(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("a", []), ("b", WORKER), ("c", WORKER)) as fleet:
        victim = _start(fleet)
        target = "c" if victim == "b" else "b"
        dep_id = deployment(fleet, "heal")["id"]
        stopped = fleet.supervisors[target]
        assert stopped.proc is not None
        fleet.supervisors[victim].kill()
        time.sleep(1.0)
        # The target stops answering just before the move reaches it: the orchestrator
        # decides the move, stores it, and hangs sending the document ...
        os.kill(stopped.proc.pid, signal.SIGSTOP)
        try:
            assert wait_until(
                lambda: deployment(fleet, "heal")["status"] == "moving", timeout=10
            ), deployment(fleet, "heal")
            # ... and is killed right then.
            fleet.orchestrator.kill()
        finally:
            os.kill(stopped.proc.pid, signal.SIGCONT)
        fleet.orchestrator.start()
        assert wait_until(lambda: deployment(fleet, "heal")["status"] == "active", timeout=20)
        dep = deployment(fleet, "heal")
        assert dep["plan"]["steps"][1]["device"] == target
        assert [(m["from"], m["to"]) for m in dep["moves"]] == [(victim, target)]
        assert wait_until(lambda: held(stopped).get(dep_id) == dep["epoch"], timeout=10)
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "110"


def test_a_file_hop_is_retried_on_the_new_device(tmp_path: Path) -> None:
    # Step 1 writes a JPEG; when the device of step 2 dies, the orchestrator fetches that
    # file from step 1's device and sends it to step 2's new device.
    manifest = {
        "name": "heal",
        "steps": [
            {"module": "camera", "function": "take_image", "device": "a"},
            {"module": "imginfo", "function": "pixels", "labels": {"role": "worker"}},
        ],
    }
    no_camera = [*WORKER, "--camera", "none"]
    with running_fleet(
        tmp_path, ("a", ["--camera", "simulated"]), ("b", no_camera), ("c", no_camera)
    ) as fleet:
        fleet.push("camera")
        fleet.push("imginfo")
        assert fleet.http.post("/api/v1/deployments", json=manifest).status_code == 201
        victim = host_of(fleet, "heal", 1)
        assert fleet.http.post("/execute/heal", json={}).json()["result"] == "76800"
        fleet.supervisors[victim].kill()
        # Right away: the hop to the dead device is refused, the execution waits for the move.
        r = fleet.http.post("/api/v1/deployments/heal/execute", json={})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["result"] == "76800"
        assert body["steps"][-1]["device"] not in (victim, "a")
        assert deployment(fleet, "heal")["moves"][-1]["from"] == victim


def test_a_device_that_does_not_push_is_watched_by_polls(tmp_path: Path) -> None:
    # Like the original wasmiot supervisor: no heartbeats, so health polls (every 0.3 s in
    # these tests) feed its detector, and refused polls make it dead.
    silent = [*WORKER, "--heartbeat-interval", "0"]
    manifest = {
        "name": "heal",
        "steps": [
            {"module": "fibo", "function": "fibo", "device": "a"},
            {"module": "counter", "function": "add", "device": "p", "failovers": ["b"]},
        ],
    }
    with running_fleet(tmp_path, ("a", []), ("p", silent), ("b", WORKER)) as fleet:
        _start(fleet, manifest)
        time.sleep(1.0)
        assert fleet.devices()["p"]["monitoring"] == "polls"
        assert fleet.devices()["b"]["monitoring"] == "heartbeats"
        fleet.supervisors["p"].kill()
        assert wait_until(lambda: host_of(fleet, "heal", 1) == "b", timeout=20)
        assert "refused" in status_log(fleet, "p")[-1]["reason"]
        assert wait_until(lambda: deployment(fleet, "heal")["status"] == "active", timeout=20)
        assert fleet.http.post("/execute/heal", json=ARGS).json()["result"] == "55"
