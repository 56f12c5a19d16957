"""The wasmiot dialect answers as the wasmiot orchestrator does (tests/data/wasmiot/).

A real orchestrator and supervisors on loopback go through the wasmiot user flow — register a
device, upload fibo.wasm, describe it, create a manifest, deploy, execute — and every answer is
checked against the original's answer for that route: status, media type, keys and JSON types
(``tests/wasmiot_shapes.py``), and the values the flow determines (ids, results, counts).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES
from tests.wasmiot_shapes import check

FIBO = (MODULES / "fibo" / "fibo.wasm").read_bytes()
STAMP = (MODULES / "stamp" / "stamp.wasm").read_bytes()
PREFIX = (MODULES / "stamp" / "prefix.txt").read_bytes()
FIBO_FORM = {"fibo[method]": "GET", "fibo[param0]": "integer", "fibo[output]": "integer"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("wasmiot"), ("cam", [])) as running:
        # "raspi" registers the way the original supervisor does (zc.py
        # register_services_to_orchestrator), not by itself.
        raspi = running.start_supervisor("raspi", register=False)
        body = {
            "name": "raspi",
            "type": "_webthing._tcp.local.",
            "port": raspi.port,
            "properties": {"path": "/", "tls": "0", "address": "127.0.0.1"},
            "addresses": ["127.0.0.1"],
            "host": "raspi.local.",
        }
        check(running.http.post("/file/device/discovery/register", json=body), "device-register")
        running.wait_active("raspi")
        yield running


def device_id(fleet: Fleet, name: str) -> str:
    """A device's ``_id`` as GET /file/device lists it."""
    devices = check(fleet.http.get("/file/device"), "device-list")
    return str(next(d["_id"] for d in devices if d["name"] == name))


def upload(fleet: Fleet, name: str, wasm: bytes = FIBO) -> str:
    """POST /file/module as the wasmiot CLI does (a part typed application/wasm); the id."""
    files = {"wasm": (f"{name}.wasm", wasm, "application/wasm")}
    created = check(
        fleet.http.post("/file/module", data={"name": name}, files=files), "module-create"
    )
    return str(created["id"])


def test_the_wasmiot_user_flow(fleet: Fleet) -> None:
    raspi = device_id(fleet, "raspi")
    devices = fleet.http.get("/file/device").json()
    listed = next(d for d in devices if d["_id"] == raspi)
    assert listed["status"] == "active" and listed["communication"]["port"] == (
        fleet.supervisors["raspi"].port
    )
    assert listed["statusLog"][0]["status"] == "active"
    assert listed["statusLog"][0]["time"].endswith("Z")

    module_id = upload(fleet, "fibo-flow")
    fresh = check(fleet.http.get(f"/file/module/{module_id}"), "module-get-fresh")
    assert [m["_id"] for m in fresh] == [module_id]
    assert {"name": "fibo", "parameterCount": 1} in fresh[0]["exports"]
    described = fleet.http.post(f"/file/module/{module_id}/upload", data=FIBO_FORM)
    description = check(described, "module-describe")["description"]
    module = check(fleet.http.get(f"/file/module/{module_id}"), "module-get")[0]
    assert module["description"] == description and module["mounts"] == {"fibo": {}}
    assert check(fleet.http.get(f"/file/module/{module_id}/description"), "module-description")
    wasm = check(fleet.http.get(f"/file/module/{module_id}/wasm"), "module-file-wasm")
    assert wasm == FIBO

    manifest = {
        "name": "flow",
        "sequence": [{"device": raspi, "module": module_id, "func": "fibo"}],
    }
    text = check(fleet.http.post("/file/manifest", json=manifest), "manifest-create")
    dep_id = json.loads(text)
    before = check(fleet.http.get(f"/file/manifest/{dep_id}"), "manifest-get")
    assert before["_id"] == dep_id and before["active"] is False
    assert before["sequence"] == [{"device": raspi, "module": module_id, "func": "fibo"}]
    # Solved, not yet deployed: fullManifest already holds what the device will be sent.
    assert list(before["fullManifest"]) == [raspi]
    assert before["fullManifest"][raspi]["deploymentId"] == dep_id

    deployed = check(fleet.http.post(f"/file/manifest/{dep_id}"), "manifest-deploy")
    assert list(deployed["deviceResponses"]) == [raspi]  # keyed by the device's _id
    response = deployed["deviceResponses"][raspi]
    assert response["status"] == 200 and response["data"]["status"] == "success"
    after = check(fleet.http.get(f"/file/manifest/{dep_id}"), "manifest-get")
    assert after["active"] is True and list(after["fullManifest"]) == [raspi]
    assert after["goalDeployment"] == [raspi] and after["failoversBySequence"] == [[raspi]]
    node = after["fullManifest"][raspi]
    assert node["deploymentId"] == dep_id
    assert [m["id"] for m in node["modules"]] == [module_id]
    assert node["endpoints"]["fibo-flow"]["fibo"]["url"] == fleet.supervisors["raspi"].url
    listed_manifests = check(fleet.http.get("/file/manifest"), "manifest-list")
    assert dep_id in {d["_id"] for d in listed_manifests}

    answer = check(fleet.http.post(f"/execute/{dep_id}", json={"param0": 7}), "execute")
    assert answer["result"] == "13" and answer["isInFailover"] is False
    assert answer["fetched_from_device"] == "127.0.0.1"
    assert answer["resultUrl"].startswith(fleet.supervisors["raspi"].url + "/request-history/")
    by_name = check(fleet.http.post("/execute/flow", data={"param0": "10"}), "execute")
    assert by_name["result"] == "55"

    # PUT re-solves; it deploys again only what was deployed.
    again = check(
        fleet.http.put(f"/file/manifest/{dep_id}", json=manifest), "manifest-update-deployed"
    )
    assert list(again["deviceResponses"]) == [raspi]
    check(fleet.http.delete(f"/file/manifest/{dep_id}"), "manifest-delete")
    assert dep_id not in fleet.supervisors["raspi"].get("/deploy").text
    assert fleet.http.get(f"/file/manifest/{dep_id}").status_code == 404


