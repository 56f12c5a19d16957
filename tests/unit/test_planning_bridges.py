"""Placing bridge steps: the interfaces they require, and how the plan records them."""

from __future__ import annotations

import pytest

from tests.support import description
from wasmfleet.core.bridge_step import BRIDGE_INTERFACE
from wasmfleet.core.errors import PlacementFailed
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.orchestrator.planning import (
    BROKER_INTERFACE,
    is_bridge,
    plan_record,
    request_for,
    snapshot,
    solve,
    step_label,
)
from wasmfleet.orchestrator.store import DeviceRecord, ModuleRecord

FIBO = ModuleRecord(
    name="fibo", sha256="a" * 64, size=1, id="m-fibo", description=description("fibo")
)
MANIFEST = parse_manifest(
    {
        "name": "uplink",
        "steps": [
            {"bridge": {"to": "mqtt://gw:secret@cloud:1884", "topic": "crops/#"}},
            {"module": "fibo", "function": "fibo"},
            {
                "bridge": {"to": "mqtt://cloud:1884", "from": "mqtt://edge:1883", "topic": "a"},
                "labels": {"role": "gateway"},
            },
        ],
    }
)


def _device(name: str, *interfaces: str, **labels: str) -> DeviceRecord:
    # A wasmfleet supervisor's description has a "wasmfleet" object; a wasmiot one has none.
    described = {"wasmfleet": {"interfaces": list(interfaces)}} if interfaces else {}
    return DeviceRecord(
        name=name,
        id=f"id-{name}",
        description=described,
        interfaces=list(interfaces),
        labels=labels,
    )


def test_bridge_steps_require_a_wasmfleet_supervisor_and_without_from_a_broker() -> None:
    request, resolved = request_for(MANIFEST, {FIBO.id: FIBO}, [])
    first, fibo, second = request.steps
    assert first.name == "1:bridge" and first.requires == {BRIDGE_INTERFACE, BROKER_INTERFACE}
    assert second.requires == {BRIDGE_INTERFACE}  # it reads the broker its 'from' names
    assert second.labels == {"role": "gateway"}
    assert fibo.module == "fibo" and BROKER_INTERFACE not in fibo.requires
    assert resolved == [None, FIBO, None]


def test_a_bridge_without_from_goes_only_to_a_device_with_a_broker() -> None:
    devices = [
        _device("a-wasmiot"),  # a wasmiot supervisor: it would ignore the bridge
        _device("b-plain", BRIDGE_INTERFACE, role="gateway"),
        _device("c-broker", BRIDGE_INTERFACE, BROKER_INTERFACE),
    ]
    request, resolved = request_for(MANIFEST, {FIBO.id: FIBO}, devices)
    plan = solve(request, snapshot(devices, []))
    assert plan.devices()[0] == "c-broker" and plan.devices()[2] == "b-plain"
    rejected = {r.device: r.reason for r in plan.placements[0].rejections}
    assert rejected == {
        "a-wasmiot": "a-wasmiot is an original wasmiot supervisor, which cannot run a "
        "store-and-forward bridge",
        "b-plain": f"b-plain lacks {BROKER_INTERFACE}",
    }
    record = plan_record(plan, resolved, MANIFEST)
    first, fibo, second = record["steps"]
    assert first["module"] is None and first["module_id"] is None and first["function"] is None
    assert first["bridge"] == {
        "from": None,
        "to": "mqtt://gw@cloud:1884",  # no password in the stored plan
        "topics": ["crops/#"],
        "qos": 1,
    }
    assert second["bridge"]["from"] == "mqtt://edge:1883" and second["device"] == "b-plain"
    assert "bridge" not in fibo and fibo["module_id"] == "m-fibo"
    assert [is_bridge(s) for s in record["steps"]] == [True, False, True]
    assert [step_label(s) for s in record["steps"]] == [
        "bridge to mqtt://gw@cloud:1884",
        "fibo.fibo",
        "bridge to mqtt://cloud:1884",
    ]


def test_no_device_with_a_broker_is_a_placement_failure_naming_it() -> None:
    devices = [_device("b-plain", BRIDGE_INTERFACE)]
    request, _ = request_for(MANIFEST, {FIBO.id: FIBO}, devices)
    with pytest.raises(PlacementFailed) as info:
        solve(request, snapshot(devices, []))
    assert info.value.message == (
        f"0/1 devices fit step 1:bridge: b-plain lacks {BROKER_INTERFACE}"
    )
