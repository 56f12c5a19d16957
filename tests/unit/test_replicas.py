"""Fleet-wide steps: manifest field, placement of copies, the copy-choice rule, documents."""

from __future__ import annotations

import pytest

from wasmfleet.core.deploy_plan import PlannedStep, device_documents
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.placement import (
    DeviceState,
    PlacementRequest,
    Snapshot,
    StepRequest,
    Unplaceable,
    place,
    place_reference,
)
from wasmfleet.core.replicas import pick_copy, route

SOLVERS = [place, place_reference]


def _manifest(**step: object) -> dict[str, object]:
    return {"name": "p", "steps": [{"module": "fibo", "function": "fibo", **step}]}


def test_replicas_round_trip() -> None:
    for value in ("all", 3):
        parsed = parse_manifest(_manifest(replicas=value, labels={"role": "cam"}))
        assert parsed.steps[0].replicas == value and parsed.steps[0].fleet_wide
        assert parse_manifest(parsed.to_dict()) == parsed
    plain = parse_manifest(_manifest())
    assert plain.steps[0].replicas == 1 and "replicas" not in plain.to_dict()["steps"][0]


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ({"replicas": 0}, "whole number of 1 or more"),
        ({"replicas": "some"}, '"all"'),
        ({"replicas": True}, '"all"'),
        ({"replicas": "all", "device": "a"}, "pins device 'a'"),
        ({"replicas": 2, "stateful": True}, "one device at a time"),
    ],
)
def test_bad_replicas_are_refused(step: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        parse_manifest(_manifest(**step))
    assert words in err.value.message and "steps[0]" in err.value.message


def test_wasmiot_shape_ignores_replicas() -> None:
    parsed = parse_manifest(
        {"name": "w", "sequence": [{"module": "m", "func": "f", "replicas": 3}]}
    )
    assert parsed.steps[0].replicas == 1


def _fleet(*names: str, cam: tuple[str, ...] = ()) -> Snapshot:
    return Snapshot(
        tuple(
            DeviceState(
                name=n,
                labels={"role": "cam"} if n in cam else {},
                core_capacity=(1000,),
                memory_mb=1024,
            )
            for n in names
        )
    )


def _request(replicas: int | str, **extra: object) -> PlacementRequest:
    step = StepRequest(
        name="1:m.f",
        module="m",
        function="f",
        replicas=replicas,
        **extra,  # type: ignore[arg-type]
    )
    return PlacementRequest(
        name="p", steps=(step, StepRequest(name="2:n.g", module="n", function="g"))
    )


@pytest.mark.parametrize("solve", SOLVERS)
def test_all_places_one_copy_per_matching_device(solve: object) -> None:
    plan = solve(_request("all", labels={"role": "cam"}), _fleet("a", "b", "c", cam=("a", "c")))  # type: ignore[operator]
    assert not isinstance(plan, Unplaceable)
    assert [(p.step, p.device) for p in plan.placements][:2] == [(0, "a"), (0, "c")]
    assert plan.placements[2].step == 1
    assert [r.device for r in plan.placements[0].rejections] == ["b"]


@pytest.mark.parametrize("solve", SOLVERS)
def test_all_with_no_match_is_zero_copies(solve: object) -> None:
    plan = solve(_request("all", labels={"role": "cam"}), _fleet("a", "b"))  # type: ignore[operator]
    assert not isinstance(plan, Unplaceable)
    assert [p.step for p in plan.placements] == [1]


@pytest.mark.parametrize("solve", SOLVERS)
def test_n_copies_on_distinct_devices_or_unplaceable(solve: object) -> None:
    plan = solve(_request(2), _fleet("a", "b", "c"))  # type: ignore[operator]
    assert not isinstance(plan, Unplaceable)
    devices = [p.device for p in plan.placements if p.step == 0]
    assert len(set(devices)) == 2 and devices == sorted(devices)
    kept = solve(_request(2, keep=("c",)), _fleet("a", "b", "c"))  # type: ignore[operator]
    assert "c" in [p.device for p in kept.placements if p.step == 0]
    short = solve(_request(4), _fleet("a", "b", "c"))  # type: ignore[operator]
    assert isinstance(short, Unplaceable)
    assert "only 3 of the 4 copies" in short.message


def test_numpy_and_reference_agree_on_copies() -> None:
    fleet = _fleet("a", "b", "c", "d", cam=("b", "d"))
    for request in (_request("all"), _request(3), _request("all", labels={"role": "cam"})):
        fast, slow = place(request, fleet), place_reference(request, fleet)
        assert not isinstance(fast, Unplaceable) and not isinstance(slow, Unplaceable)
        assert fast.placements == slow.placements


def test_pick_copy_rule() -> None:
    assert pick_copy([], near="a") is None
    assert pick_copy(["b", "a"], near="b", turn=0) == "b"  # same device first
    assert [pick_copy(["c", "a", "b"], turn=t) for t in range(4)] == ["a", "b", "c", "a"]
    assert route([["a", "b"], ["b", "c"], ["x"]], "b") == ["b", "b", "x"]
    assert route([["a", "b"], ["c", "d"]], "b") == ["b", "d"]  # by the sender's position
    assert route([["a"], [], ["x"]], "a") == ["a", None, None]


def _planned(index: int, device: str) -> PlannedStep:
    fn = "fibo" if index == 0 else "add"
    return PlannedStep(
        index=index,
        module_id=fn,
        module_name=fn,
        function=fn,
        device=device,
        device_url=f"http://{device}:5000",
        binary_url="b",
        description_url="d",
        description={
            "paths": {
                f"/{{deployment}}/modules/{fn}/{fn}": {
                    "get": {
                        "responses": {
                            "200": {
                                "content": {"application/json": {"schema": {"type": "integer"}}}
                            }
                        }
                    }
                }
            }
        },
    )


def test_documents_chain_each_copy_by_the_rule() -> None:
    steps = [_planned(0, "a"), _planned(0, "b"), _planned(1, "b"), _planned(1, "c")]
    docs = device_documents("dep", steps)
    to_of = {
        device: docs[device]["instructions"]["modules"]["fibo"]["fibo"]["to"]["url"]
        for device in ("a", "b")
    }
    assert to_of == {"a": "http://b:5000", "b": "http://b:5000"}  # a: position 0 -> b
    lonely = device_documents("dep", [_planned(0, "a")], chain=[0, 1])
    assert lonely["a"]["instructions"]["modules"]["fibo"]["fibo"]["to"] is None
