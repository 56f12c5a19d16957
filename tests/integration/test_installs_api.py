"""/api/v1/installs on a real orchestrator and supervisor: an app binds the things at a place,
deploys, says where it runs and runs on demand; refusals are 4xx sentences storing nothing;
end users see only their own installs and install only at their locations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.fleet import Fleet, running_fleet
from wasmfleet.core.places import parse_thing
from wasmfleet.orchestrator.store import open_store, sqlite_url

APP = """
name: lab-counter
parameters:
  threshold: {type: "float -20..60", default: 26}
needs:
  room_temp: {sensor: temperature}
  room_fan: {controller: fan, exclusive: true}
  logic: {module: counter}
steps:
  - {module: logic, function: count, uses: [room_temp, room_fan]}
"""
THINGS = [
    {"kind": "sensor", "name": "lab-temp", "type": "temperature", "location": "campus/lab-1",
     "topic": "campus/lab-1/temp", "outputs": {"celsius": "float"}},
    {"kind": "controller", "name": "lab-fan", "type": "fan", "location": "campus/lab-1",
     "topic": "campus/lab-1/fan", "inputs": {"speed": "int 0..3"}},
    {"kind": "sensor", "name": "hall-temp", "type": "temperature", "location": "campus/hall",
     "topic": "campus/hall/temp", "outputs": {"celsius": "float"}},
]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("installs")
    with running_fleet(root, ("edge-1", [])) as running:
        running.wait_active("edge-1")
        running.push("counter")
        store = open_store(sqlite_url(root / "orchestrator"))  # the places API is another part
        for path in ("campus/lab-1", "campus/hall"):
            store.add_location(path, "", "tester")
        for doc in THINGS:
            store.add_thing(parse_thing(doc), "tester")
        store.close()
        r = running.http.post(
            "/api/v1/apps", content=APP, headers={"content-type": "application/yaml"}
        )
        assert r.status_code == 201, r.text
        yield running


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["status"] == status and len(error["message"]) > 20
    return str(error["message"])


def _install(fleet: Fleet, **body: Any) -> httpx.Response:
    return fleet.http.post("/api/v1/installs", json={"app": "lab-counter", **body})


def _names(fleet: Fleet) -> list[str]:
    return [i["name"] for i in fleet.http.get("/api/v1/installs").json()]


def test_install_binds_deploys_says_where_and_runs(fleet: Fleet) -> None:
    dry = _install(fleet, location="campus/lab-1", dry_run=True)
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert dry.json()["binding"]["room_fan"]["thing"] == "lab-fan"
    assert _names(fleet) == []
    r = _install(fleet, location="campus/lab-1", params={"threshold": 22.5})
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["name"] == "lab-counter-campus-lab-1" and view["app"] == "lab-counter@1"
    assert view["status"] == "active" and view["params"] == {"threshold": 22.5}
    assert view["binding"]["room_temp"]["thing"] == "lab-temp"
    assert view["binding"]["logic"] == {"kind": "module", "module": "counter@1"}
    assert [w["device"] for w in view["where"]] == ["edge-1"]
    assert view["deployment"]["status"] == "active"
    shown = fleet.http.get(f"/api/v1/installs/{view['name']}").json()
    assert shown["where"] == view["where"]
    ran = fleet.http.post(f"/api/v1/installs/{view['name']}/run")
    assert ran.status_code == 200 and ran.json()["outcome"] == "ok", ran.text
    fires = fleet.http.get(f"/api/v1/installs/{view['name']}/fires").json()
    assert [f["outcome"] for f in fires] == ["ok"]
    # the app is in use: it cannot be deleted; the fan is held: a second install is refused
    assert "uninstall" in _error(fleet.http.delete("/api/v1/apps/lab-counter"), 409)
    held = _error(_install(fleet, location="campus/lab-1", name="second"), 409)
    assert "lab-counter-campus-lab-1" in held
    assert "second" not in _names(fleet)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"location": "campus/hall"}, 422, "no controller of type 'fan'"),
        ({"location": "campus/nowhere"}, 404, "wasmfleet location add"),
        ({"location": "Campus!"}, 400, "segment 1"),
        ({"app": "ghost", "location": "campus/hall"}, 404, "No app 'ghost'"),
        ({"location": "campus/lab-1", "params": {"threshold": 99}}, 400, "threshold"),
        ({"location": "campus/lab-1", "params": {"speed": 1}}, 400, "no parameter 'speed'"),
        ({"location": "campus/lab-1", "schedule": {"cron": "0 25 * * *", "timezone": "UTC"}},
         400, "hour field"),
        ({"location": "campus/lab-1", "schedule": {"cron": "@daily", "timezone": "Mars/Base"}},
         400, "does not exist"),
        ({"location": "campus/lab-1", "schedule": {"cron": "@daily", "timezone": "UTC",
          "start": "2030-01-02", "end": "2030-01-01"}}, 400, "not after its start"),
        ({"location": "campus/lab-1", "schedule": {"cron": "@daily", "timezone": "UTC",
          "end": "2001-01-01"}}, 400, "never fires between now and its end"),
        ({"location": "campus/lab-1", "schedule": {"cron": "@daily", "timezone": "UTC",
          "start": "2030-01-01", "end": "2030-01-03", "count": 5}}, 400, "cannot be reached"),
        ({"location": "campus/lab-1", "schedule": {"cron": "@daily", "timezone": "UTC",
          "function": "add"}}, 400, "first step"),
        ({"location": "campus/lab-1", "notify": {"webhook": ["ftp://x"]}}, 400, "http(s) URL"),
        ({"location": "campus/lab-1", "colour": "red"}, 400, "Unknown install field"),
    ],
)  # fmt: skip
def test_bad_installs_are_refused_and_nothing_is_stored(
    fleet: Fleet, body: dict[str, Any], status: int, needle: str
) -> None:
    before = _names(fleet)
    assert needle in _error(_install(fleet, name="bad-one", **body), status)
    assert _names(fleet) == before


def test_a_scheduled_install_shows_its_next_fires(fleet: Fleet) -> None:
    schedule = {"cron": "0 8,20 * * *", "timezone": "Europe/Helsinki", "missed": "skip"}
    r = _install(fleet, location="campus/hall", name="hall-sched", app="lab-counter", dry_run=True)
    assert r.status_code == 422  # no fan in the hall; the schedule goes to the lab below
    sched = fleet.http.post(
        "/api/v1/installs",
        json={"app": "lab-counter", "location": "campus/lab-1", "name": "sched-dry",
              "schedule": schedule, "dry_run": True},
    )  # fmt: skip
    assert sched.status_code == 409  # the lab's fan is held by the install above
    freed = fleet.http.delete("/api/v1/installs/lab-counter-campus-lab-1")
    assert freed.status_code == 200, freed.text
    assert "edge-1" in freed.json()["removed"]
    r = fleet.http.post(
        "/api/v1/installs",
        json={"app": "lab-counter", "location": "campus/lab-1", "name": "twice-a-day",
              "schedule": schedule},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["status"] == "pending" and view["deployment"]["status"] == "active"
    fires = view["schedule"]["next_fires"]
    assert len(fires) == 3
    assert all(f["local"][11:16] in ("08:00", "20:00") for f in fires)
    assert view["next_fire"] == fires[0]["utc"]
    assert fleet.http.delete("/api/v1/installs/twice-a-day").status_code == 200
    assert "No install" in _error(fleet.http.get("/api/v1/installs/twice-a-day"), 404)
