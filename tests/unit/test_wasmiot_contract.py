"""Contract with the ORIGINAL wasmiot supervisor, checked against answers recorded from it.

The fixtures in tests/data/wasmiot-supervisor/ were recorded from real runs of the original
(commit bd31c95) by tests/wasmiot_record.py; this file needs neither it nor a network:

- the document our orchestrator builds for an original device is exactly the one it took;
- ``tests/wasmiot_parser.py`` (what the original parses, as data) agrees with what it
  refused, and then finds nothing to refuse in the documents of every example module;
- its deploy answers, call answers and request-history entries read as they should.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.wasmiot_parser import problems
from wasmfleet.core.deploy_plan import PlannedStep, device_documents
from wasmfleet.core.describe import ExportInfo, describe_module
from wasmfleet.core.dialect import (
    Dialect,
    dialect_of,
    passed_on,
    wasmiot_deploy_error,
    with_step_result,
)
from wasmfleet.core.openapi import description_operations
from wasmfleet.core.protocol import read_answer, read_entry
from wasmfleet.orchestrator.documents import planned_step
from wasmfleet.orchestrator.store import ModuleRecord

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "wasmiot-supervisor"
SCENARIOS = sorted(p.stem for p in DATA.glob("*.json") if p.stem != "refusals")


@cache
def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


def exchange(fx: dict[str, Any], device: str, method: str, path: str) -> dict[str, Any]:
    """The one recorded exchange of ``device`` with this method whose path contains ``path``."""
    (found,) = [
        e
        for e in fx["exchanges"]
        if e["device"] == device
        and e["request"]["method"] == method
        and path in e["request"]["path"]
    ]
    return found


def rebuilt(fx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The documents our orchestrator builds today from the recorded plan, modules, devices."""
    modules = {
        m["id"]: ModuleRecord(
            name=m["name"],
            sha256=m["sha256"],
            size=0,
            id=m["id"],
            description=m["description"],
            data_files=m["data_files"],
        )
        for m in fx["modules"].values()
    }
    urls = {name: d["url"] for name, d in fx["devices"].items()}
    dialects = {name: dialect_of(d["description"]) for name, d in fx["devices"].items()}
    deployment = fx["deployment"]
    steps = [
        planned_step(step, modules[step["module_id"]], urls[step["device"]], fx["orchestrator"], {})
        for step in deployment["plan"]["steps"]
    ]
    return device_documents(
        deployment["id"], steps, epoch=deployment["epoch"], lease_s=1.5, dialects=dialects
    )


def test_the_fixtures_were_recorded_from_the_original() -> None:
    assert SCENARIOS == [
        "camera-to-wasmfleet",
        "fibo",
        "fibo-to-wasmfleet",
        "number",
        "void",
        "wasmfleet-camera-to-imginfo",
        "wasmfleet-to-fibo",
    ]
    for name in [*SCENARIOS, "refusals"]:
        assert fixture(name)["recorded_with"]["wasmiot_supervisor_commit"] == "bd31c95"


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_devices_are_told_apart_by_their_descriptions(name: str) -> None:
    devices = fixture(name)["devices"]
    assert dialect_of(devices["orig"]["description"]) is Dialect.WASMIOT
    assert dialect_of(devices["ours"]["description"]) is Dialect.WASMFLEET


@pytest.mark.parametrize("name", SCENARIOS)
def test_our_document_for_the_original_is_the_one_it_accepted(name: str) -> None:
    fx = fixture(name)
    deployed = exchange(fx, "orig", "POST", "/deploy")
    assert deployed["response"] == {
        "status": 200,
        "content_type": "application/json",
        "body": {"status": "success"},
    }
    accepted = deployed["request"]["body"]
    assert rebuilt(fx)["orig"] == accepted
    assert problems(accepted) == []
    assert wasmiot_deploy_error(200, deployed["response"]["body"], "") is None
    # none of wasmfleet's own keys or values reach it
    text = json.dumps(accepted)
    for wasmfleet_only in ('"epoch"', '"fencing"', '"bridges"', '"sha256"', '"format": "int'):
        assert wasmfleet_only not in text


