"""HTTP bytes: a bytes-ABI function whose description declares a raw ``requestBody`` (and
``x-bytes``) takes the request body as its payload on a real supervisor: text output comes back
as ``result``, binary output as an output file behind the result URL, a rejected input as the
supervisor's sentence. Through a real orchestrator, ``POST /api/v1/deployments/{name}/execute``
passes such a body to the first step unchanged."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.mqtt import MosquittoProcess, mosquitto_available, running_mosquitto
from tests.support import MODULES, FileServer, SupervisorProcess

ALERT_OVER = 30.0  # thermo's default threshold
JSON = "application/json"


def bytes_op(
    name: str, media_in: str, output: str | None, schema: dict[str, Any], *, x_bytes: bool = True
) -> dict[str, Any]:
    """An operation of a bytes-ABI function: the payload as the request body."""
    op: dict[str, Any] = {
        "operationId": name,
        "summary": f"{name}: the request body is the payload.",
        "parameters": [],
        "requestBody": {"required": True, "content": {media_in: {"schema": {"type": "string"}}}},
        "responses": {
            "200": {
                "description": "The function's output.",
                "content": {output or "application/json": {"schema": schema}},
            }
        },
    }
    if x_bytes:
        op["x-bytes"] = {"input": media_in, "output": output}
    return op


def description(check_output: str) -> dict[str, Any]:
    """thermo described the bytes way: check (x-bytes, JSON or binary output), celsius
    (a text/plain body and a number, declared by requestBody alone), threshold (arguments)."""
    committed = json.loads((MODULES / "thermo" / "description.json").read_text())
    threshold = copy.deepcopy(committed["paths"]["/{deployment}/modules/{module}/threshold"])
    threshold.pop("parameters", None)
    return {
        "openapi": "3.0.3",
        "info": {"title": "thermo", "version": "1.0.0"},
        "paths": {
            "/{deployment}/modules/{module}/check": {
                "post": bytes_op("check", "application/json", check_output, {"type": "object"})
            },
            "/{deployment}/modules/{module}/celsius": {
                "post": bytes_op("celsius", "text/plain", None, {"type": "number"}, x_bytes=False)
            },
            "/{deployment}/modules/{module}/threshold": threshold,
        },
    }


def deploy_body(files: FileServer, dep_id: str, described: dict[str, Any]) -> dict[str, Any]:
    """A README-shape deploy body for thermo with ``described``'s operations."""
    url = files.add(f"{dep_id}/description.json", json.dumps(described).encode())
    instructions = {
        path.rsplit("/", 1)[-1]: {"paths": {"": item}, "to": None}
        for path, item in described["paths"].items()
    }
    return {
        "deploymentId": dep_id,
        "modules": [
            {
                "id": dep_id,
                "name": "thermo",
                "urls": {"binary": files.url("thermo/thermo.wasm"), "description": url},
            }
        ],
        "instructions": {"modules": {"thermo": instructions}},
    }


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """thermo imports wasmfleet.publish: its devices need a broker."""
    missing = mosquitto_available()
    if missing is not None:
        pytest.skip(missing)
    with running_mosquitto(tmp_path_factory.mktemp("broker")) as server:
        yield server


@pytest.fixture(scope="module")
def device(
    broker: MosquittoProcess, files: FileServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisorProcess]:
    data = tmp_path_factory.mktemp("bytes-device") / "data"
    sup = SupervisorProcess(data, name="bytes", args=["--broker", broker.url]).start()
    try:
        for dep_id, output in (("bytes-json", JSON), ("bytes-bin", "application/x-alert")):
            r = sup.deploy(deploy_body(files, dep_id, description(output)))
            assert r.status_code == 200, r.text
        yield sup
    finally:
        sup.stop()


def call(sup: SupervisorProcess, dep: str, fn: str, body: bytes, media: str) -> httpx.Response:
    return sup.post(f"/{dep}/modules/thermo/{fn}", content=body, headers={"content-type": media})


