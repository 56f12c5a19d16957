"""core.manifest: wasmiot and wasmfleet manifests parse to one Manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.manifest import (
    SCORERS,
    STRATEGIES,
    Manifest,
    ManifestStep,
    parse_manifest,
    parse_manifest_text,
)
from wasmfleet.core.placement import model as placement_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FULL = """
name: face-pipeline
strategy: spread
scorer: least_allocated
steps:
  - module: camera
    function: take_image
    device: cam-gw
    labels: {location: lab, floor: 2, outdoor: false}
    resources:
      cpu: [500, 100]
      memory: 64Mi
      accelerator: 50
    strategy: pack
  - module: imginfo
    func: pixels
    resources:
      cpu: 250m
      memory: 1Gi
"""


def test_names_match_the_placement_package() -> None:
    assert STRATEGIES == placement_model.STRATEGIES
    assert SCORERS == placement_model.SCORERS


def test_full_wasmfleet_yaml() -> None:
    manifest = parse_manifest_text(FULL)
    assert manifest == Manifest(
        name="face-pipeline",
        strategy="spread",
        scorer="least_allocated",
        shape="wasmfleet",
        steps=(
            ManifestStep(
                module="camera",
                function="take_image",
                device="cam-gw",
                labels={"floor": "2", "location": "lab", "outdoor": "false"},
                cpu=(500, 100),
                memory_mb=64,
                accelerator_pct=50,
                strategy="pack",
            ),
            ManifestStep(module="imginfo", function="pixels", cpu=(250,), memory_mb=1024),
        ),
    )
    assert hash(manifest) == hash(parse_manifest_text(FULL))


def test_wasmiot_sequence() -> None:
    manifest = parse_manifest(
        {
            "name": "fib-pipe",
            "sequence": [
                {"device": None, "module": "fibo", "func": "fibo"},
                {"module": "0123abc", "func": "count"},
                {"device": "", "module": "m", "func": "a"},
                {"device": "dev-1", "module": "m", "func": "b"},
            ],
            "_id": "ignored",
        }
    )
    assert manifest.shape == "wasmiot"
    assert [s.device for s in manifest.steps] == [None, None, None, "dev-1"]
    assert [(s.module, s.function) for s in manifest.steps] == [
        ("fibo", "fibo"),
        ("0123abc", "count"),
        ("m", "a"),
        ("m", "b"),
    ]
    assert manifest.strategy is None and manifest.scorer is None
    assert manifest.to_dict() == {
        "name": "fib-pipe",
        "steps": [
            {"module": "fibo", "function": "fibo"},
            {"module": "0123abc", "function": "count"},
            {"module": "m", "function": "a"},
            {"module": "m", "function": "b", "device": "dev-1"},
        ],
    }


@pytest.mark.parametrize(
    "path", sorted([*EXAMPLES.glob("*.yaml"), *EXAMPLES.glob("*.json")]), ids=lambda p: p.name
)
def test_example_manifests_parse(path: Path) -> None:
    manifest = parse_manifest_text(path.read_text(encoding="utf-8"))
    assert manifest.steps
    assert manifest.warnings == ()  # the examples use today's (Kubernetes) spellings
    if path.suffix == ".json":
        assert manifest == parse_manifest(json.loads(path.read_text(encoding="utf-8")))


def test_to_dict_round_trips_and_is_json() -> None:
    manifest = parse_manifest_text(FULL)
    doc = manifest.to_dict()
    assert json.loads(json.dumps(doc)) == doc
    assert parse_manifest(doc) == manifest
    assert doc["steps"][0] == {
        "module": "camera",
        "function": "take_image",
        "device": "cam-gw",
        "labels": {"floor": "2", "location": "lab", "outdoor": "false"},
        "resources": {"cpu": [500, 100], "memory_mb": 64, "accelerator_pct": 50},
        "strategy": "pack",
    }
    wasmiot = parse_manifest({"name": "p", "sequence": [{"module": "m", "func": "f"}]})
    assert parse_manifest(wasmiot.to_dict()) == dataclasses.replace(wasmiot, shape="wasmfleet")


@pytest.mark.parametrize(
    ("resources", "cpu", "memory", "accel"),
    [
        ({"cpu": 1}, (1000,), 0, 0),
        ({"cpu": "2"}, (1000, 1000), 0, 0),
        ({"cpu": 0.5}, (500,), 0, 0),
        ({"cpu": 2.5}, (1000, 1000, 500), 0, 0),
        ({"cpu": "500m"}, (500,), 0, 0),
        ({"cpu": 0}, (), 0, 0),
        ({"cpu": [1000, "250m", 1]}, (1000, 250, 1), 0, 0),
        ({"cpu": []}, (), 0, 0),
        ({"memory": "64Mi"}, (), 64, 0),
        ({"memory": "64M"}, (), 62, 0),  # 64 x 10^6 bytes, rounded up to whole MiB
        ({"memory": "512MiB"}, (), 512, 0),
        ({"memory": "1G"}, (), 954, 0),
        ({"memory": "1.5Gi"}, (), 1536, 0),
        ({"memory": "104857600"}, (), 100, 0),
        ({"memory": "1536Ki"}, (), 2, 0),
        ({"memory": "1e9"}, (), 954, 0),
        ({"memory": 0}, (), 0, 0),
        ({"memory_mb": "64"}, (), 64, 0),
        ({"memory_mb": 64, "accelerator_pct": 100}, (), 64, 100),
        ({"accelerator": "25%"}, (), 0, 25),
        (None, (), 0, 0),
    ],
)
def test_resource_forms(resources: Any, cpu: tuple[int, ...], memory: int, accel: int) -> None:
    step = parse_manifest(
        {"name": "p", "steps": [{"module": "m", "function": "f", "resources": resources}]}
    ).steps[0]
    assert (step.cpu, step.memory_mb, step.accelerator_pct) == (cpu, memory, accel)


def step_doc(**step: Any) -> dict[str, Any]:
    return {"name": "p", "steps": [{"module": "m", "function": "f", **step}]}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be an object with 'name' and 'steps'"),
        ({"steps": [{"module": "m", "function": "f"}]}, "no 'name'"),
        ({"name": "a/b", "steps": []}, "is not allowed"),
        ({"name": "p"}, "has no 'steps'"),
        ({"name": "p", "steps": []}, "'steps' must be a non-empty list"),
        ({"name": "p", "steps": "fibo"}, "'steps' must be a non-empty list"),
        ({"name": "p", "steps": [], "sequence": []}, "both 'steps'"),
        ({"name": "p", "stratgy": "x", "steps": []}, "unknown key(s) 'stratgy'"),
        ({"name": "p", "steps": ["fibo"]}, "steps[0] must be an object"),
        ({"name": "p", "steps": [{"function": "f"}]}, "steps[0].module must name a module"),
        ({"name": "p", "steps": [{"module": "m"}]}, "steps[0].func must name a function"),
        (step_doc(function="a/b"), "steps[0].function 'a/b' is not allowed"),
        (step_doc(fucntion="f"), "steps[0] has unknown key(s) 'fucntion'; the allowed keys are: "),
        (step_doc(func="g"), "gives both 'function' and 'func'"),
        (step_doc(device=["a"]), "steps[0].device must be a device id or name"),
        (step_doc(labels=["a"]), "steps[0].labels must be an object"),
        (step_doc(labels={"a": {"b": 1}}), "steps[0].labels.a must be a string"),
        (step_doc(strategy="random"), "steps[0].strategy must be one of first, spread, pack"),
        ({**step_doc(), "scorer": "best"}, "scorer must be one of least_allocated, balanced, rohe"),
        ({**step_doc(), "strategy": "x"}, "strategy must be one of first, spread, pack"),
        (step_doc(resources=[1]), "steps[0].resources must be an object"),
        (step_doc(resources={"gpu": 1}), "steps[0].resources has unknown key(s) 'gpu'"),
        (step_doc(resources={"cpu": [0]}), "each entry must be 1 .. 1000000"),
        (step_doc(resources={"cpu": [1_000_001]}), "each entry must be 1 .. 1000000"),
        (step_doc(resources={"cpu": [1] * 1025}), "at most 1024"),
        (step_doc(resources={"cpu": 1025}), "asks 1025 cores; at most 1024"),
        (step_doc(resources={"cpu": -1}), "cannot be negative"),
        (step_doc(resources={"cpu": [0.5]}), "steps[0].resources.cpu[0] must be millicores"),
        (step_doc(resources={"cpu": True}), 'must be cores (1, 0.5, "2"), millicores'),
        (step_doc(resources={"cpu": "1.5 cores"}), 'must be cores (1, 0.5, "2"), millicores'),
        (step_doc(resources={"memory": -1}), "cannot be negative"),
        (step_doc(resources={"memory": "lots"}), "steps[0].resources.memory must be bytes"),
        (step_doc(resources={"memory": "64B"}), "must be bytes as a Kubernetes quantity"),
        (step_doc(resources={"memory": "64PB"}), "write 64Pi"),
        (step_doc(resources={"memory": 64}), "write 64Mi for 64 MiB"),
        (step_doc(resources={"memory_mb": "x"}), "memory_mb must be a whole number of MiB"),
        (step_doc(resources={"memory_mb": "64M"}), "write memory: 64Mi"),
        (step_doc(resources={"memory": 1, "memory_mb": 1}), "both 'memory' and 'memory_mb'"),
        (step_doc(resources={"accelerator": 101}), "0 .. 100"),
        (step_doc(resources={"accelerator": -1}), "0 .. 100"),
        (step_doc(resources={"accelerator": 1.5}), "0 .. 100"),
        (step_doc(failovers={"a": 1}), "steps[0].failovers must be a list of device"),
        (step_doc(failovers=["a", ""]), "steps[0].failovers[1] is empty"),
        (step_doc(failovers=[["a"]]), "steps[0].failovers[0] must be a device id or name"),
        (step_doc(stateful="yes"), "steps[0].stateful must be true or false"),
        ({"name": "p", "sequence": [{"module": "m", "func": ""}]}, "sequence[0].func must"),
        ({"name": "p", "sequence": [{"module": "m", "func": "f", "device": 1.5}]}, "device"),
    ],
)
def test_invalid_manifests_say_what_to_change(doc: Any, message: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_manifest(doc)
    assert message in str(err.value)
    assert err.value.status == 400


def test_cpu_message_names_the_field_path() -> None:
    doc = {
        "name": "p",
        "steps": [
            {"module": "a", "function": "f"},
            {"module": "b", "function": "f", "resources": {"cpu": "lots"}},
        ],
    }
    with pytest.raises(InvalidDocument) as err:
        parse_manifest(doc)
    assert str(err.value) == (
        'steps[1].resources.cpu must be cores (1, 0.5, "2"), millicores ("500m") or '
        "millicores per core ([500, 100]), got 'lots'."
    )


def test_a_module_function_may_repeat_in_several_steps() -> None:
    # As in the wasmiot orchestrator: placement puts them on different devices.
    steps = [
        {"module": "camera", "function": "take_image"},
        {"module": "imginfo", "function": "pixels"},
        {"module": "camera", "func": "take_image", "device": "other"},
    ]
    manifest = parse_manifest({"name": "p", "steps": steps})
    assert [s.label for s in manifest.steps] == [
        "camera.take_image",
        "imginfo.pixels",
        "camera.take_image",
    ]
    assert manifest.steps[2].device == "other"
    assert parse_manifest(manifest.to_dict()) == manifest
    sequence = [{"module": "m", "func": "f"}, {"module": "m", "func": "f", "device": "d"}]
    wasmiot = parse_manifest({"name": "p", "sequence": sequence})
    assert [(s.module, s.function, s.device) for s in wasmiot.steps] == [
        ("m", "f", None),
        ("m", "f", "d"),
    ]


def test_unparsable_text_names_the_line() -> None:
    text = "name: p\nsteps:\n  - module: m\n    function: [f\n"
    with pytest.raises(InvalidDocument) as err:
        parse_manifest_text(text)
    assert "not valid YAML or JSON" in str(err.value)
    assert "line 5" in str(err.value)
    with pytest.raises(InvalidDocument, match=r"line 1, column \d+"):
        parse_manifest_text('{"name": "p", "steps": [}')


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidDocument, match="empty"):
        parse_manifest_text(text)


def test_json_text_is_accepted() -> None:
    text = json.dumps({"name": "p", "steps": [{"module": "m", "function": "f", "device": 7}]})
    assert parse_manifest_text(text).steps[0].device == "7"


def test_failovers_and_stateful_round_trip() -> None:
    manifest = parse_manifest(
        step_doc(failovers=["edge-box", "cloud-vm", "edge-box"], stateful=True)
    )
    step = manifest.steps[0]
    assert step.failovers == ("edge-box", "cloud-vm")
    assert step.stateful is True
    assert parse_manifest(manifest.to_dict()) == manifest
    assert parse_manifest(step_doc(failovers="edge-box")).steps[0].failovers == ("edge-box",)
    plain = parse_manifest(step_doc())
    assert plain.steps[0].failovers == () and plain.steps[0].stateful is False
    assert "failovers" not in plain.to_dict()["steps"][0]


STREAMS = """
name: thermo-pipe
steps:
  - module: thermo
    function: check
    trigger: {topic: "site/+/temperature", qos: 2}
    publish: {topic: alerts/temperature, retain: true}
    stateful: true
    failovers: [edge-b]
  - module: thermo
    function: celsius
    trigger: "alerts/#"
    publish: final/celsius
