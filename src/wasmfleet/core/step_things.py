"""The fields an app install adds to a manifest step: the ``things`` it reaches and ``params``.

``things`` maps the app's binding names (``room_temp``) to the bound thing's document
(``core.places.Thing.to_dict``); ``params`` maps the app's parameter names to scalar values
(int, float, bool or string). Both travel in the deployment document to the supervisor, whose
host functions ``wasmfleet.thing_read``, ``wasmfleet.thing_send`` and ``wasmfleet.param``
answer a module by these names (docs/module-authors.md). Devices that do not know the keys
ignore them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.places import MAX_PARAMS, Thing, parse_thing
from wasmfleet.core.quantities import show

MAX_STEP_THINGS = 64
"""At most this many things per step (an app has at most 64 needs)."""
MAX_STRING_PARAM = 4096
"""A string parameter's longest length, in characters."""
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._\-]{0,127}")

Scalar = int | float | bool | str


def parse_step_things(raw: object, where: str) -> dict[str, Thing]:
    """Binding name → thing, from ``{name: thing document}``; InvalidDocument names the field."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDocument(
            f"{where} must be an object of binding name: sensor or controller document, "
            f"got {show(raw)}."
        )
    if len(raw) > MAX_STEP_THINGS:
        raise InvalidDocument(f"{where} has {len(raw)} entries; at most {MAX_STEP_THINGS}.")
    out: dict[str, Thing] = {}
    for key, doc in raw.items():
        if not isinstance(key, str) or not _NAME.fullmatch(key):
            raise InvalidDocument(
                f"{where} has a binding name {show(key)}; use letters, digits, '.', '_' or '-'."
            )
        try:
            out[key] = parse_thing(doc)
        except InvalidDocument as err:
            raise InvalidDocument(f"{where}.{key}: {err.message}") from None
    return out


def parse_step_params(raw: object, where: str) -> dict[str, Scalar]:
    """Parameter name → scalar value (int, float, bool, string); InvalidDocument if not."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDocument(
            f"{where} must be an object of parameter name: value, got {show(raw)}."
        )
    if len(raw) > MAX_PARAMS:
        raise InvalidDocument(f"{where} has {len(raw)} entries; at most {MAX_PARAMS}.")
    out: dict[str, Scalar] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _NAME.fullmatch(key):
            raise InvalidDocument(
                f"{where} has a parameter name {show(key)}; use letters, digits, '.', '_' or '-'."
            )
        out[key] = _scalar(value, f"{where}.{key}")
    return out


def _scalar(value: object, where: str) -> Scalar:
    if isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_STRING_PARAM:
            raise InvalidDocument(
                f"{where} is {len(value)} characters long; at most {MAX_STRING_PARAM}."
            )
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise InvalidDocument(f"{where} must be a number, true/false or a string, got {show(value)}.")


def things_dict(things: Mapping[str, Thing]) -> dict[str, dict[str, Any]]:
    """The JSON-able form of a step's things (binding name → thing document)."""
    return {name: thing.to_dict() for name, thing in things.items()}
