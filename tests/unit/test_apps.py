"""core.apps: app manifests (parameters, needs, steps) and binding an app at a place."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from wasmfleet.core.app_binding import Binding, Hold, Refusal, bind
from wasmfleet.core.apps import App, Need, parse_app, parse_app_text, resolve_parameters
from wasmfleet.core.errors import Conflict, InvalidArgument, InvalidDocument, Unprocessable
from wasmfleet.core.places import ParamType, Thing, parse_thing

MODULES = {"too-warm-logic": [1, 2, 3], "digits": [1]}

TOO_WARM = """
name: too-warm
description: Turn the fan on when the room is too warm.
parameters:
  threshold: {type: "float -20..60", default: 26}
  speed: "int 0..3"
needs:
  room_temp: {sensor: temperature}
  room_fan: {controller: fan, exclusive: true}
  logic: {module: too-warm-logic@2}
steps:
  - module: logic
    function: check
    uses: [room_temp, room_fan]
    trigger: {topic: campus/lab-1/temp}
    labels: {zone: lab}
"""


def _app_doc() -> dict[str, Any]:
    return {
        "name": "too-warm",
        "parameters": {"threshold": {"type": "float", "default": 26}},
        "needs": {
            "room_temp": {"sensor": "temperature"},
            "room_fan": {"controller": "fan", "exclusive": True},
            "logic": {"module": "too-warm-logic"},
        },
        "steps": [{"module": "logic", "function": "check", "uses": ["room_temp", "room_fan"]}],
    }


def _thing(kind: str, name: str, type_: str, location: str) -> Thing:
    params = {"outputs": {"celsius": "float"}} if kind == "sensor" else {"inputs": {"on": "bool"}}
    return parse_thing(
        {"kind": kind, "name": name, "type": type_, "location": location, "device": "edge-1"}
        | params
    )


THINGS = [
    _thing("sensor", "campus-temp", "temperature", "campus"),
    _thing("sensor", "lab-temp", "temperature", "campus/lab-1"),
    _thing("sensor", "bench-temp", "temperature", "campus/lab-1/bench"),
    _thing("controller", "lab-fan-b", "fan", "campus/lab-1"),
    _thing("controller", "lab-fan-a", "fan", "campus/lab-1"),
    _thing("controller", "hall-fan", "fan", "campus/hall"),
    _thing("controller", "bank-fan", "fan", "bank/vault"),
]


# --- parsing -----------------------------------------------------------------------------


def test_the_too_warm_app_parses() -> None:
    app = parse_app_text(TOO_WARM, MODULES)
    assert app.name == "too-warm"
    assert app.description.startswith("Turn the fan on")
    assert app.needs["room_fan"] == Need("room_fan", "controller", "fan", exclusive=True)
    assert app.needs["logic"] == Need("logic", "module", "too-warm-logic@2")
    assert app.parameters["threshold"].type == ParamType("float", -20, 60)
    assert app.parameters["threshold"].default == 26
    assert app.parameters["speed"].required
    (step,) = app.steps
    assert step.module == "too-warm-logic@2"
    assert step.function == "check"
    assert step.trigger is not None and step.trigger.topic == "campus/lab-1/temp"
    assert dict(step.labels) == {"zone": "lab"}
    assert app.uses == (("room_temp", "room_fan"),)
    manifest = app.manifest("too-warm-lab-1")
    assert manifest.name == "too-warm-lab-1"
    assert manifest.to_dict()["steps"][0]["module"] == "too-warm-logic@2"


def test_json_text_is_read_too() -> None:
    import json

    assert parse_app_text(json.dumps(_app_doc()), MODULES).name == "too-warm"


def test_step_errors_come_from_the_manifest_parser() -> None:
    doc = _app_doc()
    doc["steps"][0]["resources"] = {"cpu": "lots"}
    with pytest.raises(InvalidDocument, match=r"steps\[0\]\.resources\.cpu"):
        parse_app(doc, MODULES)


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(_app_doc())
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DROP = object()


@pytest.mark.parametrize(
    ("path", "value", "says"),
    [
        (["name"], _DROP, "has no 'name'"),
        (["name"], "a/b", "The app name 'a/b' is not allowed"),
        (["colour"], "red", "unknown key(s) 'colour'"),
        (["needs"], _DROP, "needs must be a non-empty object"),
        (["needs"], {}, "needs must be a non-empty object"),
        (["needs", "room_temp"], "temperature", "needs.room_temp must be an object"),
        (["needs", "room_temp"], {"actuator": "x"}, "exactly one of sensor, controller or module"),
        (
            ["needs", "room_temp"],
            {"sensor": "temperature", "controller": "fan"},
            "exactly one of",
        ),
        (["needs", "room_temp", "exclusive"], True, "sensor need marked exclusive"),
        (["needs", "room_temp", "sensor"], "Temp!", "needs.room_temp.sensor must be a type name"),
        (["needs", "room_fan", "exclusive"], "yes", "needs.room_fan.exclusive must be true"),
        (["needs", "room_fan", "count"], 2, "needs.room_fan has unknown key(s) 'count'"),
        (["needs", "logic", "module"], "nope", "logic needs module 'nope', which is not stored"),
        (
            ["needs", "logic", "module"],
            "too-warm-logic@7",
            "too-warm-logic@7, but 'too-warm-logic' has version(s) 1-3 only",
        ),
        (["needs", "logic", "module"], "x@0", "version after '@'"),
        (["steps"], [], "steps must be a non-empty list"),
        (["steps", 0, "module"], "digits", "'digits' is not a module need of the app"),
        (["steps", 0, "module"], "room_temp", "module needs: logic"),
        (["steps", 0, "uses"], ["door_camera"], "names 'door_camera', which is not a sensor"),
        (["steps", 0, "uses"], ["logic"], "names 'logic', which is not a sensor"),
        (["steps", 0, "uses"], {"a": 1}, "must be a list of binding names"),
        (["steps", 0, "device"], "edge-1", "pins a device"),
        (["steps", 0, "function"], _DROP, "steps[0].func must name a function"),
        (["parameters"], ["threshold"], "parameters must be an object"),
        (["parameters", "threshold", "type"], "warm", "parameters.threshold.type 'warm'"),
        (["parameters", "threshold", "default"], "hot", "parameters.threshold.default must be"),
        (["parameters", "threshold", "unit"], "C", "unknown key(s) 'unit'"),
        (["parameters", "threshold"], 26, "parameters.threshold must be a type"),
        (["description"], 5, "description must be a string"),
    ],
)
def test_bad_apps_say_what_is_missing(path: list[Any], value: Any, says: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_app(_broken(path, value), MODULES)
    assert says in err.value.message
    assert err.value.status == 400


def test_every_missing_module_is_named_at_once() -> None:
    doc = _app_doc()
    doc["needs"]["model"] = {"module": "faces"}
    doc["needs"]["logic"] = {"module": "gone"}
    with pytest.raises(InvalidDocument) as err:
        parse_app(doc, MODULES)
    assert "'gone'" in err.value.message and "'faces'" in err.value.message


@pytest.mark.parametrize("text", ["", "name: [", "- a\n- b"])
def test_unreadable_or_empty_text(text: str) -> None:
    with pytest.raises(InvalidDocument):
        parse_app_text(text, MODULES)


def test_a_bridge_step_needs_no_module() -> None:
    doc = _app_doc()
    doc["steps"].append({"bridge": {"to": "mqtt://127.0.0.1:1883", "topic": "campus/#"}})
    app = parse_app(doc, MODULES)
    assert app.steps[1].bridge is not None
    assert app.uses == (("room_temp", "room_fan"), ())


# --- parameters --------------------------------------------------------------------------


def test_parameters_fill_defaults_and_check_values() -> None:
    app = parse_app_text(TOO_WARM, MODULES)
    assert resolve_parameters(app, {"speed": 2}) == {"threshold": 26, "speed": 2}
    assert resolve_parameters(app, {"speed": 0, "threshold": 30.5})["threshold"] == 30.5
    with pytest.raises(InvalidArgument, match=r"needs a value for parameter\(s\) speed \(int"):
        resolve_parameters(app, {})
    with pytest.raises(InvalidArgument, match=r"Parameter 'speed' must be in 0\.\.3, got 4"):
        resolve_parameters(app, {"speed": 4})
    with pytest.raises(InvalidArgument, match="no parameter 'colour'; its parameters are"):
        resolve_parameters(app, {"speed": 1, "colour": "red"})


# --- binding -----------------------------------------------------------------------------


def _app() -> App:
    return parse_app(_app_doc(), MODULES)


def test_bind_takes_the_nearest_then_by_name() -> None:
    result = bind(_app(), "campus/lab-1", THINGS)
    assert isinstance(result, Binding)
    assert result.things["room_temp"].name == "lab-temp"  # not bench-temp (deeper), not campus
    assert result.things["room_fan"].name == "lab-fan-a"  # same depth: by name
    assert result.modules == {"logic": "too-warm-logic"}
    assert result.holds("i1") == (
        Hold("i1", "lab-temp", exclusive=False),
        Hold("i1", "lab-fan-a", exclusive=True),
    )
    shown = result.to_dict()
    assert shown["bindings"]["room_fan"] == {
        "kind": "controller",
        "type": "fan",
        "thing": "lab-fan-a",
        "location": "campus/lab-1",
        "exclusive": True,
    }
    assert shown["bindings"]["logic"] == {"kind": "module", "module": "too-warm-logic"}


def test_bind_looks_below_not_above() -> None:
    result = bind(_app(), "campus/lab-1/bench", THINGS)
    assert isinstance(result, Refusal)
    assert set(result.reasons) == {"room_fan"}
    assert (
        "no controller of type 'fan' at campus/lab-1/bench or below" in result.reasons["room_fan"]
    )
    assert "there are some at bank/vault, campus/hall, campus/lab-1" in result.reasons["room_fan"]
    error = result.to_error()
    assert isinstance(error, Unprocessable) and error.status == 422
    assert "'too-warm' cannot be installed at campus/lab-1/bench: room_fan: no controller" in (
        error.message
    )


def test_bind_at_a_parent_finds_things_below() -> None:
    result = bind(_app(), "bank", THINGS)
    assert isinstance(result, Refusal)  # a fan in the vault, but no temperature sensor
    assert set(result.reasons) == {"room_temp"}
    assert "no sensor of type 'temperature' at bank or below" in result.reasons["room_temp"]
    ok = bind(_app(), "campus", THINGS)
    assert isinstance(ok, Binding)
    assert ok.things["room_temp"].name == "campus-temp"
    assert ok.things["room_fan"].name == "hall-fan"  # campus/hall < campus/lab-1 by name


def test_bad_location_is_refused() -> None:
    with pytest.raises(InvalidDocument, match="location"):
        bind(_app(), "Campus", THINGS)


def test_sensors_are_shared_exclusive_controllers_are_not() -> None:
    app = _app()
    first = bind(app, "campus/lab-1", THINGS)
    assert isinstance(first, Binding)
    holds = list(first.holds("install-1"))
    second = bind(app, "campus/lab-1", THINGS, holds)
    assert isinstance(second, Binding)
    assert second.things["room_temp"].name == "lab-temp"  # shared
    assert second.things["room_fan"].name == "lab-fan-b"  # the other fan
    holds += second.holds("install-2")
    third = bind(app, "campus/lab-1", THINGS, holds)
    assert isinstance(third, Refusal)
    assert set(third.reasons) == {"room_fan"}
    why = third.reasons["room_fan"]
    assert "lab-fan-a is held exclusively by install 'install-1'" in why
    assert "lab-fan-b is held exclusively by install 'install-2'" in why
    error = third.to_error()
    assert isinstance(error, Conflict) and error.status == 409


def test_rebinding_an_install_ignores_its_own_holds() -> None:
    first = bind(_app(), "campus/lab-1", THINGS)
    assert isinstance(first, Binding)
    again = bind(_app(), "campus/lab-1", THINGS, first.holds("i1"), install="i1")
    assert isinstance(again, Binding)
    assert again.things == first.things


def test_exclusive_need_refuses_a_controller_others_share() -> None:
    shared = [Hold("other", "lab-fan-a"), Hold("other", "lab-fan-b")]
    only_lab = [t for t in THINGS if t.location.startswith("campus/lab-1")]
    result = bind(_app(), "campus/lab-1", only_lab, shared)
    assert isinstance(result, Refusal)
    assert (
        "in use by install(s) 'other' and cannot be held exclusively" in result.reasons["room_fan"]
    )
    doc = _app_doc()
    doc["needs"]["room_fan"]["exclusive"] = False
    shared_ok = bind(parse_app(doc, MODULES), "campus/lab-1", only_lab, shared)
    assert isinstance(shared_ok, Binding)
    assert shared_ok.exclusive == frozenset()


def test_two_exclusive_needs_take_two_controllers() -> None:
    doc = _app_doc()
    doc["needs"]["spare_fan"] = {"controller": "fan", "exclusive": True}
    doc["needs"]["third_fan"] = {"controller": "fan", "exclusive": True}
    only_lab = [t for t in THINGS if t.location.startswith("campus/lab-1")]
    result = bind(parse_app(doc, MODULES), "campus/lab-1", only_lab)
    assert isinstance(result, Refusal)
    assert set(result.reasons) == {"third_fan"}
    assert "already held exclusively by this app's 'room_fan'" in result.reasons["third_fan"]
    del doc["needs"]["third_fan"]
    two = bind(parse_app(doc, MODULES), "campus/lab-1", only_lab)
    assert isinstance(two, Binding)
    assert {two.things["room_fan"].name, two.things["spare_fan"].name} == {
        "lab-fan-a",
        "lab-fan-b",
    }


def test_mixed_refusal_is_unprocessable_and_names_every_need() -> None:
    holds = [Hold("x", "hall-fan", exclusive=True)]
    result = bind(_app(), "campus/hall", THINGS, holds)
    assert isinstance(result, Refusal)
    assert set(result.reasons) == {"room_temp", "room_fan"}
    assert result.conflicts == frozenset({"room_fan"})
    error = result.to_error()
    assert isinstance(error, Unprocessable)
    assert "room_temp:" in error.message and "room_fan:" in error.message


def test_the_worked_example_in_docs_parses_and_binds_as_described() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "apps.md").read_text()
    block = text.split("```yaml\nname: too-warm\n", 1)[1].split("```", 1)[0]
    app = parse_app_text("name: too-warm\n" + block, {"too-warm-logic": [1]})
    lab = [
        parse_thing(
            {
                "kind": "sensor",
                "name": "lab-temp",
                "type": "temperature",
                "location": "campus/lab-1",
                "topic": "campus/lab-1/temp",
                "outputs": {"celsius": "float"},
            }
        ),
        parse_thing(
            {
                "kind": "controller",
                "name": "lab-fan",
                "type": "fan",
                "location": "campus/lab-1",
                "device": "edge-1",
                "inputs": {"speed": "int 0..3"},
            }
        ),
    ]
    first = bind(app, "campus/lab-1", lab)
    assert isinstance(first, Binding)
    assert {n: t.name for n, t in first.things.items()} == {
        "room_temp": "lab-temp",
        "room_fan": "lab-fan",
    }
    second = bind(app, "campus/lab-1", lab, first.holds("too-warm-lab-1"))
    assert isinstance(second, Refusal)
    assert isinstance(second.to_error(), Conflict)
    assert "held exclusively by install 'too-warm-lab-1'" in second.to_error().message
    bench = bind(app, "campus/lab-1/bench", lab)
    assert isinstance(bench, Refusal) and isinstance(bench.to_error(), Unprocessable)
    assert resolve_parameters(app, {"speed": 2}) == {"threshold": 26, "speed": 2}
