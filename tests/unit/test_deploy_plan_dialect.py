"""Documents per dialect, and functions repeated in a pipeline (core.deploy_plan, core.dialect)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tests.support import MODULES
from tests.wasmiot_parser import problems
from wasmfleet.core.deploy_doc import parse_deployment
from wasmfleet.core.deploy_plan import PlannedBridge, PlannedStep, device_documents
from wasmfleet.core.dialect import Dialect, wasmiot_document, wasmiot_endpoint, wasmiot_schema
from wasmfleet.core.errors import Conflict
from wasmfleet.core.models import BridgeRoute, Trigger

WASMIOT = {"orig": Dialect.WASMIOT}


def _description(module: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODULES / module / "description.json").read_text())
    return data


def _step(index: int, module: str, function: str, device: str) -> PlannedStep:
    base = f"http://orch:3000/file/module/id-{module}"
    return PlannedStep(
        index=index,
        module_id=f"id-{module}",
        module_name=module,
        function=function,
        device=device,
        device_url=f"http://{device}:5000",
        binary_url=f"{base}/wasm",
        description_url=f"{base}/description",
        description=_description(module),
        sha256="a" * 64,
        description_sha256="d" * 64,
    )


def test_a_function_repeated_on_two_devices_gets_a_document_on_each() -> None:
    steps = [_step(0, "fibo", "fibo", "a"), _step(1, "fibo", "fibo", "b")]
    docs = device_documents("dep", steps)
    first = parse_deployment(docs["a"]).function("fibo", "fibo")
    second = parse_deployment(docs["b"]).function("fibo", "fibo")
    assert first is not None and first.to is not None
    assert first.to.url == "http://b:5000/dep/modules/fibo/fibo"
    assert second is not None and second.to is None


def test_a_function_repeated_on_one_device_is_a_conflict() -> None:
    steps = [_step(0, "fibo", "fibo", "a"), _step(1, "counter", "add", "b")]
    steps.append(_step(2, "fibo", "fibo", "a"))
    with pytest.raises(Conflict) as err:
        device_documents("dep", steps)
    assert str(err.value) == (
        "Steps 1 and 3 both put fibo.fibo on a, which serves a function once per deployment; "
        "re-solve the deployment (PUT) to place them apart."
    )


def test_an_original_gets_only_what_it_parses() -> None:
    steps = [_step(0, "fibo", "fibo", "ours"), _step(1, "fibo", "fibo", "orig")]
    steps.append(_step(2, "imginfo", "pixels", "ours2"))
    docs = device_documents("dep", steps, epoch=4, lease_s=1.5, dialects=WASMIOT)
    orig = docs["orig"]
    assert list(orig) == ["deploymentId", "modules", "endpoints", "instructions", "mounts"]
    assert orig["modules"] == [
        {
            "id": "id-fibo",
            "name": "fibo",
            "urls": {
                "binary": "http://orch:3000/file/module/id-fibo/wasm",
                "description": "http://orch:3000/file/module/id-fibo/description",
                "other": {},
            },
        }
    ]
    endpoint = orig["endpoints"]["fibo"]["fibo"]
    assert endpoint == {
        "url": "http://orig:5000",
        "path": "/dep/modules/fibo/fibo",
        "method": "get",
        "request": {
            "parameters": [
                {
                    "name": "iterations",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "integer"},
                }
            ]
        },
        "response": {"media_type": "application/json", "schema": {"type": "integer"}},
    }
    link = orig["instructions"]["modules"]["fibo"]["fibo"]
    assert link["from"] == endpoint  # its own endpoint, as the wasmiot orchestrator writes
    assert link["to"]["method"] == "post" and link["to"]["url"] == "http://ours2:5000"
    assert link["to"]["request"]["request_body"] == {
        "media_type": "multipart/form-data",
        "schema": {
            "type": "object",
            "properties": {"image.jpg": {"type": "string", "format": "binary"}},
        },
        "encoding": {"image.jpg": {"contentType": "image/jpeg"}},
    }
    assert orig["mounts"] == {"fibo": {"fibo": {"execution": [], "deployment": [], "output": []}}}
    assert problems(orig) == []
    # the wasmfleet devices keep the full document, with the original's endpoint as is
    assert docs["ours"]["epoch"] == 4 and docs["ours"]["modules"][0]["sha256"] == "a" * 64
    assert docs["ours"]["modules"][0]["description_sha256"] == "d" * 64
    to_orig = docs["ours"]["instructions"]["modules"]["fibo"]["fibo"]["to"]
    assert to_orig["url"] == "http://orig:5000" and to_orig["method"] == "GET"
    # and our own supervisor reads the wasmiot document too
    fibo = parse_deployment(orig).function("fibo", "fibo")
    assert fibo is not None and fibo.to is not None and fibo.to.file_mounts == ("image.jpg",)


def test_schemas_are_cut_to_the_originals_enums() -> None:
    assert wasmiot_schema({"type": "integer", "format": "int64"}) == {"type": "integer"}
    assert wasmiot_schema({"type": "string", "format": "binary"}) == {
        "type": "string",
        "format": "binary",
    }
    assert wasmiot_schema({"type": "object", "properties": {}, "required": ["x"]}) == {
        "type": "object",
        "properties": {},
    }
    number = {"url": "u", "path": "/p", "method": "GET", "request": {"parameters": []}}
    for schema in ({"type": "number", "format": "float"}, {}, {"type": "integer"}):
        endpoint = wasmiot_endpoint(
            {**number, "response": {"media_type": "application/json", "schema": schema}}
        )
        # a number (or no result) is answered as JSON text, as an integer is
        assert endpoint["response"]["schema"] == {"type": "integer"}
        assert "request_body" not in endpoint["request"]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"stateful": True}, "stateful steps"),
        ({"trigger": Trigger("a/b")}, "trigger"),
    ],
)
def test_wasmfleet_features_on_an_original_are_a_conflict(change: Any, named: str) -> None:
    step = dataclasses.replace(_step(0, "fibo", "fibo", "orig"), **change)
    with pytest.raises(Conflict, match=f"which cannot run {named}; re-solve"):
        device_documents("dep", [step], epoch=1, lease_s=1.5, dialects=WASMIOT)


def test_a_bridge_on_an_original_is_a_conflict() -> None:
    bridge = PlannedBridge(0, "orig", BridgeRoute(destination="mqtt://cloud", topics=("a",)))
    with pytest.raises(Conflict, match="which cannot run bridges"):
        device_documents("dep", [], bridges=[bridge], dialects=WASMIOT)


def test_wasmiot_document_is_idempotent_on_its_own_output() -> None:
    docs = device_documents("dep", [_step(0, "camera", "take_image", "orig")], dialects=WASMIOT)
    assert wasmiot_document(docs["orig"]) == docs["orig"]
