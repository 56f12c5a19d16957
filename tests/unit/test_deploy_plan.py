"""Per-device deployment documents: the orchestrator shape, read back by the supervisor parser."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import MODULES
from wasmfleet.core.deploy_doc import parse_deployment
from wasmfleet.core.deploy_plan import PlannedStep, device_documents
from wasmfleet.core.errors import InvalidDocument


def _description(module: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODULES / module / "description.json").read_text())
    return data


def _step(index: int, module: str, function: str, device: str, port: int) -> PlannedStep:
    base = f"http://orch:3000/file/module/id-{module}"
    files = {"prefix.txt": f"{base}/prefix.txt"} if module == "stamp" else {}
    return PlannedStep(
        index=index,
        module_id=f"id-{module}",
        module_name=module,
        function=function,
        device=device,
        device_url=f"http://10.0.0.{index + 1}:{port}",
        binary_url=f"{base}/wasm",
        description_url=f"{base}/description",
        description=_description(module),
        data_files=files,
        sha256="a" * 64,
    )


def test_two_devices_get_linked_documents() -> None:
    steps = [_step(0, "fibo", "fibo", "cam", 5000), _step(1, "counter", "add", "edge", 5001)]
    docs = device_documents("dep1", steps)
    assert set(docs) == {"cam", "edge"}
    cam = parse_deployment(docs["cam"])
    edge = parse_deployment(docs["edge"])
    assert cam.shape == "orchestrator" and edge.shape == "orchestrator"
    fibo = cam.function("fibo", "fibo")
    assert fibo is not None and fibo.to is not None
    assert fibo.to.url == "http://10.0.0.2:5001/dep1/modules/counter/add"
    assert [p.name for p in fibo.to.params] == ["n"]
    add = edge.function("counter", "add")
    assert add is not None and add.to is None
    assert docs["edge"]["instructions"]["modules"]["counter"]["add"]["from"]["url"] == (
        "http://10.0.0.1:5000"
    )
    assert cam.modules[0].sha256 == "a" * 64


def test_mounts_and_data_files_reach_the_document() -> None:
    docs = device_documents("d", [_step(0, "stamp", "stamp", "edge", 5000)])
    doc = docs["edge"]
    assert doc["mounts"]["stamp"]["stamp"]["deployment"] == [
        {"path": "prefix.txt", "media_type": "text/plain", "stage": "deployment"}
    ]
    assert doc["endpoints"]["stamp"]["stamp"]["method"] == "POST"
    assert doc["endpoints"]["stamp"]["stamp"]["request"]["request_body"]["media_type"] == (
        "multipart/form-data"
    )
    spec = parse_deployment(doc)
    stamp = spec.function("stamp", "stamp")
    assert stamp is not None
    assert [(m.stage, m.name) for m in stamp.mounts] == [
        ("deployment", "prefix.txt"),
        ("execution", "input.txt"),
        ("output", "output.txt"),
    ]
    assert dict(spec.modules[0].other) == {
        "prefix.txt": "http://orch:3000/file/module/id-stamp/prefix.txt"
    }


def test_two_steps_on_one_device_share_one_document() -> None:
    steps = [_step(0, "fibo", "fibo", "edge", 5000), _step(1, "counter", "add", "edge", 5000)]
    docs = device_documents("d", steps)
    assert list(docs) == ["edge"]
    assert [m["name"] for m in docs["edge"]["modules"]] == ["fibo", "counter"]


def test_undescribed_function_is_refused() -> None:
    with pytest.raises(InvalidDocument, match="no description of function 'nope'"):
        device_documents("d", [_step(0, "fibo", "nope", "edge", 5000)])


def test_epoch_and_stateful_steps_reach_the_fencing_fields() -> None:
    import dataclasses

    counter = dataclasses.replace(_step(1, "counter", "add", "edge", 5001), stateful=True)
    docs = device_documents(
        "dep1", [_step(0, "fibo", "fibo", "cam", 5000), counter], epoch=3, lease_s=1.5
    )
    assert docs["cam"]["epoch"] == 3 and docs["edge"]["epoch"] == 3
    assert docs["cam"]["fencing"] == {"lease_s": 1.5, "stateful": []}
    assert docs["edge"]["fencing"] == {
        "lease_s": 1.5,
        "stateful": [{"module": "counter", "function": "add"}],
    }
    unfenced = device_documents("dep1", [counter])
    assert "epoch" not in unfenced["edge"] and "fencing" not in unfenced["edge"]


def _thermo(index: int, function: str, device: str, **topics: Any) -> PlannedStep:
    import dataclasses

    return dataclasses.replace(_step(index, "thermo", function, device, 5000 + index), **topics)


def test_triggers_and_publish_topics_reach_the_instructions() -> None:
    from wasmfleet.core.models import Publication, Trigger

    check = _thermo(
        0,
        "check",
        "edge",
        trigger=Trigger("site/+/temperature", 1),
        publish=Publication("alerts/site", 2, retain=True),
    )
    docs = device_documents("d", [check])
    instruction = docs["edge"]["instructions"]["modules"]["thermo"]["check"]
    assert instruction == {
        "from": None,
        "to": None,
        "trigger": {"topic": "site/+/temperature", "qos": 1},
        "publish": {"topic": "alerts/site", "qos": 2, "retain": True},
    }
    fn = parse_deployment(docs["edge"]).function("thermo", "check")
    assert fn is not None
    assert fn.trigger == Trigger("site/+/temperature", 1)
    assert fn.publish == Publication("alerts/site", 2, retain=True)


def test_a_topic_hop_replaces_the_http_hop() -> None:
    from wasmfleet.core.models import Publication, Trigger

    steps = [
        _thermo(0, "check", "edge", publish=Publication("alerts/site/a")),
        _thermo(1, "celsius", "cloud", trigger=Trigger("alerts/#"), publish=Publication("out")),
        _step(2, "fibo", "fibo", "cloud", 5002),
    ]
    docs = device_documents("d", steps)
    first = docs["edge"]["instructions"]["modules"]["thermo"]["check"]
    assert first["to"] is None  # the topic alerts/site/a is the hop
    second = docs["cloud"]["instructions"]["modules"]["thermo"]["celsius"]
    assert second["from"]["path"] == "/d/modules/thermo/check"
    assert second["to"]["path"] == "/d/modules/fibo/fibo"  # no trigger on fibo: HTTP as usual


def test_a_publish_the_next_trigger_does_not_match_keeps_the_http_hop() -> None:
    from wasmfleet.core.models import Publication, Trigger

    steps = [
        _thermo(0, "check", "edge", publish=Publication("alerts/a")),
        _thermo(1, "celsius", "cloud", trigger=Trigger("sensors/#")),
    ]
    first = device_documents("d", steps)["edge"]["instructions"]["modules"]["thermo"]["check"]
    assert first["to"]["path"] == "/d/modules/thermo/celsius"


def test_bridge_steps_go_to_their_devices_and_stay_out_of_the_chain() -> None:
    from wasmfleet.core.deploy_plan import PlannedBridge
    from wasmfleet.core.models import BridgeRoute, BridgeSpec

    uplink = BridgeRoute("mqtt://u:p@cloud:1884", ("crops/#",))
    backup = BridgeRoute("mqtts://backup", ("crops/#", "alerts/#"), "mqtt://edge:1883", 0)
    # Manifest: 0 fibo (cam), 1 bridge (gw), 2 counter (edge), 3 bridge (cam).
    steps = [_step(0, "fibo", "fibo", "cam", 5000), _step(2, "counter", "add", "edge", 5001)]
    bridges = [PlannedBridge(3, "cam", backup), PlannedBridge(1, "gw", uplink)]
    docs = device_documents("dep1", steps, bridges=bridges, epoch=2, lease_s=1.0)
    assert set(docs) == {"cam", "edge", "gw"}
    fibo = docs["cam"]["instructions"]["modules"]["fibo"]["fibo"]
    assert fibo["to"]["path"] == "/dep1/modules/counter/add"  # the bridge is skipped
    assert docs["edge"]["instructions"]["modules"]["counter"]["add"]["from"]["url"] == (
        "http://10.0.0.1:5000"
    )
    assert "bridges" not in docs["edge"]
    assert docs["gw"] == {
        "deploymentId": "dep1",
        "modules": [],
        "endpoints": {},
        "instructions": {"modules": {}},
        "mounts": {},
        "epoch": 2,
        "fencing": {"lease_s": 1.0, "stateful": []},
        "bridges": [
            {
                "name": "dep1-1",
                "from": None,
                "to": "mqtt://u:p@cloud:1884",
                "topics": ["crops/#"],
                "qos": 1,
            }
        ],
    }
    assert docs["cam"]["bridges"] == [
        {
            "name": "dep1-3",
            "from": "mqtt://edge:1883",
            "to": "mqtts://backup",
            "topics": ["crops/#", "alerts/#"],
            "qos": 0,
        }
    ]
    # A wasmfleet supervisor reads them back (a bridges-only document has no modules).
    gateway = parse_deployment(docs["gw"])
    assert gateway.modules == () and gateway.functions == ()
    assert gateway.bridges == (BridgeSpec("dep1-1", uplink),)
    camera = parse_deployment(docs["cam"])
    assert camera.bridges == (BridgeSpec("dep1-3", backup),)
    assert [m.name for m in camera.modules] == ["fibo"]
    assert "bridges" not in device_documents("dep1", steps)["cam"]
