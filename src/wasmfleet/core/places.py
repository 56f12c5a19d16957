"""Places and the things at them: location paths, sensors, controllers and their typed parameters.

A *location* is a path of 1 to 8 segments, ``campus/building/room``, each segment lower-case
letters, digits and ``-`` (``[a-z0-9][a-z0-9-]{0,62}``). A location is *at or below* another when
the other is a prefix of it by whole segments: ``campus/lab-1`` is below ``campus``, not below
``camp``.

A *thing* is a sensor or a controller registered at one location and reached through a device
(``device: edge-1``) or an MQTT topic (``topic: campus/lab-1/temp``). Sensors declare their
``outputs``, controllers their ``inputs``, each a mapping of field name to a parameter type::

    {kind: sensor, name: lab-temp, type: temperature, location: campus/lab-1,
     topic: campus/lab-1/temp, outputs: {celsius: float}}
    {kind: controller, name: lab-fan, type: fan, location: campus/lab-1,
     device: edge-1, inputs: {speed: "int 0..3"}}

The parameter type language is small: ``int``, ``float``, ``bool``, ``string``; a number type
with a range (``int 0..3``, ``float -20..60``, an open end allowed: ``int 0..``); an enum of
words (``off|low|high``). ``check_value`` refuses a value that does not fit, in a sentence.
Thing names are unique among all things (sensors and controllers share one namespace).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from wasmfleet.core.errors import InvalidArgument, InvalidDocument
from wasmfleet.core.manifest_fields import kind_of, no_unknown_keys
from wasmfleet.core.names import check_identifier
from wasmfleet.core.quantities import show
from wasmfleet.core.topics import check_topic

MAX_SEGMENTS = 8
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_ENUM_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE = re.compile(rf"(int|float)\s+({_NUMBER})?\.\.({_NUMBER})?")
MAX_PARAMS = 64
"""At most this many outputs or inputs on one thing (bounds every loop over them)."""

ThingKind = Literal["sensor", "controller"]
KINDS: tuple[ThingKind, ...] = ("sensor", "controller")
BASE_TYPES = ("int", "float", "bool", "string")


# --- locations ---------------------------------------------------------------------------


def parse_location(raw: object, where: str = "location") -> str:
    """A valid location path (surrounding ``/`` dropped), or InvalidDocument naming the segment."""
    if not isinstance(raw, str) or not raw.strip().strip("/"):
        raise InvalidDocument(f"{where} must be a path like campus/building/room, got {show(raw)}.")
    segments = raw.strip().strip("/").split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidDocument(
            f"{where} {raw!r} has {len(segments)} segments; a location has at most "
            f"{MAX_SEGMENTS} (campus/building/room)."
        )
    for i, segment in enumerate(segments):
        if not _SEGMENT.fullmatch(segment):
            what = "is empty (two '/' in a row)" if not segment else f"{segment!r} is not allowed"
            raise InvalidDocument(
                f"{where} {raw!r}: segment {i + 1} {what}; use lower-case letters, digits and "
                "'-' (starting with a letter or digit, at most 63 characters)."
            )
    return "/".join(segments)


def parents(path: str) -> tuple[str, ...]:
    """The locations above ``path``, nearest first: ``a/b/c`` → ``("a/b", "a")``."""
    segments = path.split("/")
    return tuple("/".join(segments[:n]) for n in range(len(segments) - 1, 0, -1))


def is_at_or_below(path: str, ancestor: str) -> bool:
    """True when ``path`` is ``ancestor`` or lies under it by whole segments."""
    return path == ancestor or path.startswith(ancestor + "/")


def depth_below(path: str, ancestor: str) -> int:
    """How many segments ``path`` lies below ``ancestor`` (0: the same place); -1 if not below."""
    if not is_at_or_below(path, ancestor):
        return -1
    return path.count("/") - ancestor.count("/")


# --- the parameter type language ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParamType:
    """A parameter type: a base type, an optional numeric range, or an enum of words."""

    base: Literal["int", "float", "bool", "string", "enum"]
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.base == "enum":
            return "|".join(self.choices)
        if self.low is None and self.high is None:
            return self.base
        return f"{self.base} {_num(self.low)}..{_num(self.high)}"


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def parse_type(raw: object, where: str = "type") -> ParamType:
    """Read ``int``, ``float 0..1``, ``bool``, ``string`` or ``a|b|c``; InvalidDocument if not."""
    hint = "int, float, bool, string, a range like 'int 0..3' or words like 'off|low|high'"
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidDocument(f"{where} must be a type ({hint}), got {show(raw)}.")
    text = " ".join(raw.split())
    if text in BASE_TYPES:
        return ParamType(text)  # type: ignore[arg-type]
    if "|" in text:
        words = tuple(w.strip() for w in text.split("|"))
        bad = [w for w in words if not _ENUM_WORD.fullmatch(w)]
        if bad:
            raise InvalidDocument(
                f"{where} {raw!r}: {bad[0]!r} is not a plain word; enum choices are "
                "letters, digits, '_', '.' or '-' separated by '|'."
            )
        if len(set(words)) != len(words) or len(words) < 2:
            raise InvalidDocument(
                f"{where} {raw!r} must list two or more different words separated by '|'."
            )
        return ParamType("enum", choices=words)
    match = _RANGE.fullmatch(text)
    if match is None:
        raise InvalidDocument(f"{where} {raw!r} is not a type; use {hint}.")
    base, low_text, high_text = match.groups()
    if base == "int" and any(t and "." in t for t in (low_text, high_text)):
        raise InvalidDocument(f"{where} {raw!r}: an int range has whole-number ends.")
    low = float(low_text) if low_text else None
    high = float(high_text) if high_text else None
    if low is None and high is None:
        raise InvalidDocument(f"{where} {raw!r}: give at least one end of the range.")
    if low is not None and high is not None and low > high:
        raise InvalidDocument(
            f"{where} {raw!r}: the range starts above its end; write the lower end first."
        )
    return ParamType(base, low, high)  # type: ignore[arg-type]


def value_problem(ptype: ParamType, value: object) -> str | None:
    """Why ``value`` does not fit ``ptype`` (a sentence fragment), or None when it fits."""
    if ptype.base == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {show(value)}"
    if ptype.base in ("string", "enum"):
        if not isinstance(value, str):
            return f"must be a string, got {kind_of(value)} {show(value)}"
        if ptype.base == "enum" and value not in ptype.choices:
            return f"must be one of {', '.join(ptype.choices)}, got {value!r}"
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or (isinstance(value, float) and not math.isfinite(value)):
        return f"must be a{'n' if ptype.base == 'int' else ''} {ptype.base}, got {show(value)}"
    if ptype.base == "int" and not isinstance(value, int):
        return f"must be a whole number, got {show(value)}"
    assert isinstance(value, int | float)
    if (ptype.low is not None and value < ptype.low) or (
        ptype.high is not None and value > ptype.high
    ):
        return f"must be in {_num(ptype.low)}..{_num(ptype.high)}, got {show(value)}"
    return None


def check_value(ptype: ParamType, value: object, where: str = "value") -> object:
    """Return ``value`` if it fits ``ptype``, else raise InvalidArgument naming ``where``."""
    problem = value_problem(ptype, value)
    if problem is not None:
        raise InvalidArgument(f"{where} {problem}.")
    return value


def parse_params(raw: object, where: str) -> dict[str, ParamType]:
    """A mapping of field name to type (``{celsius: float}``), fields in the order given."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDocument(
            f"{where} must be an object of field: type like {{celsius: float}}, got {show(raw)}."
        )
    if len(raw) > MAX_PARAMS:
        raise InvalidDocument(f"{where} has {len(raw)} fields; at most {MAX_PARAMS} are allowed.")
    out: dict[str, ParamType] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not _FIELD_NAME.fullmatch(key):
            raise InvalidDocument(
                f"{where} has a field {key!r}; field names are letters, digits and '_' "
                "(not starting with a digit)."
            )
        out[key] = parse_type(value, f"{where}.{key}")
    return out


