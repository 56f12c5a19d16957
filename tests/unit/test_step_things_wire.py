"""An app install's step fields (things, params) on the wire: plan → document → supervisor."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from tests.unit.test_deploy_plan import _step
from wasmfleet.core.deploy_doc import parse_deployment
from wasmfleet.core.deploy_plan import device_documents
from wasmfleet.core.dialect import wasmiot_document
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.places import parse_thing

FAN = {
    "kind": "controller",
    "name": "lab-fan",
    "type": "fan",
    "location": "campus/lab-1",
    "device": "edge-1",
    "inputs": {"speed": "int 0..3"},
}
TEMP = {
    "kind": "sensor",
    "name": "lab-temp",
    "type": "temperature",
    "location": "campus/lab-1",
    "topic": "campus/lab-1/temp",
    "outputs": {"celsius": "float"},
}


def _documents() -> dict[str, dict[str, Any]]:
    step = dataclasses.replace(
        _step(0, "fibo", "fibo", "edge", 5000),
        things={"room_fan": FAN, "room_temp": TEMP},
        params={"threshold": 26, "speed": 2},
    )
    return device_documents("dep1", [step])


def test_things_and_params_reach_the_instructions_and_parse_back() -> None:
    doc = _documents()["edge"]
    instr = doc["instructions"]["modules"]["fibo"]["fibo"]
    assert instr["things"] == {"room_fan": FAN, "room_temp": TEMP}
    assert instr["params"] == {"threshold": 26, "speed": 2}
    fibo = parse_deployment(doc).function("fibo", "fibo")
    assert fibo is not None
    assert dict(fibo.things) == {"room_fan": parse_thing(FAN), "room_temp": parse_thing(TEMP)}
    assert dict(fibo.app_params) == {"threshold": 26, "speed": 2}


def test_a_plain_step_carries_neither_key() -> None:
    doc = device_documents("dep1", [_step(0, "fibo", "fibo", "edge", 5000)])["edge"]
    instr = doc["instructions"]["modules"]["fibo"]["fibo"]
    assert "things" not in instr and "params" not in instr
    fibo = parse_deployment(doc).function("fibo", "fibo")
    assert fibo is not None and not fibo.things and not fibo.app_params


def test_the_wasmiot_dialect_leaves_them_out() -> None:
    wasmiot = wasmiot_document(_documents()["edge"])
    instr = wasmiot["instructions"]["modules"]["fibo"]["fibo"]
    assert set(instr) == {"from", "to"}


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("things", ["room_fan"], "instructions.modules.fibo.fibo.things must be an object"),
        ("things", {"room_fan": {"kind": "fan"}}, "instructions.modules.fibo.fibo.things.room_fan"),
        ("params", {"speed": {"x": 1}}, "instructions.modules.fibo.fibo.params.speed must be"),
        ("params", "speed=2", "instructions.modules.fibo.fibo.params must be an object"),
    ],
)
def test_bad_things_or_params_are_400_sentences(key: str, value: Any, words: str) -> None:
    doc = copy.deepcopy(_documents()["edge"])
    doc["instructions"]["modules"]["fibo"]["fibo"][key] = value
    with pytest.raises(InvalidDocument) as err:
        parse_deployment(doc)
    assert err.value.message.startswith(words), err.value.message
