"""core.places: location paths, the parameter type language, and sensor/controller documents."""

from __future__ import annotations

from typing import Any

import pytest

from wasmfleet.core.errors import BadRequest, InvalidArgument, InvalidDocument
from wasmfleet.core.places import (
    ParamType,
    Thing,
    Via,
    check_value,
    depth_below,
    is_at_or_below,
    parents,
    parse_location,
    parse_thing,
    parse_type,
    value_problem,
)

SENSOR: dict[str, Any] = {
    "kind": "sensor",
    "name": "lab-temp",
    "type": "temperature",
    "location": "campus/lab-1",
    "topic": "campus/lab-1/temp",
    "outputs": {"celsius": "float"},
}
FAN: dict[str, Any] = {
    "kind": "controller",
    "name": "lab-fan",
    "type": "fan",
    "location": "campus/lab-1",
    "device": "edge-1",
    "inputs": {"speed": "int 0..3", "mode": "auto|manual"},
}


# --- locations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("campus", "campus"),
        ("campus/building-2/room-101", "campus/building-2/room-101"),
        ("/campus/lab-1/", "campus/lab-1"),
        (" campus/lab-1 ", "campus/lab-1"),
        ("/".join(["a"] * 8), "/".join(["a"] * 8)),
        ("x" * 63, "x" * 63),
        ("9th-floor", "9th-floor"),
    ],
)
def test_valid_locations(raw: str, path: str) -> None:
    assert parse_location(raw) == path


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "must be a path"),
        ("/", "must be a path"),
        (None, "must be a path"),
        (3, "must be a path"),
        ("campus//lab", "segment 2 is empty"),
        ("Campus/lab", "segment 1 'Campus' is not allowed"),
        ("campus/-lab", "segment 2 '-lab' is not allowed"),
        ("campus/lab 1", "segment 2 'lab 1'"),
        ("campus/..", "segment 2 '..'"),
        ("x" * 64, "segment 1"),
        ("/".join(["a"] * 9), "has 9 segments; a location has at most 8"),
    ],
)
def test_bad_locations_say_why(raw: object, says: str) -> None:
    with pytest.raises(InvalidDocument, match="location") as err:
        parse_location(raw)
    assert says in err.value.message
    assert err.value.status == 400


def test_location_errors_name_the_field() -> None:
    with pytest.raises(InvalidDocument, match=r"^lab-temp\.location"):
        parse_location("A", "lab-temp.location")


def test_parents_nearest_first() -> None:
    assert parents("a/b/c") == ("a/b", "a")
    assert parents("a") == ()


def test_at_or_below_by_whole_segments() -> None:
    assert is_at_or_below("campus/lab-1", "campus")
    assert is_at_or_below("campus", "campus")
    assert not is_at_or_below("campus", "campus/lab-1")
    assert not is_at_or_below("campus-2/lab", "campus")
    assert not is_at_or_below("campusx", "campus")
    assert depth_below("campus/lab-1/bench", "campus") == 2
    assert depth_below("campus", "campus") == 0
    assert depth_below("other", "campus") == -1


# --- the type language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected", "shown"),
    [
        ("int", ParamType("int"), "int"),
        ("float", ParamType("float"), "float"),
        ("bool", ParamType("bool"), "bool"),
        ("string", ParamType("string"), "string"),
        ("int 0..3", ParamType("int", 0, 3), "int 0..3"),
        ("int  0..3", ParamType("int", 0, 3), "int 0..3"),
        ("float -20..60.5", ParamType("float", -20, 60.5), "float -20..60.5"),
        ("int 0..", ParamType("int", 0, None), "int 0.."),
        ("float ..1", ParamType("float", None, 1), "float ..1"),
        ("off|low|high", ParamType("enum", choices=("off", "low", "high")), "off|low|high"),
        ("a | b", ParamType("enum", choices=("a", "b")), "a|b"),
    ],
)
def test_types_parse_and_show(text: str, expected: ParamType, shown: str) -> None:
    parsed = parse_type(text)
    assert parsed == expected
    assert str(parsed) == shown
    assert parse_type(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "must be a type"),
        (None, "must be a type"),
        ("integer", "is not a type"),
        ("int 3..0", "starts above its end"),
        ("int 0.5..3", "whole-number ends"),
        ("int ..", "at least one end"),
        ("string 0..3", "is not a type"),
        ("a|a", "two or more different words"),
        ("a|", "is not a plain word"),
        ("a|b c", "is not a plain word"),
    ],
)
def test_bad_types_say_why(text: object, says: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_type(text, "fan.inputs.speed")
    assert says in err.value.message
    assert err.value.message.startswith("fan.inputs.speed")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("int 0..3", 0),
        ("int 0..3", 3),
        ("float", 21),
        ("float", 21.5),
        ("float -20..60", -20.0),
        ("bool", False),
        ("string", ""),
        ("off|low", "low"),
        ("int 0..", 10**12),
    ],
)
def test_values_that_fit(text: str, value: object) -> None:
    assert value_problem(parse_type(text), value) is None
    assert check_value(parse_type(text), value) == value