# --- things ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Via:
    """How a thing is reached: through a device (by name) or an MQTT topic."""

    kind: Literal["device", "topic"]
    target: str


@dataclass(frozen=True, slots=True)
class Thing:
    """A registered sensor or controller at a location, with its typed parameters."""

    kind: ThingKind
    name: str
    type: str
    location: str
    via: Via
    params: Mapping[str, ParamType] = field(default_factory=dict, hash=False)
    """A sensor's outputs or a controller's inputs, field name → type."""

    @property
    def params_key(self) -> str:
        """``outputs`` for a sensor, ``inputs`` for a controller (the document's key)."""
        return "outputs" if self.kind == "sensor" else "inputs"

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON-able form; ``parse_thing`` reads it back."""
        return {
            "kind": self.kind,
            "name": self.name,
            "type": self.type,
            "location": self.location,
            self.via.kind: self.via.target,
            self.params_key: {k: str(t) for k, t in self.params.items()},
        }

    def check_message(self, message: object, where: str | None = None) -> dict[str, object]:
        """Check a reading (sensor) or a command (controller) against the declared params."""
        label = where or f"{self.kind} {self.name!r}"
        if not isinstance(message, dict):
            raise InvalidArgument(
                f"{label} takes an object like {{{', '.join(self.params)}}}, "
                f"got {kind_of(message)}."
            )
        unknown = [k for k in message if k not in self.params]
        if unknown:
            raise InvalidArgument(
                f"{label} has no {self.params_key[:-1]} {unknown[0]!r}; it has: "
                f"{', '.join(self.params) or 'none'}."
            )
        for key, value in message.items():
            check_value(self.params[key], value, f"{label}: {key}")
        return dict(message)


_THING_KEYS = ("kind", "name", "type", "location", "device", "topic", "outputs", "inputs")


def check_type_name(raw: object, where: str = "type") -> str:
    """A sensor or controller type (``temperature``, ``fan``), or InvalidDocument."""
    if not isinstance(raw, str) or not _TYPE_NAME.fullmatch(raw):
        raise InvalidDocument(
            f"{where} must be a type name like temperature or fan (lower-case letters, digits, "
            f"'_' or '-', starting with a letter), got {show(raw)}."
        )
    return raw


def parse_thing(doc: object, kind: ThingKind | None = None) -> Thing:
    """Validate a sensor or controller document; InvalidDocument names the field."""
    if not isinstance(doc, dict):
        raise InvalidDocument(
            f"A sensor or controller must be an object with name, type, location and device or "
            f"topic, not a {kind_of(doc)}."
        )
    no_unknown_keys(doc, _THING_KEYS, "The thing")
    raw_kind = doc.get("kind", kind)
    if raw_kind not in KINDS:
        raise InvalidDocument(f"kind must be sensor or controller, got {show(raw_kind)}.")
    if kind is not None and raw_kind != kind:
        raise InvalidDocument(f"kind says {raw_kind!r} where a {kind} is being registered.")
    thing_kind: ThingKind = "sensor" if raw_kind == "sensor" else "controller"
    for key in ("name", "type", "location"):
        if key not in doc:
            raise InvalidDocument(f"The {thing_kind} has no '{key}'; give its {key}.")
    name = check_identifier(f"The {thing_kind} name", doc["name"])
    own, other = ("outputs", "inputs") if thing_kind == "sensor" else ("inputs", "outputs")
    if other in doc:
        raise InvalidDocument(
            f"A {thing_kind} declares '{own}', not '{other}' ({name!r}): a sensor's outputs are "
            "what it reports, a controller's inputs what it accepts."
        )
    if ("device" in doc) == ("topic" in doc):
        raise InvalidDocument(
            f"The {thing_kind} {name!r} must give exactly one of 'device' (the device it is "
            "reached through) or 'topic' (the MQTT topic it is reached on)."
        )
    if "device" in doc:
        via = Via("device", check_identifier(f"{name}.device", doc["device"]))
    else:
        via = Via("topic", check_topic(doc["topic"], f"{name}.topic"))
    return Thing(
        kind=thing_kind,
        name=name,
        type=check_type_name(doc["type"], f"{name}.type"),
        location=parse_location(doc["location"], f"{name}.location"),
        via=via,
        params=parse_params(doc.get(own), f"{name}.{own}"),
    )
