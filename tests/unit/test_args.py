"""Binding HTTP arguments to Wasm parameters, and formatting results."""

from __future__ import annotations

import pytest

from wasmfleet.core.args import bind_arguments, cast_argument, format_scalar
from wasmfleet.core.errors import InvalidArgument
from wasmfleet.core.models import FunctionSpec, Param


def fn(*names: str) -> FunctionSpec:
    return FunctionSpec(module="m", name="f", params=tuple(Param(n) for n in names))


def test_binds_by_declared_name_whatever_the_order() -> None:
    assert bind_arguments(fn("a", "b"), ["i32", "f64"], [("b", "2.5"), ("a", "7")]) == [7, 2.5]


def test_binds_by_position_when_undeclared() -> None:
    assert bind_arguments(fn(), ["i64", "i32"], [("x", "1"), ("y", "2")]) == [1, 2]


def test_missing_named_argument_says_what_to_send() -> None:
    with pytest.raises(InvalidArgument) as err:
        bind_arguments(fn("iterations"), ["i64"], [("iteration", "7")])
    assert "iterations" in err.value.message
    assert "iteration" in err.value.message  # what was sent instead
    assert "?iterations=1" in err.value.message


def test_wrong_count_by_position() -> None:
    with pytest.raises(InvalidArgument, match="takes 2 argument"):
        bind_arguments(fn(), ["i32", "i32"], [("a", "1")])


@pytest.mark.parametrize(
    ("value", "ty", "expected"),
    [
        ("7", "i64", 7),
        (" -3 ", "i32", -3),
        ("4294967295", "i32", -1),  # unsigned input wraps to the signed Wasm value
        ("1e3", "i32", 1000),
        (5, "f32", 5.0),
        ("2.5", "f64", 2.5),
        (7.0, "i64", 7),
    ],
)
def test_casts(value: str | int | float, ty: str, expected: int | float) -> None:
    assert cast_argument("x", value, ty) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "ty"),
    [
        ("abc", "i32"),
        ("2.5", "i64"),
        ("4294967296", "i32"),
        ("", "f64"),
        (True, "i32"),
        ("x", "f32"),
    ],
)
def test_rejects_bad_values(value: str | bool, ty: str) -> None:
    with pytest.raises(InvalidArgument):
        cast_argument("x", value, ty)  # type: ignore[arg-type]


def test_format_scalar_is_wasmiot_text() -> None:
    assert format_scalar(13, "i64") == "13"
    assert format_scalar(21.5, "f32") == "21.5"
    assert format_scalar(0.10000000149011612, "f32") == "0.1"  # shortest f32 round trip
    assert format_scalar(0.1, "f64") == "0.1"
    assert format_scalar(float("nan"), "f64") == "nan"


def test_a_json_list_binds_by_position_even_when_names_are_declared() -> None:
    assert bind_arguments(fn("a", "b"), ["i32", "i32"], [("0", "4"), ("1", "5")]) == [4, 5]
