"""The wasmiot orchestrator's answers (tests/data/wasmiot/) and a comparison of shapes.

A fixture holds one answer of the original orchestrator, written from its source (see the
README there): status, media type and an example body. ``problems(ours, fixture)`` lists
every way an answer of ours differs in shape: a key missing or extra, a JSON type that
differs, a list or object where the example has something else. Paths name the place:
``$`` the body, ``.key`` a key, ``[]`` every item of a list, ``{}`` every value of an
object keyed by data (ids, names).

A fixture says where the example is not a fixed shape: ``maps`` (objects keyed by data: every
value has the shape of the example's first value), ``open`` (objects that may carry more keys
than the example, such as documents a device gets), ``optional`` (keys present only
sometimes, on either side) and ``opaque`` (values that are a device's or a module's own, or
that the original itself gives in several types: not compared).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent / "data" / "wasmiot"
UPSTREAM = "LiquidAI-project/wasmiot-orchestrator@dfa3f55"


@dataclass(frozen=True)
class Fixture:
    """One answer of the wasmiot orchestrator."""

    name: str
    route: str
    source: list[str]
    status: int
    content_type: str | None
    body: Any = None
    body_text: str | None = None
    maps: frozenset[str] = field(default_factory=frozenset)
    open: frozenset[str] = field(default_factory=frozenset)
    optional: frozenset[str] = field(default_factory=frozenset)
    opaque: frozenset[str] = field(default_factory=frozenset)


def load(name: str) -> Fixture:
    """The fixture ``tests/data/wasmiot/<name>.json``."""
    raw = json.loads((FIXTURES / f"{name}.json").read_text())
    return Fixture(
        name=name,
        route=raw["route"],
        source=list(raw["source"]),
        status=int(raw["status"]),
        content_type=raw.get("content_type"),
        body=raw.get("body"),
        body_text=raw.get("body_text"),
        maps=frozenset(raw.get("maps", ())),
        open=frozenset(raw.get("open", ())),
        optional=frozenset(raw.get("optional", ())),
        opaque=frozenset(raw.get("opaque", ())),
    )


def all_names() -> list[str]:
    """Every fixture's name."""
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


def json_type(value: Any) -> str:
    """The JSON type of a value: object, array, string, number, boolean or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"not a JSON value: {value!r}")


def problems(ours: Any, fixture: Fixture, path: str = "$") -> list[str]:
    """Every difference in shape between ``ours`` and the fixture's example body."""
    return _compare(ours, fixture.body, fixture, path)


def _compare(ours: Any, theirs: Any, fx: Fixture, path: str) -> list[str]:
    if path in fx.opaque:
        return []
    if json_type(ours) != json_type(theirs):
        return [f"{path}: {json_type(ours)} where the original has {json_type(theirs)}"]
    if isinstance(theirs, list):
        if not theirs:
            return []
        return [
            p for i, item in enumerate(ours) for p in _compare(item, theirs[0], fx, path + "[]")
        ]
    if not isinstance(theirs, dict):
        return []
    if path in fx.maps:
        if not theirs:
            return []
        example = next(iter(theirs.values()))
        return [p for value in ours.values() for p in _compare(value, example, fx, path + "{}")]
    found = []
    for key in sorted(set(theirs) | set(ours)):
        where = f"{path}.{key}"
        if key not in ours:
            if where not in fx.optional:
                found.append(f"{where}: missing (the original has it)")
        elif key not in theirs:
            if where not in fx.optional and path not in fx.open:
                found.append(f"{where}: extra (the original has no such key)")
        else:
            found += _compare(ours[key], theirs[key], fx, where)
    return found


def check(response: httpx.Response, name: str) -> Any:
    """Assert that ``response`` has the fixture's status, media type and body shape; its body."""
    fx = load(name)
    assert response.status_code == fx.status, (fx.route, response.status_code, response.text)
    media = response.headers.get("content-type", "").split(";")[0].strip() or None
    assert media == fx.content_type, (fx.route, media)
    if fx.content_type is None:
        assert response.content == b"", (fx.route, response.content)
        return None
    if fx.content_type != "application/json" and fx.body_text is None:
        return response.content
    if fx.body_text is not None:
        assert json_type(json.loads(response.text)) == json_type(json.loads(fx.body_text))
        return response.text
    body = response.json()
    found = problems(body, fx)
    assert not found, f"{fx.route} differs from {fx.name}.json: " + "; ".join(found)
    return body
