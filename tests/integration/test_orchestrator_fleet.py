"""Orchestrator + three supervisors on loopback: the whole control-plane path for real."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES, wait_until

DEVICES = (
    ("cam", ["--label", "role=gateway", "--label", "location=lab"]),
    ("edge", ["--label", "role=edge", "--label", "location=lab"]),
    ("cloud", ["--label", "role=cloud", "--label", "location=dc"]),
)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("fleet"), *DEVICES) as running:
        running.push("fibo")
        running.push("counter")
        yield running


def test_registered_devices_are_described(fleet: Fleet) -> None:
    devices = fleet.devices()
    assert set(devices) >= {"cam", "edge", "cloud"}
    edge = devices["edge"]
    assert edge["status"] == "active"
    assert edge["labels"] == {"role": "edge", "location": "lab"}
    assert "sys.millis" in edge["interfaces"]
    assert edge["capacity"]["cores"] and edge["capacity"]["memory_mb"] > 0
    assert edge["url"] == fleet.supervisors["edge"].url
    detail = fleet.http.get("/api/v1/devices/edge").json()
    assert detail["status_log"][0]["status"] == "active"
    assert "discovered via http" in detail["status_log"][0]["reason"]
    wasmiot = fleet.http.get("/file/device").json()
    assert {d["name"] for d in wasmiot} >= {"cam", "edge", "cloud"}


def test_module_upload_records_exports_and_requirements(fleet: Fleet) -> None:
    listed = fleet.http.get("/file/module/fibo").json()
    assert len(listed) == 1
    fibo = listed[0]
    assert {"name": "fibo", "parameterCount": 1} in fibo["exports"]
    assert all({"module", "name", "kind"} <= set(r) for r in fibo["requirements"])
    wasm = fleet.http.get(f"/file/module/{fibo['_id']}/wasm")
    assert wasm.content == (MODULES / "fibo" / "fibo.wasm").read_bytes()
    assert wasm.headers["content-type"] == "application/wasm"
    description = fleet.http.get(f"/file/module/{fibo['_id']}/description").json()
    assert description["openapi"].startswith("3.0")


def test_pipeline_across_two_devices(fleet: Fleet) -> None:
    manifest = {
        "name": "fib-count",
        "steps": [
            {"module": "fibo", "function": "fibo", "labels": {"role": "gateway"}},
            {"module": "counter", "function": "add", "labels": {"role": "edge"}},
        ],
    }
    r = fleet.http.post("/api/v1/deployments", json=manifest)
    assert r.status_code == 201, r.text
    dep = r.json()
    assert dep["status"] == "active"
    assert [s["device"] for s in dep["plan"]["steps"]] == ["cam", "edge"]
    rejected = {x["device"]: x["reason"] for x in dep["plan"]["steps"][0]["rejected"]}
    assert "location" not in rejected.get("edge", "") and "role" in rejected["edge"]
    assert dep["devices"]["cam"]["ok"] and dep["devices"]["edge"]["ok"]
    # The supervisors really hold their parts of the pipeline.
    assert dep["id"] in fleet.supervisors["cam"].get("/deploy").text
    r = fleet.http.post(f"/execute/{dep['name']}", json={"iterations": 10})
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["resultUrl"].startswith(fleet.supervisors["edge"].url)  # the last step's
    run = fleet.http.get("/api/v1/executions", params={"deployment": "fib-count"}).json()[0]
    assert [s["device"] for s in run["steps"]] == ["cam", "edge"]
    assert run["steps"][0]["result"] == "55"  # fibo(10) as wasmiot formats integers
    total = int(first["result"])
    r = fleet.http.post(
        f"/api/v1/deployments/{dep['name']}/execute", json={"args": {"iterations": 10}}
    )
    assert r.status_code == 200, r.text
    assert int(r.json()["result"]) == total + 55  # counter state lives on the edge device
    assert all(s["duration_ms"] is not None for s in r.json()["steps"])
    executions = fleet.http.get("/api/v1/executions", params={"deployment": "fib-count"}).json()
    assert len(executions) == 2 and all(e["success"] for e in executions)


def test_documents_name_the_sha256_of_the_description_bytes_served(fleet: Fleet) -> None:
    # Supervisors reuse a description they hold by this sha256, so it must be the sha256
    # of exactly the bytes the description URL serves.
    documents = fleet.documents("fib-count")
    modules = [m for doc in documents.values() for m in doc["modules"]]
    assert {m["name"] for m in modules} == {"fibo", "counter"}
    for module in modules:
        served = fleet.http.get(module["urls"]["description"])
        assert served.status_code == 200
        assert module["description_sha256"] == hashlib.sha256(served.content).hexdigest()


def test_unplaceable_manifest_names_every_device(fleet: Fleet) -> None:
    manifest = {
        "name": "too-big",
        "steps": [{"module": "fibo", "function": "fibo", "resources": {"cpu": [1000] * 64}}],
    }
    r = fleet.http.post("/api/v1/deployments", json=manifest)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "unplaceable"
    assert set(error["reasons"]) >= {"cam", "edge", "cloud"}
    assert error["message"].startswith("0/")
    assert fleet.http.get("/api/v1/deployments/too-big").status_code == 404


def test_old_quantity_spellings_are_read_the_kubernetes_way_and_say_so(fleet: Fleet) -> None:
    # cpu: 1 was one millicore and 64M was 64 MiB; now they mean what kubectl users expect.
    manifest = {
        "name": "k8s-units",
        "steps": [
            {
                "module": "fibo",
                "function": "fibo",
                "labels": {"role": "cloud"},
                "resources": {"cpu": 1, "memory": "64M"},
            }
        ],
    }
    r = fleet.http.post("/api/v1/deployments", json=manifest)
    assert r.status_code == 201, r.text
    dep = r.json()
    cpu, memory = dep["warnings"]
    assert cpu.startswith("steps[0].resources.cpu: 1 now means 1 whole core (1000m)")
    assert memory.startswith("steps[0].resources.memory: 64M now means 64 x 10^6 bytes")
    assert dep["plan"]["steps"][0]["resources"] == {
        "cpu": [1000],
        "memory_mb": 62,
        "accelerator_pct": 0,
    }
    # What is stored is the canonical form: it means the same and never warns again, not on
    # a read, not when re-solved (nor when healing re-places it).
    stored = fleet.http.get("/api/v1/deployments/k8s-units").json()
    assert stored["manifest"]["steps"][0]["resources"]["cpu"] == [1000]
    assert stored["warnings"] == []
    again = fleet.http.put("/api/v1/deployments/k8s-units")
    assert again.status_code == 200, again.text
    assert again.json()["warnings"] == []
    assert again.json()["plan"]["steps"][0]["resources"]["memory_mb"] == 62
    assert fleet.orchestrator.log().count("1 now means 1 whole core") == 1
    # An old millicore count is now that many cores: nothing fits, and the 422 says why.
    manifest["steps"][0]["resources"] = {"cpu": 500}
    r = fleet.http.put("/api/v1/deployments/k8s-units", json=manifest)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["reasons"]["cloud"].endswith("step needs 500 cores (500x1000m)")
    assert error["warnings"][0].startswith("steps[0].resources.cpu: 500 now means 500 whole")
    assert fleet.http.delete("/api/v1/deployments/k8s-units").status_code == 200


def test_wasmiot_manifest_flow(fleet: Fleet) -> None:
    fibo_id = fleet.http.get("/api/v1/modules/fibo").json()["id"]
    body = {
        "name": "wasmiot-fibo",
        "sequence": [{"device": "cloud", "module": fibo_id, "func": "fibo"}],  # a name works too
    }
    r = fleet.http.post("/file/manifest", json=body)
    assert r.status_code == 201, r.text
    dep_id = json.loads(r.text)
    r = fleet.http.post(f"/file/manifest/{dep_id}")
    assert r.status_code == 200, r.text
    cloud = fleet.devices()["cloud"]["id"]
    assert r.json()["deviceResponses"][cloud]["status"] == 200
    r = fleet.http.post(f"/execute/{dep_id}", data={"iterations": "7"})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == "13"
    # The module is in use: deleting it is refused unless forced.
    r = fleet.http.delete(f"/file/module/{fibo_id}")
    assert r.status_code == 409 and "wasmiot-fibo" in r.json()["error"]["message"]
    r = fleet.http.delete(f"/file/manifest/{dep_id}")
    assert r.status_code == 200 and r.json() == {"deletedCount": 1}
    assert dep_id not in fleet.supervisors["cloud"].get("/deploy").text


def test_logs_are_collected(fleet: Fleet) -> None:
    r = fleet.http.post(
        "/device/logs",
        data={
            "logData": json.dumps(
                {"message": "hello from test", "deviceName": "cam", "levelname": "INFO"}
            )
        },
    )
    assert r.status_code == 200
    logs = fleet.http.get("/device/logs").json()
    assert any(entry["message"] == "hello from test" for entry in logs)
    last = int(logs[-1]["_id"])
    assert fleet.http.get("/api/v1/logs", params={"after_id": last}).json() == []


def test_stopped_supervisor_turns_dead(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("a", []), ("b", [])) as fleet:
        fleet.supervisors["b"].stop()
        assert wait_until(lambda: fleet.devices()["b"]["status"] == "dead", timeout=15)
        log = fleet.http.get("/api/v1/devices/b").json()["status_log"]
        assert log[-1]["status"] == "dead"
        # Either the failure detector (no heartbeat, with phi) or refused polls said so.
        assert "phi" in log[-1]["reason"] or "refused" in log[-1]["reason"]
        assert fleet.devices()["b"]["reason"] == log[-1]["reason"]
        assert fleet.devices()["a"]["status"] == "active"
        fleet.supervisors["b"].start()
        assert wait_until(lambda: fleet.devices()["b"]["status"] == "active", timeout=15)


def test_versioned_api_is_documented(fleet: Fleet) -> None:
    spec = fleet.http.get("/openapi.json").json()
    for path in ("/api/v1/devices", "/api/v1/modules", "/api/v1/deployments", "/api/v1/logs"):
        assert path in spec["paths"], path
    assert "Deployment" in spec["components"]["schemas"]
    docs = fleet.http.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
