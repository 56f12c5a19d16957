"""/api/v1/locations, /sensors and /controllers on a real orchestrator: registration, lookups,
filters, and bad input refused with a 4xx sentence that stores nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import OrchestratorProcess
from wasmfleet.orchestrator.store import open_store, sqlite_url
from wasmfleet.orchestrator.store.base import utcnow
from wasmfleet.orchestrator.store.schema import apps, holds, installs

TEMP: dict[str, Any] = {
    "name": "lab-temp",
    "type": "temperature",
    "location": "campus/lab-1",
    "topic": "campus/lab-1/temp",
    "outputs": {"celsius": "float"},
}
FAN: dict[str, Any] = {
    "name": "lab-fan",
    "type": "fan",
    "location": "campus/lab-1",
    "device": "edge-1",
    "inputs": {"speed": "int 0..3"},
}


@pytest.fixture(scope="module")
def orch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrchestratorProcess]:
    process = OrchestratorProcess(tmp_path_factory.mktemp("places") / "data")
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def http(orch: OrchestratorProcess) -> Iterator[httpx.Client]:
    """A client on an orchestrator emptied of things and locations after each test."""
    with httpx.Client(base_url=orch.url, timeout=30.0) as client:
        yield client
        for kind in ("sensors", "controllers"):
            for thing in client.get(f"/api/v1/{kind}").json():
                assert client.delete(f"/api/v1/{kind}/{thing['name']}").status_code == 204
        for loc in sorted(client.get("/api/v1/locations").json(), key=lambda x: -len(x["path"])):
            assert client.delete(f"/api/v1/locations/{loc['path']}").status_code == 204


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["status"] == status and len(error["message"]) > 20
    return str(error["message"])


def test_locations_are_added_with_their_parents_and_counted(http: httpx.Client) -> None:
    r = http.post(
        "/api/v1/locations",
        json={"path": "campus/lab-1/bench", "description": "the bench"},
        headers={"x-wasmfleet-user": "carol"},
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["created"] == ["campus", "campus/lab-1", "campus/lab-1/bench"]
    assert (made["path"], made["parent"], made["description"]) == (
        "campus/lab-1/bench",
        "campus/lab-1",
        "the bench",
    )
    assert made["created_by"] == "carol"
    assert http.post("/api/v1/sensors", json=TEMP).status_code == 201
    assert http.post("/api/v1/controllers", json=FAN).status_code == 201
    bench = dict(TEMP, name="bench-temp", location="campus/lab-1/bench")
    assert http.post("/api/v1/sensors", json=bench).status_code == 201
    listed = {loc["path"]: loc for loc in http.get("/api/v1/locations").json()}
    assert list(listed) == ["campus", "campus/lab-1", "campus/lab-1/bench"]
    assert (listed["campus"]["sensors"], listed["campus"]["controllers"]) == (2, 1)
    assert listed["campus"]["parent"] is None
    assert (
        listed["campus/lab-1/bench"]["sensors"],
        listed["campus/lab-1/bench"]["controllers"],
    ) == (1, 0)
    one = http.get("/api/v1/locations/campus/lab-1")
    assert one.status_code == 200 and one.json()["sensors"] == 2
    assert http.get("/api/v1/locations/campus/lab-1/").json()["path"] == "campus/lab-1"


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ([1], 400, "JSON object"),
        ({}, 400, "location's path"),
        ({"path": "Campus"}, 400, "segment 1 'Campus'"),
        ({"path": "a//b"}, 400, "two '/' in a row"),
        ({"path": "a", "where": "x"}, 400, "unknown key"),
        ({"path": "a", "description": 3}, 400, "description must be text"),
    ],
)
def test_bad_locations_are_refused(
    http: httpx.Client, body: object, status: int, needle: str
) -> None:
    assert needle in _error(http.post("/api/v1/locations", json=body), status)
    assert http.get("/api/v1/locations").json() == []


def test_a_location_twice_and_unknown_or_busy_locations(http: httpx.Client) -> None:
    assert http.post("/api/v1/locations", json={"path": "campus/lab-1"}).status_code == 201
    assert "already exists" in _error(
        http.post("/api/v1/locations", json={"path": "/campus/lab-1/"}), 409
    )
    assert "wasmfleet location add campus/lab-2" in _error(
        http.get("/api/v1/locations/campus/lab-2"), 404
    )
    assert "No location" in _error(http.delete("/api/v1/locations/campus/lab-2"), 404)
    assert "lie below it" in _error(http.delete("/api/v1/locations/campus"), 409)
    assert http.post("/api/v1/sensors", json=TEMP).status_code == 201
    assert "lab-temp" in _error(http.delete("/api/v1/locations/campus/lab-1"), 409)
    assert len(http.get("/api/v1/locations").json()) == 2


def test_things_register_list_show_and_remove(http: httpx.Client) -> None:
    http.post("/api/v1/locations", json={"path": "campus/lab-1"})
    http.post("/api/v1/locations", json={"path": "campus/lab-10"})
    r = http.post("/api/v1/sensors", json=TEMP, headers={"x-wasmfleet-user": "dora"})
    assert r.status_code == 201, r.text
    shown = r.json()
    assert {k: shown[k] for k in TEMP} == TEMP
    assert shown["kind"] == "sensor" and shown["held_by"] == [] and shown["created_by"] == "dora"
    again = http.post("/api/v1/sensors", json=TEMP)
    assert again.status_code == 200 and again.json()["id"] == shown["id"]
    moved = dict(TEMP, topic="campus/lab-1/t2")
    assert "--replace" in _error(http.post("/api/v1/sensors", json=moved), 409)
    r = http.post("/api/v1/sensors", json=moved, params={"replace": "true"})
    assert r.status_code == 200 and r.json()["topic"] == "campus/lab-1/t2"
    r = http.post("/api/v1/controllers", json=dict(FAN, kind="controller"))
    assert r.status_code == 201, r.text
    other = dict(TEMP, name="far-temp", location="campus/lab-10")
    assert http.post("/api/v1/sensors", json=other).status_code == 201

    def names(kind: str, **params: str) -> list[str]:
        r = http.get(f"/api/v1/{kind}", params=params)
        assert r.status_code == 200, r.text
        return [t["name"] for t in r.json()]

    assert names("sensors") == ["far-temp", "lab-temp"]
    assert names("sensors", location="campus/lab-1") == ["lab-temp"]
    assert names("sensors", location="campus", type="temperature") == ["far-temp", "lab-temp"]
    assert names("sensors", type="camera") == []
    assert names("controllers") == ["lab-fan"]
    assert "No location 'campus/lab-2'" in _error(
        http.get("/api/v1/sensors", params={"location": "campus/lab-2"}), 404
    )
    assert "type must be" in _error(http.get("/api/v1/sensors", params={"type": "Fan!"}), 400)
    fan = http.get("/api/v1/controllers/lab-fan").json()
    assert fan["device"] == "edge-1" and fan["inputs"] == {"speed": "int 0..3"}
    assert "is a controller" in _error(http.get("/api/v1/sensors/lab-fan"), 404)
    assert "wasmfleet sensor ls" in _error(http.get("/api/v1/sensors/nope"), 404)
    assert http.delete("/api/v1/controllers/lab-fan").status_code == 204
    assert "No controller" in _error(http.delete("/api/v1/controllers/lab-fan"), 404)
    assert "No controller" in _error(http.delete("/api/v1/controllers/lab-temp"), 404)


@pytest.mark.parametrize(
    ("kind", "body", "status", "needle"),
    [
        ("sensors", [1], 400, "must be an object"),
        (
            "sensors",
            dict(TEMP, location="campus/lab-9"),
            422,
            "wasmfleet location add campus/lab-9",
        ),
        ("sensors", dict(TEMP, kind="controller"), 400, "kind says 'controller'"),
        ("sensors", dict(TEMP, outputs={"celsius": "flaot"}), 400, "is not a type"),
        ("sensors", dict(TEMP, inputs={"x": "int"}), 400, "declares 'outputs'"),
        ("sensors", dict(TEMP, device="edge-1"), 400, "exactly one of"),
        ("sensors", dict(TEMP, topic="a/#"), 400, "topic"),
        ("sensors", dict(TEMP, type="Temp"), 400, "type name"),
        ("controllers", dict(FAN, inputs={"speed": "int 3..0"}), 400, "lower end first"),
        ("controllers", dict(FAN, colour="red"), 400, "unknown key"),
        ("controllers", dict(TEMP, name="lab-temp"), 400, "declares 'inputs'"),
    ],
)
def test_bad_things_are_refused_and_nothing_is_stored(
    http: httpx.Client, kind: str, body: object, status: int, needle: str
) -> None:
    http.post("/api/v1/locations", json={"path": "campus/lab-1"})
    assert needle in _error(http.post(f"/api/v1/{kind}", json=body), status)
    assert http.get("/api/v1/sensors").json() == []
    assert http.get("/api/v1/controllers").json() == []


def test_a_name_is_shared_by_sensors_and_controllers(http: httpx.Client) -> None:
    http.post("/api/v1/locations", json={"path": "campus/lab-1"})
    assert http.post("/api/v1/sensors", json=TEMP).status_code == 201
    clash = dict(FAN, name="lab-temp")
    assert "already a sensor" in _error(http.post("/api/v1/controllers", json=clash), 409)
    assert "--replace" not in _error(
        http.post("/api/v1/controllers", json=clash, params={"replace": "true"}), 409
    )
    assert "replace" in _error(http.post("/api/v1/sensors?replace=maybe", json=TEMP), 400)


def test_a_held_thing_shows_its_installs_and_is_not_removed(
    orch: OrchestratorProcess, http: httpx.Client
) -> None:
    http.post("/api/v1/locations", json={"path": "campus/lab-1"})
    fan = http.post("/api/v1/controllers", json=FAN).json()
    store = open_store(sqlite_url(orch.data_dir))
    try:  # the installs part writes these rows; here they are written directly
        now = utcnow()
        with store.engine.begin() as conn:
            conn.execute(
                apps.insert().values(
                    id="a1", name="too-warm", version=1, manifest={}, modules={},
                    description="", author="t", created_at=now,
                )
            )  # fmt: skip
            conn.execute(
                installs.insert().values(
                    id="i1", name="too-warm-lab-1", app_id="a1", location="campus/lab-1",
                    params={}, binding={}, notify={}, status="running", owner="t", fired=0,
                    created_at=now, updated_at=now,
                )
            )  # fmt: skip
            conn.execute(
                holds.insert().values(
                    install_id="i1", need="room_fan", thing_id=fan["id"], exclusive_thing=fan["id"]
                )
            )
        assert http.get("/api/v1/controllers/lab-fan").json()["held_by"] == ["too-warm-lab-1"]
        listed = http.get("/api/v1/controllers").json()
        assert listed[0]["held_by"] == ["too-warm-lab-1"]
        assert "too-warm-lab-1" in _error(http.delete("/api/v1/controllers/lab-fan"), 409)
        assert "too-warm-lab-1" in _error(http.delete("/api/v1/locations/campus/lab-1"), 409)
    finally:
        with store.engine.begin() as conn:
            conn.execute(installs.delete())
            conn.execute(apps.delete())
        store.close()
    assert http.get("/api/v1/controllers/lab-fan").json()["held_by"] == []


def test_configurers_register_and_the_audit_names_them(tmp_path: Any) -> None:
    token_file = tmp_path / "admin.token"
    orch = OrchestratorProcess(
        tmp_path / "data", args=["--auth", "on", "--admin-token-file", str(token_file)]
    )
    orch.start()
    try:
        admin = {"authorization": f"Bearer {token_file.read_text().strip()}"}
        tokens = {}
        with httpx.Client(base_url=orch.url, timeout=30.0) as client:
            for name, role in (("cora", "configurer"), ("eve", "end-user"), ("vic", "viewer")):
                r = client.post("/api/v1/users", json={"name": name, "role": role}, headers=admin)
                assert r.status_code == 201, r.text
                r = client.post("/api/v1/tokens", json={"name": "t", "user": name}, headers=admin)
                tokens[name] = {"authorization": f"Bearer {r.json()['token']}"}
            body = {"path": "campus/lab-1"}
            assert (
                client.post("/api/v1/locations", json=body, headers=tokens["vic"]).status_code
                == 403
            )
            assert (
                client.post("/api/v1/locations", json=body, headers=tokens["eve"]).status_code
                == 403
            )
            r = client.post("/api/v1/locations", json=body, headers=tokens["cora"])
            assert r.status_code == 201 and r.json()["created_by"] == "cora"
            spoof = {**tokens["cora"], "x-wasmfleet-user": "mallory"}
            r = client.post("/api/v1/sensors", json=TEMP, headers=spoof)
            assert r.status_code == 201 and r.json()["created_by"] == "cora"
            assert client.get("/api/v1/locations", headers=tokens["eve"]).status_code == 200
            r = client.get("/api/v1/locations/campus/lab-1", headers=tokens["eve"])
            assert r.status_code == 200 and r.json()["sensors"] == 1
            assert client.get("/api/v1/sensors/lab-temp", headers=tokens["vic"]).status_code == 200
            r = client.delete("/api/v1/sensors/lab-temp", headers=tokens["vic"])
            assert r.status_code == 403
            audit = client.get("/api/v1/audit", headers=admin, params={"actor": "cora"}).json()
            assert [(e["route"], e["target"]) for e in audit] == [
                ("/api/v1/sensors", "lab-temp"),
                ("/api/v1/locations", "campus/lab-1"),
            ]
    finally:
        orch.stop()
