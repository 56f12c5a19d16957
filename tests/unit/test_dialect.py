"""core.dialect: telling the two supervisors apart, and what the original cannot run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import description
from wasmfleet.core.dialect import Dialect, dialect_of, wasmiot_limits, wasmiot_step_result
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.openapi import description_operations
from wasmfleet.orchestrator.planning import request_for, snapshot
from wasmfleet.orchestrator.store import DeviceRecord, ModuleRecord


@pytest.mark.parametrize(
    ("described", "dialect"),
    [
        ({"platform": {}, "supervisorInterfaces": ["millis"]}, Dialect.WASMIOT),
        ({}, Dialect.WASMIOT),
        (None, Dialect.WASMIOT),
        ({"wasmfleet": "not an object"}, Dialect.WASMIOT),
        ({"supervisorInterfaces": [], "wasmfleet": {"name": "a"}}, Dialect.WASMFLEET),
    ],
)
def test_a_wasmfleet_supervisor_is_the_one_with_a_wasmfleet_object(
    described: Any, dialect: Dialect
) -> None:
    assert dialect_of(described) is dialect


def _operation(module: str, function: str) -> dict[str, Any]:
    return description_operations(description(module))[function][1]


@pytest.mark.parametrize(
    ("module", "function"),
    [("fibo", "fibo"), ("camera", "take_image"), ("imginfo", "pixels"), ("counter", "add")],
)
def test_the_wasmiot_abi_examples_have_no_limits(module: str, function: str) -> None:
    assert wasmiot_limits(_operation(module, function)) == ()


def test_what_the_original_cannot_return() -> None:
    assert wasmiot_limits(_operation("stamp", "stamp")) == (
        "return text/plain files (only image/png, image/jpeg, image/jpg, "
        "application/octet-stream, application/wasm, text/html, text/javascript)",
    )
    as_object = {
        "responses": {"200": {"content": {"application/json": {"schema": {"type": "object"}}}}}
    }
    assert wasmiot_limits(as_object) == ("return a JSON object (only numbers and files)",)
    two = {
        "x-mounts": [
            {"name": "a.png", "stage": "output", "media_type": "image/png"},
            {"name": "b.png", "stage": "output", "media_type": "image/png"},
        ]
    }
    assert wasmiot_limits(two) == ("write more than one output file",)
    assert wasmiot_limits({"x-wasmfleet-abi": "bytes"}) == (
        "call functions through wasmfleet's bytes ABI",
    )


def test_the_originals_step_result() -> None:
    url = "http://orig:5000/d/modules/camera/take_image"
    assert wasmiot_step_result(["13", None], url) == "13"
    assert wasmiot_step_result([None, ["image.jpeg"]], url) == f"{url}/image.jpeg"
    assert wasmiot_step_result("http://x/request-history/1", url) == "http://x/request-history/1"


def _module(name: str, *requirements: str) -> ModuleRecord:
    return ModuleRecord(
        name=name,
        sha256="a" * 64,
        size=1,
        id=f"m-{name}",
        description=description(name),
        requirements=[
            {"module": r.split(".")[0], "name": r.split(".")[1], "kind": "func"}
            for r in requirements
        ],
    )


def test_steps_name_the_wasmfleet_features_they_need() -> None:
    modules = {
        m.id: m
        for m in (
            _module("fibo"),
            _module("thermo", "wasmfleet.publish", "wasmfleet.message_topic"),
            _module("stamp"),
        )
    }
    manifest = parse_manifest(
        {
            "name": "p",
            "steps": [
                {"module": "fibo", "function": "fibo"},
                {"module": "fibo", "function": "fibo", "stateful": True},
                {"module": "thermo", "function": "check", "trigger": {"topic": "t/#"}},
                {"module": "stamp", "function": "stamp"},
                {"bridge": {"to": "mqtt://cloud:1883", "topic": "a"}},
            ],
        }
    )
    request, _ = request_for(manifest, modules, [])
    assert [s.features for s in request.steps] == [
        (),
        ("hold a fencing lease (stateful: true)",),
        (
            "run a step on MQTT messages (trigger)",
            "link wasmfleet host functions (wasmfleet.message_topic, wasmfleet.publish)",
            "call functions through wasmfleet's bytes ABI",
        ),
        (
            "return text/plain files (only image/png, image/jpeg, image/jpg, "
            "application/octet-stream, application/wasm, text/html, text/javascript)",
        ),
        ("run a store-and-forward bridge",),
    ]


def test_the_snapshot_marks_originals_and_gives_them_all_of_wasi() -> None:
    devices = [
        DeviceRecord(name="orig", description={"supervisorInterfaces": ["fd_write"]}),
        DeviceRecord(name="ours", description={"wasmfleet": {"name": "ours"}}),
    ]
    devices[0].interfaces = ["fd_write"]
    states = {d.name: d for d in snapshot(devices, []).devices}
    assert states["orig"].wasmiot and not states["ours"].wasmiot
    assert states["orig"].interfaces == {"fd_write", "wasi_snapshot_preview1.*"}
    assert states["ours"].interfaces == frozenset()
