"""The wasmiot answer fixtures are well formed, and the shape comparison catches differences."""

from __future__ import annotations

import copy
import json
import re

import pytest

from tests.wasmiot_shapes import (
    FIXTURES,
    UPSTREAM,
    Fixture,
    all_names,
    json_type,
    load,
    problems,
)

NAMES = all_names()
SOURCE = re.compile(r"fileserv/[\w/]+\.js \S+")


def test_every_route_of_the_dialect_has_a_fixture() -> None:
    routes = {load(n).route.split(" (")[0] for n in NAMES}
    assert routes >= {
        "GET /file/device",
        "DELETE /file/device",
        "POST /file/device/discovery/reset",
        "POST /file/device/discovery/register",
        "POST /file/module",
        "GET /file/module",
        "DELETE /file/module",
        "GET /file/module/{id}",
        "DELETE /file/module/{id}",
        "POST /file/module/{id}/upload",
        "GET /file/module/{id}/wasm",
        "GET /file/module/{id}/description",
        "GET /file/module/{id}/{file name}",
        "POST /file/manifest",
        "GET /file/manifest",
        "DELETE /file/manifest",
        "GET /file/manifest/{id}",
        "POST /file/manifest/{id}",
        "PUT /file/manifest/{id}",
        "DELETE /file/manifest/{id}",
        "POST /execute/{id|name}",
        "POST /device/logs",
        "GET /device/logs?after=<time>",
    }


@pytest.mark.parametrize("name", NAMES)
def test_a_fixture_says_where_it_comes_from_and_fits_itself(name: str) -> None:
    raw = load(name)
    assert raw.source and all(SOURCE.match(s) for s in raw.source), raw.source
    assert 200 <= raw.status < 300
    assert (raw.content_type is None) == (raw.status == 204)
    for path in raw.maps | raw.open | raw.optional | raw.opaque:
        assert path.startswith("$"), path
    if raw.body is not None:
        assert problems(copy.deepcopy(raw.body), raw) == []
    document = json.loads((FIXTURES / f"{name}.json").read_text())
    assert document["upstream"] == UPSTREAM and UPSTREAM.endswith("@dfa3f55")
    assert len(document["derived"]) > 40


EXAMPLE = Fixture(
    name="example",
    route="GET /example",
    source=["fileserv/routes/example.js example"],
    status=200,
    content_type="application/json",
    body={
        "_id": "a",
        "count": 1,
        "tags": [{"name": "x"}],
        "byId": {"k1": {"status": 200}},
        "node": {"url": "u"},
        "sometimes": True,
        "theirs": {"anything": [1]},
    },
    maps=frozenset({"$.byId"}),
    open=frozenset({"$.node"}),
    optional=frozenset({"$.sometimes"}),
    opaque=frozenset({"$.theirs"}),
)


def ours() -> dict[str, object]:
    return copy.deepcopy(EXAMPLE.body)  # type: ignore[no-any-return]


def test_an_identical_answer_has_no_problems() -> None:
    assert problems(ours(), EXAMPLE) == []


def test_a_missing_or_extra_key_is_named() -> None:
    answer = ours()
    del answer["count"]
    answer["id"] = "a"
    assert problems(answer, EXAMPLE) == [
        "$.count: missing (the original has it)",
        "$.id: extra (the original has no such key)",
    ]


def test_types_are_compared_inside_lists_and_maps() -> None:
    answer = ours()
    answer["tags"] = [{"name": "x"}, {"name": 2}]
    answer["byId"] = {"k1": {"status": 200}, "k2": {"status": "ok"}}
    assert problems(answer, EXAMPLE) == [
        "$.byId{}.status: string where the original has number",
        "$.tags[].name: number where the original has string",
    ]


def test_open_optional_and_opaque_places_are_lenient_only_there() -> None:
    answer = ours()
    answer["node"] = {"url": "u", "epoch": 3}  # open: more keys are fine
    del answer["sometimes"]  # optional
    answer["theirs"] = None  # opaque
    assert problems(answer, EXAMPLE) == []
    answer["node"] = {"epoch": 3}  # but the example's keys must be there
    assert problems(answer, EXAMPLE) == ["$.node.url: missing (the original has it)"]


def test_json_types() -> None:
    assert [json_type(v) for v in (None, True, 1, 1.5, "s", [], {})] == [
        "null",
        "boolean",
        "number",
        "number",
        "string",
        "array",
        "object",
    ]
