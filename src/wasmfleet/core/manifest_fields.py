"""Readers of single manifest fields (core/manifest.py parses the whole document): each
checks one value and raises ``InvalidDocument`` naming the field path and what it must be."""

from __future__ import annotations

from typing import Any, Literal

from wasmfleet.core.bounds import MAX_DB_INT, MAX_DIGITS
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.names import check_identifier
from wasmfleet.core.quantities import show

ALL = "all"
"""``replicas: all``: one copy on every device that matches."""
Replicas = int | Literal["all"]


def no_unknown_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Refuse keys outside ``allowed``, naming them and the ones allowed."""
    unknown = [str(k) for k in obj if k not in allowed]
    if unknown:
        raise InvalidDocument(
            f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"the allowed keys are: {', '.join(allowed)}."
        )


def module_field(raw: Any, where: str) -> str:
    """A step's module: an id, a name or ``name@N``."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidDocument(f"{where} must name a module (its id or name), got {show(raw)}.")
    return raw.strip()


def function_field(raw: Any, where: str) -> str:
    """A step's function name."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidDocument(f"{where} must name a function the module exports, got {show(raw)}.")
    return check_identifier(where, raw.strip())


def device_field(raw: Any, where: str) -> str | None:
    """A device id or name to pin a step to (None: the solver chooses)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str):
        raise InvalidDocument(
            f"{where} must be a device id or name (or null to let the solver choose), "
            f"got {show(raw)}."
        )
    return raw.strip() or None


def failovers_field(raw: Any, where: str) -> tuple[str, ...]:
    """Devices to try first, in order, when a step must move (no repeats)."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise InvalidDocument(
            f"{where} must be a list of device ids or names like [edge-box, cloud-vm], "
            f"got {show(raw)}."
        )
    names: list[str] = []
    for i, item in enumerate(items):
        device = device_field(item, f"{where}[{i}]")
        if device is None:
            raise InvalidDocument(f"{where}[{i}] is empty; name a device.")
        if device not in names:
            names.append(device)
    return tuple(names)


def replicas_field(raw: Any, where: str) -> Replicas:
    """``"all"`` or a whole number of copies of 1 or more."""
    if raw == ALL:
        return "all"
    text = raw.strip() if isinstance(raw, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        raw = int(text)
    if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= MAX_DB_INT:
        return raw
    raise InvalidDocument(
        f'{where} must be "all" (every device that matches) or a whole number of 1 or '
        f"more, got {show(raw)}."
    )


def flag_field(raw: Any, where: str) -> bool:
    """A true/false field (missing: false)."""
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise InvalidDocument(f"{where} must be true or false, got {show(raw)}.")
    return raw


def choice_field(raw: Any, allowed: tuple[str, ...], where: str) -> str | None:
    """One of ``allowed``, or None when missing."""
    if raw is None:
        return None
    if raw not in allowed:
        raise InvalidDocument(f"{where} must be one of {', '.join(allowed)}, got {show(raw)}.")
    return str(raw)


def labels_field(raw: Any, where: str) -> dict[str, str]:
    """Labels as sorted ``{key: string}`` (numbers and booleans spelled as text)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDocument(
            f"{where} must be an object of key: value like {{location: lab}}, got {show(raw)}."
        )
    labels: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key:
            raise InvalidDocument(f"{where} has a key {key!r}; label keys are non-empty strings.")
        if isinstance(value, bool):
            labels[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            labels[key] = str(value)
        else:
            raise InvalidDocument(
                f"{where}.{key} must be a string (or a number), got {show(value)}."
            )
    return dict(sorted(labels.items()))


def kind_of(value: Any) -> str:
    """What a JSON value is, in a word, for messages."""
    names = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