def test_json_body_in_json_text_out(device: SupervisorProcess) -> None:
    r = call(
        device, "bytes-json", "check", b'{"sensor": "s1", "temperature": 31.5}', "application/json"
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    alert = json.loads(answer["result"])  # the output buffer, as text
    assert (alert["alert"], alert["celsius"], alert["threshold"]) == (
        "over-threshold",
        31.5,
        ALERT_OVER,
    )
    entry = httpx.get(answer["resultUrl"]).json()
    assert entry["result"] == answer["result"] and entry["success"] is True
    # under the threshold the function returns no output: a null result
    r = call(device, "bytes-json", "check", b'{"temperature": 12}', "application/json")
    assert (r.status_code, r.json()["result"]) == (200, None)


def test_the_body_is_not_read_as_arguments(device: SupervisorProcess) -> None:
    """A JSON object is the payload, not named arguments; a bare number is a reading too."""
    r = call(device, "bytes-json", "check", b"40", "text/plain")
    assert r.status_code == 200, r.text
    assert json.loads(r.json()["result"])["celsius"] == 40


def test_scalar_result_from_a_text_body(device: SupervisorProcess) -> None:
    r = call(device, "bytes-json", "celsius", b"21.25", "text/plain")
    assert (r.status_code, r.json()["result"]) == (200, "21.25"), r.text


def test_binary_output_is_a_file_behind_the_result(device: SupervisorProcess) -> None:
    payload = b'{"temperature": 35}'
    r = call(device, "bytes-bin", "check", payload, "application/json")
    assert r.status_code == 200, r.text
    url = r.json()["result"]
    assert url.endswith("/bytes-bin/modules/thermo/check/check.out.bin"), url
    got = httpx.get(url)
    assert got.status_code == 200
    assert json.loads(got.content)["celsius"] == 35  # the output buffer's bytes, as written
    entry = httpx.get(r.json()["resultUrl"]).json()
    assert entry["result"] == url


def test_rejected_input_answers_the_supervisors_sentence(device: SupervisorProcess) -> None:
    r = call(device, "bytes-json", "check", b"warm", "text/plain")
    body = r.json()
    assert r.status_code >= 400 and body["success"] is False
    assert body["error"]["message"] == "thermo.check rejected its input (error code -1)."
    assert body["error"]["code"] == "rejected"


def test_arguments_still_work_beside_bytes(device: SupervisorProcess) -> None:
    r = device.get("/bytes-json/modules/thermo/threshold")
    assert (r.status_code, r.json()["result"]) == (200, "30.0"), r.text


@pytest.fixture(scope="module")
def fleet(broker: MosquittoProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("bytes-fleet")
    with running_fleet(root, ("edge", ["--broker", broker.url])) as fleet:
        yield fleet


def test_orchestrator_passes_the_raw_body_to_the_first_step(fleet: Fleet) -> None:
    wasm = (MODULES / "thermo" / "thermo.wasm").read_bytes()
    r = fleet.http.post(
        "/api/v1/modules",
        data={"name": "thermo"},
        files={"wasm": ("thermo.wasm", wasm, "application/wasm")},
    )
    assert r.status_code in (200, 201), r.text
    module_id = r.json()["id"]
    described = description("application/json")
    r = fleet.http.post(
        f"/api/v1/modules/{module_id}/description",
        data={"description": json.dumps(described)},
    )
    assert r.status_code == 200, r.text
    r = fleet.http.post(
        "/api/v1/deployments",
        json={"name": "alerts", "steps": [{"module": "thermo", "function": "check"}]},
    )
    assert r.status_code == 201, r.text
    payload = b'{"sensor": "s2", "temperature": 33.5}'
    r = fleet.http.post(
        "/api/v1/deployments/alerts/execute",
        content=payload,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    alert = json.loads(done["steps"][0]["result"])
    assert (alert["alert"], alert["celsius"]) == ("over-threshold", 33.5)
    assert done["result"] == done["steps"][0]["result"]
    # a body the module rejects is the caller's bad input, with the device's sentence
    r = fleet.http.post(
        "/api/v1/deployments/alerts/execute", content=b"hot", headers={"content-type": "text/plain"}
    )
    assert r.status_code >= 400
    assert "thermo.check rejected its input (error code -1)." in r.json()["error"]["message"]


def test_runner_and_device_agree(device: SupervisorProcess, tmp_path: Path) -> None:
    """The same payload through ``wasmfleet run`` gives the device's answer."""
    from wasmfleet.authoring.runner import LocalRunner
    from wasmfleet.authoring.sim_host import SimulatedHostOptions, simulated_devices

    payload = b'{"temperature": 44.5}'
    on_device = call(device, "bytes-json", "check", payload, "application/json").json()["result"]
    devices = simulated_devices(SimulatedHostOptions(), lambda line: None)
    with LocalRunner(
        MODULES / "thermo" / "thermo.wasm", devices, description=description("application/json")
    ) as runner:
        local = runner.call("check", data=payload)
    assert local.result == on_device
    assert json.loads(on_device)["celsius"] == 44.5