@pytest.mark.parametrize("name", [n for n in SCENARIOS if "wasmfleet" in n])
def test_the_wasmfleet_supervisor_still_gets_the_full_document(name: str) -> None:
    fx = fixture(name)
    sent = exchange(fx, "ours", "POST", "/deploy")["request"]["body"]
    assert sent["epoch"] == fx["deployment"]["epoch"] and "fencing" in sent
    assert all("sha256" in m for m in sent["modules"])
    assert rebuilt(fx)["ours"]["endpoints"] == sent["endpoints"]


REFUSED = {
    "fibo-openapi.fibo in the wasmfleet dialect": (
        "500: ValueError: 'int64' is not a valid SchemaFormat",
        "endpoints.fibo-openapi.fibo.response.schema.format 'int64' is not a SchemaFormat",
    ),
    "imginfo-openapi.pixels in the wasmfleet dialect": (
        "500: TypeError: Schema.__init__() got an unexpected keyword argument 'required'",
        "endpoints.imginfo-openapi.pixels.request.request_body.schema has key 'required'",
    ),
    "probe.half in the wasmfleet dialect": (
        "500: ValueError: 'number' is not a valid SchemaType",
        "endpoints.probe.half.response.schema.type 'number' is not a SchemaType",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_the_parser_model_refuses_what_the_original_refused(case: str) -> None:
    recorded = fixture("refusals")["refused"][case]
    answer = recorded["response"]
    said, problem = REFUSED[case]
    assert wasmiot_deploy_error(answer["status"], answer["body"], answer["body"]["text"]) == said
    assert problem in problems(recorded["request"]["body"])


def test_a_to_must_name_its_method_in_lower_case() -> None:
    # It takes the document, then fails when it forwards: requests.GET does not exist.
    deployed, called, entry = fixture("refusals")["at_call"]["a to with an upper-case method"]
    assert deployed["response"]["body"] == {"status": "success"}
    assert called["response"]["status"] == 200
    assert entry["response"]["status"] == 500
    assert entry["response"]["body"]["result"] == "module 'requests' has no attribute 'GET'"
    assert problems(deployed["request"]["body"]) == [
        "instructions.modules.fibo.fibo.to.method 'GET' is not a requests function"
    ]


def test_an_unfetchable_module_is_read_as_a_failure() -> None:
    recorded = fixture("refusals")["refused"]["a module it cannot fetch"]
    answer = recorded["response"]
    assert problems(recorded["request"]["body"]) == []  # it parses: the fetch fails
    assert wasmiot_deploy_error(answer["status"], answer["body"], answer["body"]["text"]) == (
        "500: TypeError: Object of type Response is not JSON serializable"
    )


def test_other_refusals_are_read_too() -> None:
    # Its other answers (from its source): an empty body, and an error object.
    assert wasmiot_deploy_error(200, {"message": "No modules listed"}, "") == (
        "200: No modules listed"
    )
    body = {"status": "error", "result": "1 fetch failures", "errors": []}
    assert wasmiot_deploy_error(500, body, "") == "500: 1 fetch failures"
    assert wasmiot_deploy_error(502, None, "") == "502: the deployment was not taken"


def _committed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPO / "modules" / name / "description.json").read_text())
    return data


COMMITTED = sorted(p.parent.name for p in (REPO / "modules").glob("*/description.json"))


@pytest.mark.parametrize("module", COMMITTED)
def test_every_example_function_makes_a_document_the_original_parses(module: str) -> None:
    # Stored as the orchestrator stores it (form (c): the committed OpenAPI, formats and all).
    operations = description_operations(_committed(module))
    exports = {f: ExportInfo(f, ("i32",) * 8, ("i32",)) for f in operations}
    description = describe_module(module, _committed(module), exports, {"x"} | _data(module))

    def step(index: int, function: str, device: str) -> PlannedStep:
        base = f"http://orch/file/module/m-{module}"
        return PlannedStep(
            index=index,
            module_id=f"m-{module}",
            module_name=module,
            function=function,
            device=device,
            device_url=f"http://{device}:5000",
            binary_url=f"{base}/wasm",
            description_url=f"{base}/description",
            description=description,
            data_files={name: f"{base}/{name}" for name in _data(module)},
            sha256="a" * 64,
        )

    for function in operations:
        # ours -> orig -> ours: the original's own endpoint, its from and its to
        steps = [step(0, function, "ours"), step(1, function, "orig"), step(2, function, "ours2")]
        docs = device_documents(
            "dep", steps, epoch=3, lease_s=1.5, dialects={"orig": Dialect.WASMIOT}
        )
        assert problems(docs["orig"]) == [], function
        assert "epoch" in docs["ours"] and "epoch" not in docs["orig"]


