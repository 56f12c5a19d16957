"""core.app_steps: an app bound at a place becomes one install's manifest (things, params)."""

from __future__ import annotations

from typing import Any

import pytest

from wasmfleet.core.app_binding import Binding, bind
from wasmfleet.core.app_steps import install_manifest
from wasmfleet.core.apps import App, parse_app
from wasmfleet.core.errors import InvalidArgument, InvalidDocument, Unprocessable
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.places import Thing, parse_thing

MODULES = {"too-warm-logic": [1], "relay": [1]}


def _app(steps: list[dict[str, Any]] | None = None, **needs: dict[str, Any]) -> App:
    return parse_app(
        {
            "name": "too-warm",
            "parameters": {
                "threshold": {"type": "float -20..60", "default": 26},
                "speed": "int 0..3",
            },
            "needs": needs
            or {
                "room_temp": {"sensor": "temperature"},
                "room_fan": {"controller": "fan", "exclusive": True},
                "logic": {"module": "too-warm-logic"},
            },
            "steps": steps
            or [
                {
                    "module": "logic",
                    "function": "check",
                    "uses": ["room_temp", "room_fan"],
                    "trigger": {"topic": "campus/lab-1/temp"},
                }
            ],
        },
        MODULES,
    )


def _sensor(name: str = "lab-temp", **via: str) -> Thing:
    return parse_thing(
        {
            "kind": "sensor",
            "name": name,
            "type": "temperature",
            "location": "campus/lab-1",
            "outputs": {"celsius": "float"},
        }
        | (via or {"topic": "campus/lab-1/temp"})
    )


def _fan(name: str = "lab-fan", **via: str) -> Thing:
    return parse_thing(
        {
            "kind": "controller",
            "name": name,
            "type": "fan",
            "location": "campus/lab-1",
            "inputs": {"speed": "int 0..3"},
        }
        | (via or {"topic": "campus/lab-1/fan"})
    )


def _bind(app: App, *things: Thing) -> Binding:
    binding = bind(app, "campus/lab-1", things)
    assert isinstance(binding, Binding), binding
    return binding


def test_steps_carry_the_things_they_use_and_the_params() -> None:
    app = _app()
    sensor, fan = _sensor(), _fan()
    manifest = install_manifest(app, _bind(app, sensor, fan), {"speed": 2}, "too-warm-lab")
    assert manifest.name == "too-warm-lab"
    (step,) = manifest.steps
    assert step.module == "too-warm-logic"
    assert dict(step.things) == {"room_temp": sensor, "room_fan": fan}
    assert dict(step.params) == {"threshold": 26, "speed": 2}
    assert step.device is None  # both things are reached through topics: placement chooses


def test_the_manifest_round_trips_through_its_stored_form() -> None:
    app = _app()
    manifest = install_manifest(app, _bind(app, _sensor(), _fan()), {"speed": 1}, "i1")
    doc = manifest.to_dict()
    assert doc["steps"][0]["things"]["room_fan"] == _fan().to_dict()
    assert doc["steps"][0]["params"] == {"threshold": 26, "speed": 1}
    assert parse_manifest(doc) == manifest
    assert parse_manifest(doc).steps[0].things == manifest.steps[0].things


def test_a_step_gets_only_the_things_it_uses() -> None:
    app = _app(
        steps=[
            {"module": "logic", "function": "read", "uses": ["room_temp"]},
            {"module": "logic", "function": "act", "uses": ["room_fan"]},
            {"module": "logic", "function": "report"},
        ]
    )
    manifest = install_manifest(app, _bind(app, _sensor(), _fan()), {"speed": 3}, "i1")
    assert [sorted(s.things) for s in manifest.steps] == [["room_temp"], ["room_fan"], []]
    assert all(dict(s.params) == {"threshold": 26, "speed": 3} for s in manifest.steps)


def test_a_step_using_a_device_attached_thing_is_pinned_to_that_device() -> None:
    app = _app()
    manifest = install_manifest(
        app, _bind(app, _sensor(), _fan(device="edge-1")), {"speed": 2}, "i1"
    )
    assert manifest.steps[0].device == "edge-1"
    assert manifest.to_dict()["steps"][0]["device"] == "edge-1"


