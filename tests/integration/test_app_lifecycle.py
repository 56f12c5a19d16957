"""The issue-17 path end to end on real processes: a configurer registers a lab over the API, an
app developer publishes examples/apps/too-warm.yaml, an end user installs it with their own
notify targets; the run drives the lab's fan (a simulated actuator on the device), the end user
hears app.started and app.stopped by webhook and e-mail, and the fan is free again after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.integration.notify_receivers import Mailbox, Receiver
from tests.support import wait_until

APP = Path(__file__).resolve().parents[2] / "examples" / "apps" / "too-warm.yaml"
LAB = [
    {"name": "lab-temp", "type": "temperature", "location": "campus/lab-1",
     "device": "edge-1", "outputs": {"celsius": "float"}},
    {"name": "lab-fan", "type": "fan", "location": "campus/lab-1",
     "device": "edge-1", "inputs": {"speed": "int 0..3"}},
]  # fmt: skip


class Lab:
    def __init__(self, fleet: Fleet, hooks: Receiver, box: Mailbox) -> None:
        self.fleet, self.hooks, self.box = fleet, hooks, box


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("app-lifecycle")
    with Receiver() as hooks, Mailbox() as box:
        args = ["--smtp-url", f"smtp://127.0.0.1:{box.port}", "--smtp-from", "fleet@example.org"]
        with running_fleet(
            root, ("edge-1", ["--label", "location=campus/lab-1"]), orchestrator_args=args
        ) as fleet:
            fleet.push("too-warm-logic")
            assert fleet.http.post("/api/v1/locations", json={"path": "campus/lab-1"}).is_success
            sensor, fan = LAB
            assert fleet.http.post("/api/v1/sensors", json=sensor).status_code == 201
            assert fleet.http.post("/api/v1/controllers", json=fan).status_code == 201
            r = fleet.http.post(
                "/api/v1/apps",
                content=APP.read_bytes(),
                headers={"content-type": "application/yaml"},
            )
            assert r.status_code == 201, r.text
            yield Lab(fleet, hooks, box)


def _fan(lab: Lab) -> dict[str, object]:
    sup = lab.fleet.supervisors["edge-1"]
    things = httpx.get(f"{sup.url}/api/v1/things", timeout=10).json()
    fan: dict[str, object] = things["controllers"].get("lab-fan", {})
    return fan


def test_a_device_sits_where_its_location_label_says(lab: Lab) -> None:
    http = lab.fleet.http
    assert http.get("/api/v1/locations/campus/lab-1").json()["devices"] == ["edge-1"]
    by_path = {loc["path"]: loc for loc in http.get("/api/v1/locations").json()}
    assert by_path["campus"]["devices"] == ["edge-1"]  # at or below
    assert http.post("/api/v1/locations", json={"path": "campus/hall"}).status_code == 201
    assert http.get("/api/v1/locations/campus/hall").json()["devices"] == []


def test_install_run_notify_uninstall(lab: Lab) -> None:
    http = lab.fleet.http
    body = {
        "app": "too-warm",
        "location": "campus/lab-1",
        "name": "warm-lab",
        "params": {"threshold": 20, "speed": 3},  # the simulated DHT reads 21.5 °C
        "notify": {"webhook": [f"{lab.hooks.url}/me"], "email": ["me@example.org"]},
    }
    r = http.post("/api/v1/installs", json=body)
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["binding"]["room_fan"]["thing"] == "lab-fan"
    assert [w["device"] for w in view["where"]] == ["edge-1"]
    started = lab.hooks.wait("app.started")
    assert started.path == "/me" and started.json["data"]["install"] == "warm-lab"
    assert "warm-lab" in lab.box.wait("me@example.org")["Subject"]

    run = http.post("/api/v1/installs/warm-lab/run")
    assert run.status_code == 200 and run.json()["outcome"] == "ok", run.text
    assert wait_until(lambda: _fan(lab).get("count", 0) >= 1, timeout=10)
    assert _fan(lab)["last"] == {"speed": 3}

    # the fan is held: a second install in the same lab is refused, naming the holder
    again = http.post("/api/v1/installs", json={**body, "name": "second", "notify": None})
    assert again.status_code == 409 and "warm-lab" in again.json()["error"]["message"]
    assert http.get("/api/v1/controllers/lab-fan").json()["held_by"] == ["warm-lab"]

    assert http.delete("/api/v1/installs/warm-lab").status_code in (200, 204)
    stopped = lab.hooks.wait("app.stopped")
    assert stopped.json["data"]["install"] == "warm-lab"
    assert http.get("/api/v1/controllers/lab-fan").json()["held_by"] == []
    assert http.get("/api/v1/deployments/warm-lab").status_code == 404