"""


def test_trigger_and_publish_steps() -> None:
    from wasmfleet.core.models import Publication, Trigger

    manifest = parse_manifest_text(STREAMS)
    check, celsius = manifest.steps
    assert check.trigger == Trigger("site/+/temperature", 2)
    assert check.publish == Publication("alerts/temperature", 1, retain=True)
    assert check.stateful and check.failovers == ("edge-b",)
    assert celsius.trigger == Trigger("alerts/#", 1)  # a bare string: QoS 1
    assert celsius.publish == Publication("final/celsius", 1, retain=False)
    doc = manifest.to_dict()
    assert doc["steps"][0]["trigger"] == {"topic": "site/+/temperature", "qos": 2}
    assert doc["steps"][0]["publish"] == {
        "topic": "alerts/temperature",
        "qos": 1,
        "retain": True,
    }
    assert doc["steps"][1]["trigger"] == {"topic": "alerts/#", "qos": 1}
    assert json.loads(json.dumps(doc)) == doc
    assert parse_manifest(doc) == manifest


def _step_with(**keys: Any) -> dict[str, Any]:
    return {"name": "p", "steps": [{"module": "thermo", "function": "check", **keys}]}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"trigger": {"topic": "a/#/b"}},
            "steps[0].trigger.topic 'a/#/b': '#' must be the last level (e.g. 'site/#'), "
            "but level 2 of 3 is '#'.",
        ),
        ({"trigger": {"topic": "a/b+"}}, "steps[0].trigger.topic 'a/b+': '+' must be a whole"),
        ({"trigger": {"topic": ""}}, "steps[0].trigger.topic must be a non-empty string"),
        ({"trigger": {"qos": 1}}, "steps[0].trigger has no 'topic'"),
        ({"trigger": {"topic": "a", "qos": 3}}, "steps[0].trigger.qos must be 0 (at most once)"),
        ({"trigger": {"topic": "a", "qos": True}}, "steps[0].trigger.qos must be 0"),
        ({"trigger": {"topic": "a", "qos": 1.0}}, "steps[0].trigger.qos must be 0"),
        ({"trigger": {"topic": "a", "retain": True}}, "steps[0].trigger has unknown key(s)"),
        ({"trigger": ["a"]}, "steps[0].trigger must be an object like"),
        ({"publish": {"topic": "alerts/+"}}, "steps[0].publish.topic 'alerts/+' contains a wild"),
        ({"publish": {"topic": "a", "retain": "yes"}}, "steps[0].publish.retain must be true"),
        ({"publish": {"topic": "a", "qos": -1}}, "steps[0].publish.qos must be 0"),
        (
            {"trigger": "site/#", "publish": "site/alerts"},
            "steps[0].publish.topic 'site/alerts' matches the step's own trigger 'site/#'",
        ),
    ],
)
def test_bad_trigger_or_publish_names_the_field(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_manifest(_step_with(**keys))
    assert info.value.message.startswith(message), info.value.message
    assert info.value.status == 400


def test_wasmiot_sequence_ignores_topics() -> None:
    manifest = parse_manifest(
        {"name": "p", "sequence": [{"module": "m", "func": "f", "trigger": "a/#/b"}]}
    )
    assert manifest.steps[0].trigger is None


BRIDGES = """
name: uplink
steps:
  - bridge:
      to: mqtt://gw:secret@cloud.example:1884
      topic: "crops/#"
    labels: {role: gateway}
    failovers: [gw-2]
  - module: thermo
    function: check
  - bridge:
      to: mqtts://cloud.example
      from: mqtt://edge.example:1883
      topics: ["alerts/#", "crops/+/jpeg", "alerts/#"]
      qos: 0
    device: gw-3
  - module: thermo
    function: celsius