def test_two_things_on_one_device_pin_the_step_there() -> None:
    app = _app()
    binding = _bind(app, _sensor(device="edge-1"), _fan(device="edge-1"))
    assert install_manifest(app, binding, {"speed": 2}, "i1").steps[0].device == "edge-1"


def test_things_on_two_devices_in_one_step_are_refused_with_a_sentence() -> None:
    app = _app()
    binding = _bind(app, _sensor(device="edge-2"), _fan(device="edge-1"))
    with pytest.raises(Unprocessable) as err:
        install_manifest(app, binding, {"speed": 2}, "i1")
    text = err.value.message
    assert "room_fan (lab-fan) on edge-1" in text and "room_temp (lab-temp) on edge-2" in text
    assert "split the step" in text


def test_a_fleet_wide_step_cannot_use_a_device_attached_thing() -> None:
    app = _app(
        steps=[{"module": "logic", "function": "check", "uses": ["room_fan"], "replicas": "all"}]
    )
    with pytest.raises(Unprocessable, match="replicas all"):
        install_manifest(app, _bind(app, _sensor(), _fan(device="edge-1")), {"speed": 2}, "i1")


def test_params_are_resolved_and_checked() -> None:
    app = _app()
    binding = _bind(app, _sensor(), _fan())
    with pytest.raises(InvalidArgument, match="speed"):
        install_manifest(app, binding, {}, "i1")
    with pytest.raises(InvalidArgument, match=r"0\.\.3"):
        install_manifest(app, binding, {"speed": 9}, "i1")
    step = install_manifest(app, binding, {"speed": 0, "threshold": 30.5}, "i1").steps[0]
    assert dict(step.params) == {"threshold": 30.5, "speed": 0}


def test_a_binding_of_another_app_is_refused() -> None:
    app = _app()
    other = Binding("other", "campus/lab-1", {}, {})
    with pytest.raises(Unprocessable, match="other"):
        install_manifest(app, other, {"speed": 1}, "i1")


def test_a_bad_install_name_is_refused() -> None:
    app = _app()
    with pytest.raises(InvalidDocument, match="deployment name"):
        install_manifest(app, _bind(app, _sensor(), _fan()), {"speed": 1}, "a/b")


def test_bridge_steps_get_no_things() -> None:
    app = _app(
        steps=[
            {"module": "logic", "function": "check", "uses": ["room_temp"]},
            {"bridge": {"to": "mqtt://127.0.0.1:1", "topic": "campus/#"}, "uses": ["room_temp"]},
        ]
    )
    manifest = install_manifest(app, _bind(app, _sensor(), _fan()), {"speed": 1}, "i1")
    assert manifest.steps[1].bridge is not None
    assert not manifest.steps[1].things and not manifest.steps[1].params


# --- the step fields in a plain manifest --------------------------------------------------


def test_manifest_step_things_and_params_are_validated() -> None:
    base = {"module": "m", "function": "f"}
    with pytest.raises(InvalidDocument, match=r"steps\[0\].things.room_temp"):
        parse_manifest({"name": "x", "steps": [base | {"things": {"room_temp": {"kind": "x"}}}]})
    with pytest.raises(InvalidDocument, match=r"steps\[0\].things must be an object"):
        parse_manifest({"name": "x", "steps": [base | {"things": ["a"]}]})
    with pytest.raises(InvalidDocument, match=r"steps\[0\].params.speed must be a number"):
        parse_manifest({"name": "x", "steps": [base | {"params": {"speed": [1]}}]})
    with pytest.raises(InvalidDocument, match=r"steps\[0\].params.x must be a number"):
        parse_manifest({"name": "x", "steps": [base | {"params": {"x": float("nan")}}]})
    with pytest.raises(InvalidDocument, match="parameter name"):
        parse_manifest({"name": "x", "steps": [base | {"params": {"a/b": 1}}]})
    plain = parse_manifest({"name": "x", "steps": [base]})
    assert "things" not in plain.to_dict()["steps"][0]
    assert "params" not in plain.to_dict()["steps"][0]
