"""Property tests of core.placement on random small fleets and pipelines.

(a) a plan never over-commits any resource of any device, (b) every placed device passes
every filter, checked here independently of the solver's code (also: no two steps serving
the same module function share a device, and no step needing a wasmfleet feature is on an
original wasmiot supervisor), and (c) the numpy solver and the plain-Python reference
solver give the same answer, reasons included.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wasmfleet.core.placement import (
    SCORERS,
    STRATEGIES,
    DeviceState,
    PlacementRequest,
    Plan,
    Resources,
    Snapshot,
    StepRequest,
    place,
    place_reference,
)

NAMES = ("a", "b", "c", "d", "e", "f")
INTERFACES = ("cam.take", "take", "dht.temp", "sys.millis", "millis")
NEEDS = ("cam.take", "dht.temp", "sys.millis")
XY = st.sampled_from(("x", "y"))
DEVICE_LABELS = st.fixed_dictionaries({}, optional={"loc": XY, "zone": XY}) | st.fixed_dictionaries(
    {"loc": XY, "zone": XY}
)


def _steps_of(top: int, step: int) -> st.SearchStrategy[int]:
    """0..top in multiples of ``step``, so that exact fills happen often."""
    return st.integers(0, top // step).map(lambda k: k * step)


@st.composite
def devices(draw: st.DrawFn, name: str) -> DeviceState:
    count = draw(st.sampled_from((0, 1, 2, 3, 4, 4)))
    capacity = [draw(st.sampled_from((0, 100, 200, 200))) for _ in range(count)]
    used = tuple(draw(_steps_of(c, 50)) for c in capacity)
    memory = draw(st.sampled_from((0, 200, 400, 400)))
    accel = draw(st.sampled_from((0, 50, 100)))
    return DeviceState(
        name=name,
        active=draw(st.sampled_from((True,) * 9 + (False,))),
        status_reason=draw(st.sampled_from(("", "inactive: lost", "unreachable"))),
        interfaces=frozenset(draw(st.sets(st.sampled_from(INTERFACES), min_size=2))),
        labels=draw(DEVICE_LABELS),
        core_capacity=tuple(capacity),
        core_used=used if any(used) or draw(st.booleans()) else (),
        memory_mb=memory,
        memory_used_mb=draw(_steps_of(memory, 50)),
        accelerator_pct=accel,
        accelerator_used_pct=draw(_steps_of(accel, 25)),
        wasmiot=draw(st.sampled_from((False,) * 3 + (True,))),
    )


@st.composite
def fleets(draw: st.DrawFn) -> Snapshot:
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=3, max_size=len(NAMES)))
    return Snapshot(tuple(draw(devices(n)) for n in names))


@st.composite
def steps(draw: st.DrawFn, index: int) -> StepRequest:
    pinned = draw(st.sampled_from((None,) * 20 + ("a", "c", "ghost")))
    return StepRequest(
        name=f"{index + 1}:m.f",
        module="m",
        function=draw(st.sampled_from(("f", "g", f"s{index}", f"s{index}"))),
        features=draw(st.sampled_from(((),) * 3 + (("run bridges",), ("a", "b")))),
        requires=frozenset(draw(st.sampled_from(((),) * 4 + tuple((n,) for n in NEEDS)))),
        device=pinned,
        labels=draw(st.sampled_from(({},) * 4 + ({"loc": "x"}, {"zone": "y"}))),
        resources=Resources(
            cpu=tuple(draw(st.lists(st.sampled_from((0, 50, 50, 100)), max_size=3))),
            memory_mb=draw(st.sampled_from((0, 0, 50, 100))),
            accelerator_pct=draw(st.sampled_from((0,) * 6 + (25, 50))),
        ),
        strategy=draw(st.sampled_from((None, None, *STRATEGIES))),
    )


@st.composite
def requests(draw: st.DrawFn) -> PlacementRequest:
    count = draw(st.sampled_from((7, 6, 5, 4, 3, 2, 1)))
    return PlacementRequest(
        name="p",
        steps=tuple(draw(steps(i)) for i in range(count)),
        strategy=draw(st.sampled_from(STRATEGIES)),
        scorer=draw(st.sampled_from(SCORERS)),
    )


def passes_static_filters(device: DeviceState, step: StepRequest) -> bool:
    if step.device is not None and step.device != device.name:
        return False
    if not device.active:
        return False
    if device.wasmiot and step.features:
        return False
    for need in step.requires:
        if need not in device.interfaces and need.split(".")[-1] not in device.interfaces:
            return False
    return all(device.labels.get(k) == v for k, v in step.labels.items())


def assert_no_overcommit(plan: Plan, fleet: Snapshot) -> None:
    by_name = {d.name: d for d in fleet.devices}
    cores: dict[tuple[str, int], int] = defaultdict(int)
    memory: dict[str, int] = defaultdict(int)
    accel: dict[str, int] = defaultdict(int)
    for placement in plan.placements:
        res = plan.request.steps[placement.step].resources
        device = by_name[placement.device]
        assert len(placement.cores) == len(res.cpu)
        assert len(set(placement.cores)) == len(placement.cores), "one core per CPU ask"
        for core, amount in zip(placement.cores, res.cpu, strict=True):
            assert 0 <= core < len(device.core_capacity)
            cores[(device.name, core)] += amount
        memory[device.name] += res.memory_mb
        accel[device.name] += res.accelerator_pct
        if res.memory_mb:
            assert device.memory_mb > 0
        if res.accelerator_pct:
            assert device.accelerator_pct > 0
    for (name, core), total in cores.items():
        device = by_name[name]
        used = device.core_used[core] if device.core_used else 0
        assert total <= max(0, device.core_capacity[core] - used)
    for name, total in memory.items():
        device = by_name[name]
        assert total <= max(0, device.memory_mb - device.memory_used_mb)
    for name, total in accel.items():
        device = by_name[name]
        assert total <= max(0, device.accelerator_pct - device.accelerator_used_pct)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleet=fleets(), request=requests(), data=st.data())
def test_numpy_solver_matches_reference_and_never_overcommits(
    fleet: Snapshot, request: PlacementRequest, data: st.DataObject
) -> None:
    fast = place(request, fleet)
    slow = place_reference(request, fleet)
    assert fast == slow
    shuffled = Snapshot(tuple(data.draw(st.permutations(fleet.devices))))
    assert place(request, shuffled) == fast, "snapshot order must not matter"
    if not isinstance(fast, Plan):
        event(f"unplaceable at step {fast.step + 1} of {len(request.steps)}")
        assert fast.total == len(fleet.devices)
        assert fast.rejections == slow.rejections
        return
    assert isinstance(slow, Plan)
    event(f"placed all {len(fast.placements)} steps")
    assert_no_overcommit(fast, fleet)
    by_name = {d.name: d for d in fleet.devices}
    served = [(request.steps[p.step].function, p.device) for p in fast.placements]
    assert len(set(served)) == len(served), "a device serves each module function once"
    for quick, sure in zip(fast.placements, slow.placements, strict=True):
        step = request.steps[quick.step]
        assert passes_static_filters(by_name[quick.device], step)
        assert quick.rejections == sure.rejections
        assert quick.fit + len(quick.rejections) == len(fleet.devices)
        assert quick.device not in {r.device for r in quick.rejections}
