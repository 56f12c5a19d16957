"""The scheduler driving a real device: a second orchestrator (in this process) shares the
database of a running one and is ticked at chosen instants (so the test need not wait for the
clock's minutes). A window deploys the app onto the supervisor when it opens and removes it
when it closes; a run fire runs the app on the device, whose fan records the command."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.fleet import Fleet, running_fleet
from wasmfleet.orchestrator.auth import Identity
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.settings import OrchestratorSettings

APP = Path(__file__).resolve().parents[2] / "examples" / "apps" / "too-warm.yaml"
WHO = Identity("tester")
LAB = [
    ("sensors", {"name": "t1", "type": "temperature", "location": "campus/lab-1",
                 "device": "edge-1", "outputs": {"celsius": "float"}}),
    ("controllers", {"name": "fan-1", "type": "fan", "location": "campus/lab-1",
                     "device": "edge-1", "inputs": {"speed": "int 0..3"}}),
    ("controllers", {"name": "fan-2", "type": "fan", "location": "campus/lab-1",
                     "device": "edge-1", "inputs": {"speed": "int 0..3"}}),
]  # fmt: skip


class Ticked:
    def __init__(self, fleet: Fleet, orch: Orchestrator, loop: asyncio.AbstractEventLoop) -> None:
        self.fleet, self.orch, self.loop = fleet, orch, loop

    def tick(self, at: datetime) -> None:
        """One round of the in-process scheduler at ``at`` (one event loop for its client)."""
        self.loop.run_until_complete(self.orch.scheduler.tick(at))

    def on_device(self) -> set[str]:
        """The ids of the deployments the supervisor holds (GET /deploy)."""
        sup = self.fleet.supervisors["edge-1"]
        return {d["deploymentId"] for d in httpx.get(f"{sup.url}/deploy", timeout=10).json()}

    def fan(self, name: str) -> dict[str, object]:
        sup = self.fleet.supervisors["edge-1"]
        things = httpx.get(f"{sup.url}/api/v1/things", timeout=10).json()
        found: dict[str, object] = things["controllers"].get(name, {})
        return found


@pytest.fixture(scope="module")
def ticked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ticked]:
    root = tmp_path_factory.mktemp("scheduler-devices")
    # the process's own scheduler is off: only the ticks below fire anything
    with running_fleet(root, ("edge-1", []), orchestrator_args=["--schedule-tick", "0"]) as fleet:
        fleet.push("too-warm-logic")
        assert fleet.http.post("/api/v1/locations", json={"path": "campus/lab-1"}).is_success
        for kind, doc in LAB:
            assert fleet.http.post(f"/api/v1/{kind}", json=doc).status_code == 201
        r = fleet.http.post(
            "/api/v1/apps", content=APP.read_bytes(), headers={"content-type": "application/yaml"}
        )
        assert r.status_code == 201, r.text
        settings = OrchestratorSettings(
            data_dir=root / "orchestrator", mdns=False, public_url=fleet.url, schedule_tick_s=0
        )
        loop = asyncio.new_event_loop()
        orch = Orchestrator(settings)
        try:
            yield Ticked(fleet, orch, loop)
        finally:
            pending = asyncio.all_tasks(loop)  # e.g. the grouped execution writer's flusher
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(orch.client.aclose())
            orch.store.flush_executions()
            loop.close()
            orch.store.close()


def _install(t: Ticked, name: str, schedule: dict[str, object]) -> None:
    body = {"app": "too-warm", "location": "campus/lab-1", "name": name,
            "params": {"threshold": 20, "speed": 1}, "schedule": schedule}  # fmt: skip
    r = t.fleet.http.post("/api/v1/installs", json=body)
    assert r.status_code == 201, r.text


def test_a_window_deploys_at_its_opening_and_removes_at_its_close(ticked: Ticked) -> None:
    _install(ticked, "lab-hours", {"cron": "0 8 * * 1-5", "timezone": "Europe/Helsinki",
                                   "mode": "window", "duration": "8h"})  # fmt: skip
    install = ticked.orch.store.get_install("lab-hours")
    assert install is not None and install.next_fire is not None
    assert install.deployment_id is None  # nothing deployed before the window
    opened = install.next_fire
    ticked.tick(opened + timedelta(seconds=1))
    inside = ticked.orch.store.get_install("lab-hours")
    assert inside is not None and inside.status == "active" and inside.deployment_id
    assert inside.deployment_id in ticked.on_device()
    assert inside.next_fire == opened + timedelta(hours=8)  # the close
    ticked.tick(opened + timedelta(hours=8, seconds=1))
    assert inside.deployment_id not in ticked.on_device()
    after = ticked.orch.store.get_install("lab-hours")
    assert after is not None and after.status == "idle" and after.deployment_id is None
    outcomes = sorted((f.outcome, f.detail) for f in ticked.orch.store.list_fires(install.id))
    assert outcomes == [("ok", "deployed"), ("ok", "window closed")]


def test_a_run_fire_runs_the_app_on_the_device(ticked: Ticked) -> None:
    _install(ticked, "lab-check", {"cron": "*/15 * * * *", "timezone": "UTC"})
    install = ticked.orch.store.get_install("lab-check")
    assert install is not None and install.next_fire is not None
    before = int(str(ticked.fan("fan-2").get("count", 0)))  # lab-hours holds fan-1
    ticked.tick(install.next_fire + timedelta(seconds=1))
    fan = ticked.fan("fan-2")
    assert fan.get("count") == before + 1 and fan.get("last") == {"speed": 1}, fan
    [fire] = ticked.orch.store.list_fires(install.id)
    assert fire.outcome == "ok" and fire.fire_at == install.next_fire
    after = ticked.orch.store.get_install("lab-check")
    assert after is not None and after.fired == 1
    assert after.next_fire == install.next_fire + timedelta(minutes=15)