@pytest.mark.parametrize(
    ("text", "value", "says"),
    [
        ("int 0..3", 4, "must be in 0..3, got 4"),
        ("int 0..3", -1, "must be in 0..3"),
        ("int", 1.5, "whole number"),
        ("int", True, "must be an int"),
        ("int", "2", "must be an int"),
        ("float", float("nan"), "must be a float"),
        ("float", float("inf"), "must be a float"),
        ("float 0..", -0.5, "must be in 0.."),
        ("bool", 1, "true or false"),
        ("string", 5, "must be a string"),
        ("off|low", "high", "one of off, low"),
        ("off|low", None, "must be a string"),
    ],
)
def test_values_that_do_not_fit(text: str, value: object, says: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        check_value(parse_type(text), value, "speed")
    assert err.value.message.startswith("speed ")
    assert says in err.value.message
    assert isinstance(err.value, BadRequest)


# --- things ------------------------------------------------------------------------------


def test_sensor_and_controller_parse_and_round_trip() -> None:
    sensor = parse_thing(SENSOR)
    assert sensor == Thing(
        "sensor",
        "lab-temp",
        "temperature",
        "campus/lab-1",
        Via("topic", "campus/lab-1/temp"),
        {"celsius": ParamType("float")},
    )
    fan = parse_thing(FAN)
    assert fan.via == Via("device", "edge-1")
    assert fan.params["speed"] == ParamType("int", 0, 3)
    for doc in (SENSOR, FAN):
        assert parse_thing(parse_thing(doc).to_dict()).to_dict() == parse_thing(doc).to_dict()
    assert fan.to_dict()["inputs"] == {"speed": "int 0..3", "mode": "auto|manual"}


def test_kind_can_come_from_the_route() -> None:
    doc = {k: v for k, v in SENSOR.items() if k != "kind"}
    assert parse_thing(doc, "sensor").kind == "sensor"
    with pytest.raises(InvalidDocument, match="where a controller is being registered"):
        parse_thing(SENSOR, "controller")


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = dict(base)
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ([], "must be an object"),
        (_with(SENSOR, kind="actuator"), "kind must be sensor or controller"),
        (_with(SENSOR, kind=None), "kind must be sensor or controller"),
        (_with(SENSOR, name=None), "has no 'name'"),
        (_with(SENSOR, type=None), "has no 'type'"),
        (_with(SENSOR, location=None), "has no 'location'"),
        (_with(SENSOR, name="a/b"), "name 'a/b' is not allowed"),
        (_with(SENSOR, type="Temp"), "lab-temp.type must be a type name"),
        (_with(SENSOR, location="Lab"), "lab-temp.location"),
        (_with(SENSOR, topic=None), "exactly one of 'device'"),
        (_with(SENSOR, device="edge-1"), "exactly one of 'device'"),
        (_with(SENSOR, topic="campus/+/temp"), "wildcard"),
        (_with(SENSOR, inputs={"x": "int"}), "declares 'outputs', not 'inputs'"),
        (_with(FAN, outputs={"x": "int"}), "declares 'inputs', not 'outputs'"),
        (_with(FAN, inputs={"speed": "int 3..0"}), "lab-fan.inputs.speed"),
        (_with(FAN, inputs={"1speed": "int"}), "field '1speed'"),
        (_with(FAN, inputs=["speed"]), "must be an object of field: type"),
        (_with(FAN, inputs={f"f{i}": "int" for i in range(65)}), "at most 64"),
        (_with(FAN, colour="red"), "unknown key(s) 'colour'"),
    ],
)
def test_bad_things_say_what(doc: object, says: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_thing(doc)
    assert says in err.value.message


def test_messages_are_checked_against_params() -> None:
    sensor, fan = parse_thing(SENSOR), parse_thing(FAN)
    assert sensor.check_message({"celsius": 22.5}) == {"celsius": 22.5}
    assert fan.check_message({"speed": 2}) == {"speed": 2}
    with pytest.raises(InvalidArgument, match=r"controller 'lab-fan': speed must be in 0\.\.3"):
        fan.check_message({"speed": 9})
    with pytest.raises(InvalidArgument, match="has no input 'colour'; it has: speed, mode"):
        fan.check_message({"colour": "red"})
    with pytest.raises(InvalidArgument, match="has no output 'kelvin'"):
        sensor.check_message({"kelvin": 300})
    with pytest.raises(InvalidArgument, match="takes an object"):
        sensor.check_message([22.5])