def _data(module: str) -> set[str]:
    return {
        p.name for p in (REPO / "modules" / module).iterdir() if p.suffix not in (".c", ".wasm")
    } - {"description.json", "README.md"}


# -- its answers and history entries ------------------------------------------------------


def _entry(fx: dict[str, Any], device: str, function: str) -> dict[str, Any]:
    found = exchange(fx, device, "GET", f":{function}:1")
    assert found["response"]["status"] == 200
    body: dict[str, Any] = found["response"]["body"]
    return body


def _function_url(fx: dict[str, Any], device: str, module: str, function: str) -> str:
    endpoint = rebuilt(fx)[device]["endpoints"][module][function]
    return f"{endpoint['url']}{endpoint['path']}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_its_call_answer_points_at_its_entry(name: str) -> None:
    fx = fixture(name)
    called = next(  # the orchestrator's call (the recorder's own bad call comes after it)
        e
        for e in fx["exchanges"]
        if e["device"] == "orig"
        and "/modules/" in e["request"]["path"]
        and e["request"]["user_agent"].startswith("python-httpx")
    )
    body = called["response"]["body"]
    assert called["response"]["status"] == 200 and set(body) == {"resultUrl"}
    answer = read_answer(200, body)
    assert answer.ok and answer.result is None
    assert answer.result_url is not None and "/request-history/" in answer.result_url


@pytest.mark.parametrize(
    ("name", "module", "function", "output", "own"),
    [
        ("fibo", "fibo", "fibo", None, "13"),
        ("number", "probe", "half", None, "3.5"),
        ("void", "probe", "nothing", None, "null"),
        ("wasmfleet-to-fibo", "fibo", "fibo", None, "233"),
        ("wasmfleet-camera-to-imginfo", "imginfo", "pixels", None, "76800"),
    ],
)
def test_an_entry_that_did_not_chain_gives_the_value(
    name: str, module: str, function: str, output: str | None, own: str
) -> None:
    fx = fixture(name)
    raw = _entry(fx, "orig", function)
    assert raw["result"][0] == own and raw["result"][1] is None  # [json_text, files]
    assert "step_result" not in raw  # not a wasmfleet entry
    read = with_step_result(raw, _function_url(fx, "orig", module, function), output)
    entry = read_entry(read)
    assert entry.success and entry.own_result == own and entry.result == own
    assert entry.next_url is None


@pytest.mark.parametrize(
    ("name", "module", "function", "output", "passed"),
    [
        ("fibo-to-wasmfleet", "fibo", "fibo", None, "13"),
        ("camera-to-wasmfleet", "camera", "take_image", "image.jpeg", None),
    ],
)
def test_an_entry_that_chained_points_at_the_next_one(
    name: str, module: str, function: str, output: str | None, passed: str | None
) -> None:
    fx = fixture(name)
    raw = _entry(fx, "orig", function)
    url = _function_url(fx, "orig", module, function)
    entry = read_entry(with_step_result(raw, url, output))
    following = exchange(fx, "ours", "GET", "/request-history/")
    assert entry.success and entry.next_url is not None
    assert entry.next_url.endswith(following["request"]["path"])
    if output is None:  # it records no value: the next step's arguments show it
        assert entry.own_result is None
        assert passed_on(following["response"]["body"]) == passed
    else:  # its output file, which it serves under the function's URL
        assert entry.own_result == f"{url}/{output}"


def test_a_failed_entry_comes_with_500_and_reads_as_a_failure() -> None:
    bad = fixture("fibo")["execution"]["bad_argument"]
    assert bad["status"] == 500
    entry = read_entry(with_step_result(bad["entry"], "http://orig/d/modules/fibo/fibo", None))
    assert not entry.success
    assert entry.result == "invalid literal for int() with base 10: 'x'"


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_recorded_execution_shows_each_step(name: str) -> None:
    # What `wasmfleet exec` printed while recording (replayed by current code in
    # tests/integration/test_wasmiot_replay.py).
    fx = fixture(name)
    body = fx["execution"]["body"]
    assert fx["execution"]["status"] == 200 and body["success"]
    devices = [s["device"] for s in body["steps"]]
    assert devices == [s["device"] for s in fx["deployment"]["plan"]["steps"]]
    assert all(s["result"] is not None for s in body["steps"])
