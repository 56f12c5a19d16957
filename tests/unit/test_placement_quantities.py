"""Placement with Kubernetes quantities: manifests and device capacity flags in, plans out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from wasmfleet.core.manifest import parse_manifest
from wasmfleet.core.placement import (
    DeviceState,
    PlacementRequest,
    Plan,
    Resources,
    Snapshot,
    StepRequest,
    Unplaceable,
    place,
    place_reference,
)
from wasmfleet.service.setting_values import parse_capacity
from wasmfleet.supervisor.platform_info import declared_capacity

Solver = Callable[[PlacementRequest, Snapshot], Plan | Unplaceable]


@pytest.fixture(params=["numpy", "reference"])
def solve(request: pytest.FixtureRequest) -> Solver:
    return place if request.param == "numpy" else place_reference


def request_of(*resources: dict[str, Any]) -> PlacementRequest:
    """The placement request of a manifest whose steps ask these resources (as planning does)."""
    steps = [{"module": "m", "function": f"f{i}", "resources": r} for i, r in enumerate(resources)]
    manifest = parse_manifest({"name": "p", "steps": steps})
    return PlacementRequest(
        "p",
        tuple(
            StepRequest(
                name=f"{i + 1}:m.{s.function}",
                module="m",
                function=s.function,
                resources=Resources(s.cpu, s.memory_mb, s.accelerator_pct),
            )
            for i, s in enumerate(manifest.steps)
        ),
    )


def device(name: str, capacity: str, **kw: Any) -> DeviceState:
    """A device as a supervisor started with ``--capacity CAPACITY`` declares itself."""
    declared = declared_capacity(parse_capacity(capacity, "--capacity"))
    return DeviceState(
        name,
        core_capacity=tuple(declared["cores"]),
        memory_mb=declared["memory_mb"],
        accelerator_pct=declared["accelerator_pct"],
        **kw,
    )


def solved(solve: Solver, request: PlacementRequest, *devices: DeviceState) -> Plan | Unplaceable:
    return solve(request, Snapshot(devices))


def test_whole_cores_need_as_many_cores(solve: Solver) -> None:
    pi = device("pi", "cores=2,memory=1Gi")
    box = device("box", "cores=4,memory=1Gi")
    answer = solved(solve, request_of({"cpu": 2.5}), pi)
    assert isinstance(answer, Unplaceable)
    assert answer.reasons == {"pi": "pi has 2 cores, step needs 3 cores (2x1000m, 500m)"}
    plan = solved(solve, request_of({"cpu": 2.5}), pi, box)
    assert isinstance(plan, Plan) and plan.devices() == ("box",)
    assert plan.usage()["box"].cpu == (1000, 1000, 500)


def test_one_core_and_one_millicore(solve: Solver) -> None:
    one = device("one", "cores=1,memory=1Gi")
    two_steps = request_of({"cpu": 1}, {"cpu": "1m"})
    answer = solved(solve, two_steps, one)
    assert isinstance(answer, Unplaceable) and answer.step == 1
    assert answer.reasons == {"one": "one has cores with 0m free, step needs 1m"}
    # The precise form keeps its meaning: [1] is one millicore, as it always was.
    plan = solved(solve, request_of({"cpu": "999m"}, {"cpu": [1]}), one)
    assert isinstance(plan, Plan) and plan.usage()["one"].cpu == (1000,)


def test_a_core_ask_does_not_split_over_half_free_cores(solve: Solver) -> None:
    # Unlike kube-scheduler, which sums millicores over the node, one core's worth must fit
    # on one core: four half-used cores do not take `cpu: 1`. The per-core list says how to
    # split it when that is what the step can use.
    half = device("half", "cores=4,millicores=500,memory=1Gi")
    answer = solved(solve, request_of({"cpu": "1"}), half)
    assert isinstance(answer, Unplaceable)
    assert answer.reasons == {"half": "half has cores with 4x500m free, step needs 1000m"}
    plan = solved(solve, request_of({"cpu": [500, 500]}), half)
    assert isinstance(plan, Plan) and plan.placements[0].cores == (0, 1)


def test_decimal_and_binary_megabytes(solve: Solver) -> None:
    small = device("small", "cores=1,memory=500Mi")
    plan = solved(solve, request_of({"memory": "512M"}), small)  # 489Mi
    assert isinstance(plan, Plan) and plan.usage()["small"].memory_mb == 489
    answer = solved(solve, request_of({"memory": "512Mi"}), small)
    assert isinstance(answer, Unplaceable)
    assert answer.reasons == {"small": "small has 500Mi memory free, step needs 512Mi"}


def test_device_capacity_in_decimal_units(solve: Solver) -> None:
    # --capacity memory=2G offers 2 x 10^9 bytes: 1908 whole MiB, rounded up like a step's
    # ask, so that a step asking exactly what the device declares fits it.
    gw = device("gw", "cores=1,memory=2G")
    assert gw.memory_mb == 1908
    assert isinstance(solved(solve, request_of({"memory": "2G"}), gw), Plan)
    assert isinstance(solved(solve, request_of({"memory": "1908Mi"}), gw), Plan)
    answer = solved(solve, request_of({"memory": "2Gi"}), gw)
    assert isinstance(answer, Unplaceable)
    assert answer.reasons == {"gw": "gw has 1908Mi memory free, step needs 2048Mi"}
    pair = solved(solve, request_of({"memory": "1G"}, {"memory": "1G"}), gw)
    assert isinstance(pair, Plan)  # 954Mi + 954Mi = 1908Mi: exactly full


def test_an_old_millicore_number_is_placed_as_cores_and_says_so(solve: Solver) -> None:
    # `cpu: 500` meant 500 millicores; it is 500 cores now: nothing fits, and the manifest
    # carries the warning that the orchestrator puts beside the 422.
    manifest = parse_manifest(
        {"name": "p", "steps": [{"module": "m", "function": "f", "resources": {"cpu": 500}}]}
    )
    assert manifest.warnings[0].startswith("steps[0].resources.cpu: 500 now means 500 whole")
    answer = solved(solve, request_of({"cpu": 500}), device("box", "cores=4"))
    assert isinstance(answer, Unplaceable)
    assert answer.reasons == {"box": "box has 4 cores, step needs 500 cores (500x1000m)"}