def test_updating_an_undeployed_manifest_sends_nothing(fleet: Fleet) -> None:
    cam = device_id(fleet, "cam")
    module_id = upload(fleet, "fibo-undeployed")
    assert fleet.http.post(f"/file/module/{module_id}/upload", data=FIBO_FORM).status_code == 200
    manifest = {"name": "idle", "sequence": [{"device": None, "module": module_id, "func": "fibo"}]}
    dep_id = json.loads(fleet.http.post("/file/manifest", json=manifest).text)
    manifest["sequence"][0]["device"] = cam
    check(fleet.http.put(f"/file/manifest/{dep_id}", json=manifest), "manifest-update-undeployed")
    updated = fleet.http.get(f"/file/manifest/{dep_id}").json()
    assert updated["active"] is False and updated["sequence"][0]["device"] == cam
    assert updated["failoversBySequence"] == [[cam]]
    assert dep_id not in fleet.supervisors["cam"].get("/deploy").text
    assert fleet.http.delete(f"/file/manifest/{dep_id}").json() == {"deletedCount": 1}


def test_uploading_a_taken_name_makes_the_name_mean_the_new_module(fleet: Fleet) -> None:
    old = upload(fleet, "fibo-again")
    assert fleet.http.post(f"/file/module/{old}/upload", data=FIBO_FORM).status_code == 200
    manifest = {"name": "uses-old", "sequence": [{"device": None, "module": old, "func": "fibo"}]}
    dep_id = json.loads(fleet.http.post("/file/manifest", json=manifest).text)
    assert fleet.http.post(f"/file/manifest/{dep_id}").status_code == 200

    # The same bytes again are the same version (issue 14): 201 with its id.
    assert upload(fleet, "fibo-again") == old
    # Other bytes (a custom section appended) under the same name: 201, a new version, new id.
    new = upload(fleet, "fibo-again", FIBO + b"\x00\x03\x02v2")
    assert new != old
    assert fleet.http.get("/file/module/fibo-again").json()[0]["_id"] == new
    assert fleet.http.get(f"/file/module/{old}").json()[0]["_id"] == old  # still there
    assert fleet.http.get(f"/file/module/{old}/wasm").content == FIBO
    versions = fleet.http.get("/api/v1/modules/fibo-again/versions").json()
    assert [(v["id"], v["version"]) for v in versions] == [(new, 2), (old, 1)]
    named = [m["_id"] for m in fleet.http.get("/file/module").json() if m["name"] == "fibo-again"]
    assert named == [old, new]  # both listed, oldest first, as the original lists them
    # The deployment made with the old module keeps running it.
    assert fleet.http.post(f"/execute/{dep_id}", json={"param0": 6}).json()["result"] == "8"
    fleet.http.post(f"/file/module/{new}/upload", data=FIBO_FORM)
    by_name = {"name": "uses-new", "sequence": [{"module": "fibo-again", "func": "fibo"}]}
    new_dep = json.loads(fleet.http.post("/file/manifest", json=by_name).text)
    assert fleet.http.get(f"/file/manifest/{new_dep}").json()["sequence"][0]["module"] == new
    # The old one is in use: deleting it is refused with a sentence (the original deletes it).
    refused = fleet.http.delete(f"/file/module/{old}")
    assert refused.status_code == 409 and "uses-old" in refused.json()["errorText"]
    for dep in (dep_id, new_dep):
        assert fleet.http.delete(f"/file/manifest/{dep}").status_code == 200
    check(fleet.http.delete(f"/file/module/{old}"), "module-delete")
    assert fleet.http.get(f"/file/module/{old}").status_code == 404
    assert fleet.http.get("/file/module/fibo-again").json()[0]["_id"] == new


