"""Both deploy body shapes parse into the same model; bad bodies say what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests import wasmiot_bodies as bodies
from wasmfleet.core.deploy_doc import complete_from_description, parse_deployment
from wasmfleet.core.errors import InvalidDocument, InvalidMount, Unprocessable

README_FIBO = bodies.readme_fibo(
    "http://localhost:8000/wasm-binaries/wasm32-unknown-unknown/fibo.wasm",
    "http://localhost:8000/fibo/open-api-description.json",
)
ORCHESTRATOR_STAMP = bodies.orchestrator_stamp(
    "http://orch:3000/file/module/m1/wasm",
    "http://orch:3000/file/module/m1/description",
    "http://orch:3000/file/module/m1/prefix.txt",
    "6543ab",
    to={
        "url": "http://dev-b:5000/",
        "path": "/{deployment}/modules/count/lines",
        "method": "POST",
        "request": {"parameters": [], "request_body": {"encoding": {"text.txt": {}}}},
    },
    endpoint_url="http://dev-a:5000/",
)


def test_readme_shape() -> None:
    spec = parse_deployment(README_FIBO)
    assert spec.shape == "readme"
    assert spec.id == "0"
    assert spec.modules[0].name == "fiboMod"
    assert spec.modules[0].other == ()
    fibo = spec.function("fiboMod", "fibo")
    assert fibo is not None
    assert fibo.method == "GET"
    assert [p.name for p in fibo.params] == ["iterations"]
    assert fibo.response_media_type == "application/json"
    assert not fibo.returns_file
    assert fibo.to is None


def test_description_sha256_is_optional_and_read() -> None:
    assert parse_deployment(README_FIBO).modules[0].description_sha256 is None
    body = copy.deepcopy(README_FIBO)
    body["modules"][0]["description_sha256"] = "sha256:" + "AB" * 32
    assert parse_deployment(body).modules[0].description_sha256 == "ab" * 32


def test_orchestrator_shape() -> None:
    spec = parse_deployment(ORCHESTRATOR_STAMP)
    assert spec.shape == "orchestrator"
    stamp = spec.function("stamp", "stamp")
    assert stamp is not None
    assert stamp.method == "POST"
    assert [(m.name, m.stage) for m in stamp.mounts] == [
        ("prefix.txt", "deployment"),
        ("input.txt", "execution"),
        ("output.txt", "output"),
    ]
    assert stamp.returns_file
    assert spec.modules[0].other == (("prefix.txt", "http://orch:3000/file/module/m1/prefix.txt"),)
    assert stamp.to is not None
    assert stamp.to.url == "http://dev-b:5000/6543ab/modules/count/lines"
    assert stamp.to.method == "POST"
    assert stamp.to.file_mounts == ("text.txt",)


def test_other_as_list_names_files_after_the_url() -> None:
    body = copy.deepcopy(README_FIBO)
    body["modules"][0]["urls"]["other"] = ["http://h:8000/files/model.pb"]
    assert parse_deployment(body).modules[0].other == (
        ("model.pb", "http://h:8000/files/model.pb"),
    )


def test_integer_deployment_id_is_accepted() -> None:
    body = copy.deepcopy(README_FIBO)
    body["deploymentId"] = 7
    assert parse_deployment(body).id == "7"


def test_to_as_openapi_fragment() -> None:
    body = copy.deepcopy(README_FIBO)
    body["instructions"]["modules"]["fiboMod"]["fibo"]["to"] = {
        "servers": [{"url": "http://next:5000"}],
        "paths": {"/0/modules/sq/square": {"get": {"parameters": [{"name": "x", "in": "query"}]}}},
    }
    to = parse_deployment(body).functions[0].to
    assert to is not None
    assert to.url == "http://next:5000/0/modules/sq/square"
    assert [p.name for p in to.params] == ["x"]


def test_description_fills_functions_when_instructions_are_absent() -> None:
    body = copy.deepcopy(README_FIBO)
    del body["instructions"]
    spec = parse_deployment(body)
    assert spec.functions == ()
    description = {
        "paths": {
            "/{deployment}/modules/{module}/fibo": {
                "get": {
                    "parameters": [{"name": "iterations", "in": "query"}],
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {"type": "integer"}}}}
                    },
                    "x-mounts": [],
                }
            },
            "/{deployment}/modules/{module}/fibo/{file}": {"get": {}},
        }
    }
    spec = complete_from_description(spec, "fiboMod", description)
    assert [f.name for f in spec.functions] == ["fibo"]
    assert spec.functions[0].params[0].name == "iterations"


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(README_FIBO)
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


def _description_sha_without_url() -> dict[str, Any]:
    body = _broken(["modules", 0, "description_sha256"], "a" * 64)
    del body["modules"][0]["urls"]["description"]
    return body


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([1, 2], "JSON object"),
        (_broken(["deploymentId"], KeyError), "deploymentId"),
        (_broken(["deploymentId"], "../etc"), "not allowed"),
        (_broken(["modules"], []), "non-empty list"),
        (_broken(["modules", 0, "urls"], KeyError), "urls.binary"),
        (_broken(["modules", 0, "urls", "binary"], "ftp://x/y.wasm"), "http://"),
        (_broken(["modules", 0, "name"], "a/b"), "not allowed"),
        (_broken(["instructions", "modules", "fiboMod", "fibo", "paths"], {}), "exactly one"),
        (_broken(["instructions", "modules", "ghost"], {}), "not in 'modules'"),
        (_broken(["modules", 0, "sha256"], "abc"), "64-character"),
        (_broken(["modules", 0, "description_sha256"], "abc"), "description_sha256"),
        (_description_sha_without_url(), "urls.description is not"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: Any, words: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_deployment(body)
    assert words in err.value.message


def test_unsafe_mount_names_are_refused() -> None:
    body = copy.deepcopy(ORCHESTRATOR_STAMP)
    body["mounts"]["stamp"]["stamp"]["execution"][0]["path"] = "../../etc/passwd"
    with pytest.raises(InvalidMount):
        parse_deployment(body)


@pytest.mark.parametrize(
    "description",
    [
        [1, 2],
        {"paths": {"/{deployment}/modules/{module}/fibo": {"get": {"parameters": 5}}}},
        {"paths": {"/{deployment}/modules/{module}/fibo": {"get": {"x-mounts": [{"name": "a"}]}}}},
    ],
)
def test_unusable_descriptions_are_unprocessable(description: Any) -> None:
    body = copy.deepcopy(README_FIBO)
    del body["instructions"]
    with pytest.raises(Unprocessable, match="description of module 'fiboMod'"):
        complete_from_description(parse_deployment(body), "fiboMod", description)


@pytest.mark.parametrize("value", [5, "fibo", [1]])
def test_orchestrator_instructions_must_be_objects(value: Any) -> None:
    body = copy.deepcopy(ORCHESTRATOR_STAMP)
    body["instructions"]["modules"]["stamp"] = value
    with pytest.raises(InvalidDocument, match=r"instructions\.modules\.stamp"):
        parse_deployment(body)


def test_orchestrator_endpoints_must_name_deployed_modules() -> None:
    body = copy.deepcopy(ORCHESTRATOR_STAMP)
    body["endpoints"]["ghost"] = body["endpoints"]["stamp"]
    with pytest.raises(InvalidDocument, match="'endpoints' names module 'ghost'"):
        parse_deployment(body)


def test_epoch_and_fencing_are_optional() -> None:
    spec = parse_deployment(README_FIBO)
    assert (spec.epoch, spec.lease_s, spec.stateful) == (0, 0.0, frozenset())
    body = copy.deepcopy(README_FIBO)
    body.update(epoch=None, fencing=None)
    assert parse_deployment(body).epoch == 0


@pytest.mark.parametrize("base", [README_FIBO, ORCHESTRATOR_STAMP], ids=["readme", "orchestrator"])
def test_epoch_and_fencing_parse_in_both_shapes(base: dict[str, Any]) -> None:
    body = copy.deepcopy(base)
    module = body["modules"][0]["name"]
    body["epoch"] = 7
    body["fencing"] = {
        "lease_s": 2,
        "stateful": [
            {"module": module, "function": "a"},
            {"module": module, "function": "b"},
            {"module": module, "function": "a"},
        ],
    }
    spec = parse_deployment(body)
    assert spec.epoch == 7
    assert spec.lease_s == 2.0 and isinstance(spec.lease_s, float)
    assert spec.stateful == frozenset({(module, "a"), (module, "b")})


def test_fencing_without_stateful_functions() -> None:
    body = copy.deepcopy(README_FIBO)
    body["fencing"] = {"lease_s": 0.75}
    spec = parse_deployment(body)
    assert (spec.lease_s, spec.stateful) == (0.75, frozenset())


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("epoch", "3", "'epoch' must be a whole number >= 0"),
        ("epoch", True, "'epoch' must be a whole number >= 0"),
        ("epoch", -1, "'epoch' must be a whole number >= 0"),
        ("epoch", 1.5, "'epoch' must be a whole number >= 0"),
        ("epoch", 2**64, "'epoch' must be a whole number >= 0"),
        ("fencing", [1], "'fencing' must be an object"),
        ("fencing", {"lease_s": "1s"}, "'fencing.lease_s' must be a number of seconds"),
        ("fencing", {"lease_s": True}, "'fencing.lease_s' must be a number of seconds"),
        ("fencing", {"lease_s": float("nan")}, "'fencing.lease_s' must be a number of seconds"),
        ("fencing", {"lease_s": -0.5}, "'fencing.lease_s' must be 0 or more seconds"),
        ("fencing", {"stateful": "fiboMod.fibo"}, "'fencing.stateful' must be a list"),
        ("fencing", {"stateful": ["fiboMod.fibo"]}, "fencing.stateful[0] must be an object"),
        ("fencing", {"stateful": [{"module": "fiboMod"}]}, "fencing.stateful[0].function"),
        ("fencing", {"stateful": [{"module": 3, "function": "f"}]}, "fencing.stateful[0].module"),
    ],
)
def test_bad_epoch_and_fencing_say_what_is_wrong(field: str, value: Any, words: str) -> None:
    body = copy.deepcopy(README_FIBO)
    body[field] = value
    with pytest.raises(InvalidDocument) as err:
        parse_deployment(body)
    assert err.value.status == 400
    assert words in err.value.message
    assert err.value.message.endswith(".")


def test_triggers_and_publish_in_both_shapes() -> None:
    from wasmfleet.core.models import Publication, Trigger

    readme = copy.deepcopy(README_FIBO)
    instr = readme["instructions"]["modules"]["fiboMod"]["fibo"]
    instr["trigger"] = {"topic": "numbers/+", "qos": 0}
    instr["publish"] = "fibo/out"
    fibo = parse_deployment(readme).function("fiboMod", "fibo")
    assert fibo is not None
    assert fibo.trigger == Trigger("numbers/+", 0)
    assert fibo.publish == Publication("fibo/out", 1, retain=False)

    orchestrator = copy.deepcopy(ORCHESTRATOR_STAMP)
    instr = orchestrator["instructions"]["modules"]["stamp"]["stamp"]
    instr["trigger"] = "text/#"
    instr["publish"] = {"topic": "text/stamped", "qos": 2, "retain": True}
    stamp = parse_deployment(orchestrator).function("stamp", "stamp")
    assert stamp is not None and stamp.to is not None  # "to" is still read
    assert stamp.trigger == Trigger("text/#", 1)
    assert stamp.publish == Publication("text/stamped", 2, retain=True)
    plain = parse_deployment(ORCHESTRATOR_STAMP).function("stamp", "stamp")
    assert plain is not None and plain.trigger is None and plain.publish is None


def test_triggers_survive_completion_from_the_description() -> None:
    readme = copy.deepcopy(README_FIBO)
    readme["instructions"]["modules"]["fiboMod"]["fibo"]["trigger"] = "n/+"
    spec = parse_deployment(readme)
    description = {"paths": {"/{deployment}/modules/{module}/fibo": {"get": {}}}}
    completed = complete_from_description(spec, "fiboMod", description)
    fibo = completed.function("fiboMod", "fibo")
    assert fibo is not None and fibo.trigger is not None and fibo.trigger.topic == "n/+"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "trigger",
            {"topic": "a/#/b"},
            "instructions.modules.fiboMod.fibo.trigger.topic 'a/#/b': '#' must be the last",
        ),
        ("trigger", 7, "instructions.modules.fiboMod.fibo.trigger must be an object like"),
        ("trigger", {"topic": "a", "qos": "1"}, "instructions.modules.fiboMod.fibo.trigger.qos"),
        ("publish", {"topic": "a/#"}, "instructions.modules.fiboMod.fibo.publish.topic 'a/#'"),
        ("publish", {"topic": "a", "retain": 1}, "instructions.modules.fiboMod.fibo.publish.ret"),
        ("publish", {"topic": "a", "extra": 1}, "instructions.modules.fiboMod.fibo.publish has"),
    ],
)
def test_bad_topics_are_400_sentences(key: str, value: Any, message: str) -> None:
    body = copy.deepcopy(README_FIBO)
    body["instructions"]["modules"]["fiboMod"]["fibo"][key] = value
    with pytest.raises(InvalidDocument) as info:
        parse_deployment(body)
    assert info.value.message.startswith(message), info.value.message


def test_bridges_parse_and_allow_a_document_without_modules() -> None:
    from wasmfleet.core.models import BridgeRoute, BridgeSpec

    entry = {"name": "d-0", "from": None, "to": "mqtt://c:1884", "topics": ["a/#"], "qos": 1}
    spec = parse_deployment({"deploymentId": "d", "bridges": [entry]})
    assert spec.modules == () and spec.functions == ()
    assert spec.bridges == (BridgeSpec("d-0", BridgeRoute("mqtt://c:1884", ("a/#",))),)
    both = parse_deployment({**copy.deepcopy(README_FIBO), "bridges": [entry]})
    assert both.bridges == spec.bridges and both.modules
    assert parse_deployment(README_FIBO).bridges == ()
    for empty in ([], None):  # no bridges: modules stay required
        with pytest.raises(InvalidDocument, match="non-empty list"):
            parse_deployment({"deploymentId": "d", "modules": [], "bridges": empty})


@pytest.mark.parametrize(
    ("bridges", "message"),
    [
        ({"name": "x"}, "'bridges' must be a list like"),
        (["x"], "bridges[0] must be an object with name, to and topics."),
        ([{"to": "c", "topics": ["a"]}], "bridges[0].name must be a non-empty string"),
        ([{"name": "../x", "to": "c", "topics": ["a"]}], "bridges[0].name '../x' is not allowed"),
        ([{"name": "x", "topics": ["a"]}], "bridges[0].to must be the broker URL"),
        ([{"name": "x", "to": "c"}], "bridges[0].topics must be a topic filter"),
        ([{"name": "x", "to": "c", "topics": ["#/a"]}], "bridges[0].topics[0] '#/a'"),
        ([{"name": "x", "to": "ws://c", "topics": ["a"]}], "bridges[0].to 'ws://c' has scheme"),
        ([{"name": "x", "to": "c", "topics": ["a"], "qos": 2}], "bridges[0].qos must be 1"),
        ([{"name": "x", "to": "c", "topic": ["a"]}], "bridges[0] has unknown key(s) 'topic'"),
        (
            [{"name": "x", "to": "c", "topics": ["a"]}, {"name": "x", "to": "d", "topics": ["a"]}],
            "bridges[1].name 'x' appears twice",
        ),
    ],
)
def test_bad_bridges_say_what_is_wrong(bridges: Any, message: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_deployment({"deploymentId": "d", "bridges": bridges})
    assert err.value.message.startswith(message), err.value.message