"""


def test_bridge_steps_parse_and_round_trip() -> None:
    from wasmfleet.core.models import BridgeRoute

    manifest = parse_manifest_text(BRIDGES)
    first, check, second, celsius = manifest.steps
    assert first.bridge == BridgeRoute("mqtt://gw:secret@cloud.example:1884", ("crops/#",))
    assert first.bridge.source is None and first.bridge.qos == 1  # the defaults
    assert (first.module, first.function) == ("", "")
    assert first.labels == {"role": "gateway"} and first.failovers == ("gw-2",)
    assert first.label == "bridge to mqtt://gw@cloud.example:1884"  # no password in messages
    assert check.label == "thermo.check"
    assert second.bridge == BridgeRoute(
        "mqtts://cloud.example", ("alerts/#", "crops/+/jpeg"), "mqtt://edge.example:1883", 0
    )
    assert second.device == "gw-3"
    assert check.bridge is None and celsius.bridge is None
    doc = manifest.to_dict()
    assert doc["steps"][0] == {
        "bridge": {"to": "mqtt://gw:secret@cloud.example:1884", "topics": ["crops/#"], "qos": 1},
        "labels": {"role": "gateway"},
        "failovers": ["gw-2"],
    }
    assert "module" not in doc["steps"][2] and doc["steps"][2]["bridge"]["qos"] == 0
    assert json.loads(json.dumps(doc)) == doc
    assert parse_manifest(doc) == manifest
    only = parse_manifest({"name": "u", "steps": [{"bridge": {"to": "c:1", "topic": "a"}}] * 2})
    assert len(only.steps) == 2  # bridges only (and two alike) is a valid manifest


def _bridge_step(**keys: Any) -> dict[str, Any]:
    return {"name": "p", "steps": [{"bridge": {"to": "mqtt://cloud", "topic": "a/#"}, **keys}]}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"module": "thermo"},
            "steps[0] has both 'bridge' and 'module': a bridge step forwards MQTT messages from "
            "one broker to another and runs no module function, so it cannot have a module",
        ),
        ({"function": "f"}, "steps[0] has both 'bridge' and 'function': a bridge step"),
        ({"func": "f"}, "steps[0] has both 'bridge' and 'func'"),
        ({"trigger": "a/#"}, "steps[0] has both 'bridge' and 'trigger'"),
        ({"publish": "b"}, "steps[0] has both 'bridge' and 'publish'"),
        ({"stateful": True}, "steps[0] has both 'bridge' and 'stateful'"),
        ({"bridge": "mqtt://cloud"}, "steps[0].bridge must be an object like"),
        ({"bridge": {"topic": "a"}}, "steps[0].bridge.to must be the broker URL to forward to"),
        ({"bridge": {"to": "http://cloud", "topic": "a"}}, "steps[0].bridge.to 'http://cloud' "),
        ({"bridge": {"to": "mqtt://c/x", "topic": "a"}}, "steps[0].bridge.to 'mqtt://c/x' has a"),
        ({"bridge": {"to": "mqtt://c:99999", "topic": "a"}}, "steps[0].bridge.to 'mqtt://c:9999"),
        ({"bridge": {"to": "c", "from": "", "topic": "a"}}, "steps[0].bridge.from must be a"),
        ({"bridge": {"to": "c", "from": "ftp://e", "topic": "a"}}, "steps[0].bridge.from 'ftp"),
        (
            {"bridge": {"to": "mqtt://c:1883", "from": "c", "topic": "a"}},
            "steps[0].bridge.from and steps[0].bridge.to are the same broker (mqtt://c:1883)",
        ),
        ({"bridge": {"to": "c"}}, "steps[0].bridge.topic must be a topic filter like 'crops/#'"),
        ({"bridge": {"to": "c", "topics": []}}, "steps[0].bridge.topics must be a topic filter"),
        ({"bridge": {"to": "c", "topic": "a/#/b"}}, "steps[0].bridge.topic 'a/#/b': '#' must"),
        ({"bridge": {"to": "c", "topic": ["a", "b+"]}}, "steps[0].bridge.topic[1] 'b+': '+'"),
        ({"bridge": {"to": "c", "topic": "a", "topics": "b"}}, "steps[0].bridge gives both"),
        ({"bridge": {"to": "c", "topic": "a", "qos": 2}}, "steps[0].bridge.qos must be 1 (the"),
        ({"bridge": {"to": "c", "topic": "a", "qos": True}}, "steps[0].bridge.qos must be 1"),
        ({"bridge": {"to": "c", "topic": "a", "retain": 1}}, "steps[0].bridge has unknown key"),
        ({"resources": {"cpu": "lots"}}, "steps[0].resources.cpu"),
        ({"labels": ["x"]}, "steps[0].labels must be an object"),
    ],
)
def test_bad_bridge_steps_name_the_field(step: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_manifest(_bridge_step(**step))
    assert info.value.message.startswith(message), info.value.message
    assert info.value.status == 400