def test_the_wasmiot_cli_describes_mounts_with_a_data_file(fleet: Fleet) -> None:
    # client/cli/src/cli-module.ts desc: a form field "functions" (JSON text) and the mounts'
    # files as parts named after them.
    module_id = upload(fleet, "stamp-cli", STAMP)
    functions = {
        "stamp": {
            "method": "POST",
            "output": "text/plain",
            "mounts": [
                {"name": "prefix.txt", "stage": "deployment"},
                {"name": "input.txt", "stage": "execution"},
                {"name": "output.txt", "stage": "output"},
            ],
        }
    }
    files = {"prefix.txt": ("prefix.txt", PREFIX, "text/plain")}
    r = fleet.http.post(
        f"/file/module/{module_id}/upload", data={"functions": json.dumps(functions)}, files=files
    )
    check(r, "module-describe")
    module = check(fleet.http.get(f"/file/module/{module_id}"), "module-get")[0]
    assert module["mounts"]["stamp"]["prefix.txt"] == {
        "mediaType": "text/plain",
        "stage": "deployment",
    }
    assert module["mounts"]["stamp"]["input.txt"]["stage"] == "execution"
    assert module["dataFiles"]["prefix.txt"]["originalFilename"] == "prefix.txt"
    assert {"module": "wasi_snapshot_preview1", "name": "fd_write", "kind": "function"} in (
        module["requirements"]
    )
    data = check(fleet.http.get(f"/file/module/{module_id}/prefix.txt"), "module-file-data")
    assert data == PREFIX
    check(fleet.http.get("/file/module"), "module-list")
    manifest = {"name": "stamping", "sequence": [{"module": module_id, "func": "stamp"}]}
    dep_id = json.loads(fleet.http.post("/file/manifest", json=manifest).text)
    check(fleet.http.post(f"/file/manifest/{dep_id}"), "manifest-deploy")
    inputs = {"input.txt": ("input.txt", b"hello\n", "text/plain")}
    answer = check(fleet.http.post(f"/execute/{dep_id}", files=inputs), "execute")
    assert answer["result"].endswith("/output.txt")  # a file result: its URL
    assert fleet.http.delete(f"/file/manifest/{dep_id}").status_code == 200


def test_logs_as_the_original_supervisor_ships_them(fleet: Fleet) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    entry = {  # host_app/utils/logger.py JsonFormatter of the original supervisor
        "timestamp": now.strftime("%Y-%m-%d %H:%M:%S,") + f"{now.microsecond // 1000:03d}",
        "loglevel": "INFO",
        "message": "Deployment created",
        "funcName": "deployment_create",
        "deviceName": "raspi",
        "deviceIP": "127.0.0.1",
    }
    posted = fleet.http.post("/device/logs", data={"logData": json.dumps(entry)})
    assert check(posted, "logs-post") == {"message": "Log received and saved"}
    logs = check(fleet.http.get("/device/logs", params={"after": start}), "logs-get")
    mine = [e for e in logs if e.get("funcName") == "deployment_create"]
    assert len(mine) == 1 and {k: mine[0][k] for k in entry} == entry
    assert mine[0]["dateReceived"].endswith("Z")
    after = fleet.http.get("/device/logs", params={"after": mine[0]["dateReceived"]}).json()
    assert all(e["_id"] != mine[0]["_id"] for e in after)


def test_forgetting_everything(tmp_path: Path) -> None:
    with running_fleet(tmp_path, ("one", [])) as fleet:
        module_id = upload(fleet, "fibo")
        fleet.http.post(f"/file/module/{module_id}/upload", data=FIBO_FORM)
        upload(fleet, "fibo", FIBO + b"\x00\x03\x02v2")  # version 2 (other bytes)
        for name in ("a", "b"):
            body = {"name": name, "sequence": [{"module": module_id, "func": "fibo"}]}
            dep_id = json.loads(fleet.http.post("/file/manifest", json=body).text)
            assert fleet.http.post(f"/file/manifest/{dep_id}").status_code == 200
        assert len(fleet.supervisors["one"].get("/deploy").json()) == 2
        deleted = check(fleet.http.delete("/file/manifest"), "manifest-delete-all")
        assert deleted == {"deletedCount": 2}
        assert fleet.supervisors["one"].get("/deploy").json() == []
        assert check(fleet.http.delete("/file/module"), "module-delete-all") == {"deletedCount": 2}
        check(fleet.http.post("/file/device/discovery/reset"), "device-discovery-reset")
        assert check(fleet.http.delete("/file/device"), "device-delete-all") == {"deletedCount": 1}
        assert fleet.http.get("/file/device").json() == []
