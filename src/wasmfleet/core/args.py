"""Bind HTTP arguments to a Wasm function's parameters and format its results.

Arguments arrive as (name, value) pairs: query strings, form fields or JSON. They map to
Wasm parameters by the names the description declares, else by position, and are cast
to each parameter's Wasm type with range checks. Results are formatted the wasmiot way:
a number is returned as a JSON string (``"13"``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

from wasmfleet.core.errors import InvalidArgument
from wasmfleet.core.models import FunctionSpec, WasmType

Scalar = int | float
ArgValue = str | int | float

_RANGES: dict[str, tuple[int, int, int]] = {
    # type: (lowest accepted, highest accepted, modulus for wrapping unsigned input)
    "i32": (-(2**31), 2**32 - 1, 2**32),
    "i64": (-(2**63), 2**64 - 1, 2**64),
}
_KIND = {"i32": "an integer", "i64": "an integer", "f32": "a number", "f64": "a number"}


def bind_arguments(
    fn: FunctionSpec, wasm_params: Sequence[WasmType], given: Sequence[tuple[str, ArgValue]]
) -> list[Scalar]:
    """Return the Wasm argument list for ``fn`` or raise InvalidArgument saying what is wrong."""
    declared = [p.name for p in fn.params]
    positional = bool(given) and all(name.isdigit() for name, _ in given)  # a JSON list body
    if declared and len(declared) == len(wasm_params) and not positional:
        by_name = dict(given)
        values: list[tuple[str, ArgValue]] = []
        for name in declared:
            if name not in by_name:
                raise InvalidArgument(_missing(fn, declared, wasm_params, name, given))
            values.append((name, by_name[name]))
    else:
        if len(given) != len(wasm_params):
            raise InvalidArgument(
                f"{fn.module}.{fn.name} takes {len(wasm_params)} argument(s) "
                f"({_signature(declared, wasm_params)}), got {len(given)}."
            )
        values = list(given)
    return [
        cast_argument(name, value, ty)
        for (name, value), ty in zip(values, wasm_params, strict=False)
    ]


def cast_argument(name: str, value: ArgValue, wasm_type: WasmType) -> Scalar:
    """Cast one argument to a Wasm value of ``wasm_type`` (ints wrap unsigned input)."""
    if wasm_type in _RANGES:
        number = _as_int(value)
        low, high, modulus = _RANGES[wasm_type]
        if number is None:
            raise InvalidArgument(
                f"Argument {name!r} must be {_KIND[wasm_type]} ({wasm_type}), got {value!r}."
            )
        if not low <= number <= high:
            raise InvalidArgument(
                f"Argument {name!r} = {number} does not fit in {wasm_type} "
                f"(allowed {low} .. {high})."
            )
        if number >= modulus // 2:
            number -= modulus
        return number
    real = _as_float(value)
    if real is None:
        raise InvalidArgument(
            f"Argument {name!r} must be {_KIND[wasm_type]} ({wasm_type}), got {value!r}."
        )
    return real


def format_value(value: Any, results: Sequence[WasmType]) -> Any:
    """A function's Wasm results as the entry shows them: None, one scalar's text, or a list."""
    if value is None or not results:
        return None
    if len(results) == 1:
        return format_scalar(value, results[0])
    return [format_scalar(v, t) for v, t in zip(value, results, strict=False)]


def format_scalar(value: Scalar, wasm_type: WasmType) -> str:
    """The wasmiot text form of a scalar result: ``"13"``, ``"21.5"``, ``"nan"``."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if wasm_type == "f32":
        return _shortest_f32(value)
    return repr(float(value))


def _shortest_f32(value: float) -> str:
    """Shortest decimal that reads back as the same 32-bit float (0.1f -> '0.1')."""
    target = struct.pack("<f", value)
    for digits in range(6, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("<f", float(text)) == target:
            return repr(float(text))
    return repr(value)


def _as_int(value: ArgValue) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = value.strip()
    try:
        return int(text, 10)
    except ValueError:
        pass
    try:
        real = float(text)
    except ValueError:
        return None
    return int(real) if real.is_integer() and abs(real) < 2**64 else None


def _as_float(value: ArgValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value.strip())
    except ValueError:
        return None


def _signature(declared: Sequence[str], wasm_params: Sequence[WasmType]) -> str:
    if declared and len(declared) == len(wasm_params):
        return ", ".join(f"{n}: {t}" for n, t in zip(declared, wasm_params, strict=False))
    return ", ".join(wasm_params) or "none"


def _missing(
    fn: FunctionSpec,
    declared: Sequence[str],
    wasm_params: Sequence[WasmType],
    name: str,
    given: Sequence[tuple[str, ArgValue]],
) -> str:
    example = "&".join(f"{n}=1" for n in declared)
    got = ", ".join(n for n, _ in given) or "nothing"
    return (
        f"Missing argument {name!r} for {fn.module}.{fn.name} "
        f"({_signature(declared, wasm_params)}); got {got}. Example: ?{example}"
    )
