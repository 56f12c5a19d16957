"""Table tests of core.placement: every filter and its reason, scorers, strategies, guards.

Each test that solves runs twice: with ``place`` (numpy) and ``place_reference`` (Python).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wasmfleet.core.errors import InvalidDocument, PlacementFailed
from wasmfleet.core.placement import (
    SCORERS,
    STRATEGIES,
    DeviceState,
    PlacementRequest,
    Plan,
    Rejection,
    Resources,
    Snapshot,
    StepRequest,
    Unplaceable,
    assign_cores,
    offers,
    place,
    place_reference,
)

Solver = Callable[[PlacementRequest, Snapshot], Plan | Unplaceable]


@pytest.fixture(params=["numpy", "reference"])
def solve(request: pytest.FixtureRequest) -> Solver:
    return place if request.param == "numpy" else place_reference


def dev(
    name: str, cores: int = 4, per_core: int = 1000, memory: int = 4096, **kw: object
) -> DeviceState:
    return DeviceState(name=name, core_capacity=(per_core,) * cores, memory_mb=memory, **kw)  # type: ignore[arg-type]


def step(
    name: str = "1:m.f", cpu: tuple[int, ...] = (), memory: int = 0, accel: int = 0, **kw: object
) -> StepRequest:
    res = Resources(cpu=cpu, memory_mb=memory, accelerator_pct=accel)
    # Each step serves its own function (steps repeating one never share a device).
    kw.setdefault("function", name.replace(":", "_").replace(".", "_"))
    return StepRequest(name=name, module="m", resources=res, **kw)  # type: ignore[arg-type]


def run(
    solve: Solver, devices: list[DeviceState], *steps: StepRequest, **kw: str
) -> Plan | Unplaceable:
    return solve(PlacementRequest("p", tuple(steps), **kw), Snapshot(tuple(devices)))


def plan_of(answer: Plan | Unplaceable) -> Plan:
    assert isinstance(answer, Plan), answer.message  # type: ignore[union-attr]
    return answer


def failed(answer: Plan | Unplaceable) -> Unplaceable:
    assert isinstance(answer, Unplaceable), answer
    return answer


# --- the per-core CPU check (ROHE) -------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "ask", "cores"),
    [
        ([10, 10, 90, 90], [50, 50, 50], None),
        ([60, 60, 60, 10], [50, 50, 50], (0, 1, 2)),
        ([10, 60], [10, 50], (0, 1)),  # the larger ask takes the freer core; order kept
        ([50, 50], [50, 50], (0, 1)),  # exact fill
        ([100, 100], [10, 10, 10], None),  # more cores than the device has
        ([0, 0, 0], [0, 0], (0, 1)),  # zero asks still need a core each
        ([30, 80, 80], [20, 70], (2, 1)),  # ties: lower core index first
    ],
)
def test_assign_cores_table(free: list[int], ask: list[int], cores: tuple[int, ...] | None) -> None:
    assert assign_cores(free, ask) == cores


def test_rohe_example_through_place(solve: Solver) -> None:
    full = dev("a", cores=4, per_core=100, core_used=(90, 90, 10, 10))
    roomy = dev("b", cores=4, per_core=100, core_used=(40, 40, 40, 90))
    ask = step(cpu=(50, 50, 50))
    answer = failed(run(solve, [full], ask))
    assert answer.rejections[0].reason == "a has cores with 2x90m, 2x10m free, step needs 3x50m"
    placed = plan_of(run(solve, [full, roomy], ask)).placements[0]
    assert (placed.device, placed.cores, placed.fit) == ("b", (0, 1, 2), 1)


def test_more_cores_than_the_device_has(solve: Solver) -> None:
    answer = failed(
        run(solve, [dev("cloud-vm", cores=2), dev("pi", cores=1)], step(cpu=(1, 1, 1, 1)))
    )
    assert [r.reason for r in answer.rejections] == [
        "cloud-vm has 2 cores, step needs 4 cores (4x1m)",
        "pi has 1 core, step needs 4 cores (4x1m)",
    ]


def test_exact_fill_is_allowed_and_then_full(solve: Solver) -> None:
    box = DeviceState("box", core_capacity=(100, 100), memory_mb=100, accelerator_pct=50)
    ask = step(cpu=(100, 100), memory=100, accel=50)
    plan = plan_of(run(solve, [box], ask))
    assert plan.placements[0].score == 0.0  # least_allocated: nothing left
    answer = failed(run(solve, [box], ask, step("2:m.f", cpu=(1,))))
    assert answer.step == 1
    assert answer.message == (
        "0/1 devices fit step 2:m.f: box has cores with 2x0m free, step needs 1m"
    )


# --- resources: memory, accelerator, undeclared capacity ---------------------------------


@pytest.mark.parametrize(
    ("device", "ask", "reason"),
    [
        (dev("e", memory=100), step(memory=256), "e has 100Mi memory free, step needs 256Mi"),
        (dev("e", memory=0), step(memory=1), "e declares no memory, step needs 1Mi"),
        (dev("e"), step(accel=20), "e has no accelerator, step needs 20%"),
        (
            dev("e", accelerator_pct=100, accelerator_used_pct=90),
            step(accel=20),
            "e has 10% accelerator free, step needs 20%",
        ),
        (DeviceState("e"), step(cpu=(100, 100)), "e declares no CPU, step needs 2 cores (2x100m)"),
        (
            dev("e", memory=500, memory_used_mb=900),
            step(memory=1),
            "e has 0Mi memory free, step needs 1Mi",
        ),
    ],
)
def test_resource_reasons(
    solve: Solver, device: DeviceState, ask: StepRequest, reason: str
) -> None:
    assert failed(run(solve, [device], ask)).rejections[0].reason == reason


def test_accelerator_zero_fits_a_device_without_accelerator(solve: Solver) -> None:
    assert plan_of(run(solve, [dev("e")], step(cpu=(100,), accel=0))).devices() == ("e",)


def test_device_without_declared_capacity_takes_only_empty_asks(solve: Solver) -> None:
    bare = DeviceState("wasmiot-pi", interfaces=frozenset({"takeImageStaticSize"}))
    plan = plan_of(run(solve, [bare], step(), step("2:m.f"), strategy="pack"))
    assert plan.devices() == ("wasmiot-pi", "wasmiot-pi")
    assert plan.placements[0].cores == ()
    assert failed(run(solve, [bare], step(memory=16))).rejections[0].reason == (
        "wasmiot-pi declares no memory, step needs 16Mi"
    )


def test_usage_above_capacity_counts_as_full(solve: Solver) -> None:
    over = dev("o", cores=1, per_core=100, core_used=(150,), memory=100, memory_used_mb=150)
    assert plan_of(run(solve, [over], step(cpu=(0,)))).placements[0].cores == (0,)
    assert failed(run(solve, [over], step(cpu=(1,)))).rejections[0].reason == (
        "o has cores with 0m free, step needs 1m"
    )


# --- static filters ----------------------------------------------------------------------


def test_the_brief_example_message(solve: Solver) -> None:
    devices = [
        DeviceState("cam-pi", active=False, interfaces=frozenset({"camera.takeImageStaticSize"})),
        dev("edge-box", interfaces=frozenset({"camera.takeImageDynamicSize"})),
        dev("cloud-vm", cores=2, interfaces=frozenset({"takeImageStaticSize"})),
    ]
    take = step(
        "1:camera.take_image", cpu=(100,) * 4, requires=frozenset({"camera.takeImageStaticSize"})
    )
    answer = failed(run(solve, devices, take))
    assert (answer.step, answer.step_name, answer.total) == (0, "1:camera.take_image", 3)
    assert answer.message == (
        "0/3 devices fit step 1:camera.take_image: cam-pi inactive; "
        "cloud-vm has 2 cores, step needs 4 cores (4x100m); "
        "edge-box lacks camera.takeImageStaticSize"
    )
    error = answer.error()
    assert isinstance(error, PlacementFailed) and error.status == 422
    assert error.reasons["cam-pi"] == "cam-pi inactive"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("", "pi inactive"),
        ("inactive", "pi inactive"),
        ("inactive: health check failed 3 times", "pi inactive: health check failed 3 times"),
        ("unreachable", "pi inactive: unreachable"),
        (
            "dead: no heartbeat for 2.6 s (phi 8.3 >= 8)",
            "pi dead: no heartbeat for 2.6 s (phi 8.3 >= 8)",
        ),
        ("suspect: no heartbeat for 2.2 s", "pi suspect: no heartbeat for 2.2 s"),
        ("flapping: 3 failures within 60 s", "pi flapping: 3 failures within 60 s"),
    ],
)
def test_inactive_reason(solve: Solver, status: str, reason: str) -> None:
    device = DeviceState("pi", active=False, status_reason=status)
    assert failed(run(solve, [device], step())).rejections[0].reason == reason


@pytest.mark.parametrize(
    ("interfaces", "requires", "reason"),
    [
        ({"camera.takeImageStaticSize"}, {"camera.takeImageStaticSize"}, None),
        ({"takeImageStaticSize"}, {"camera.takeImageStaticSize"}, None),  # wasmiot bare name
        (
            {"camera.takeImageDynamicSize"},
            {"camera.takeImageStaticSize"},
            "e lacks camera.takeImageStaticSize",
        ),
        (set(), {"sys.millis", "dht.getHumidity", "camera.x"}, "e lacks camera.x +2 more"),
        ({"sys.millis"}, {"millis"}, "e lacks millis"),  # a bare requirement needs a bare listing
        ({"other.millis"}, {"sys.millis"}, "e lacks sys.millis"),
    ],
)
def test_interfaces(
    solve: Solver, interfaces: set[str], requires: set[str], reason: str | None
) -> None:
    device = dev("e", interfaces=frozenset(interfaces))
    answer = run(solve, [device], step(requires=frozenset(requires)))
    if reason is None:
        assert plan_of(answer).devices() == ("e",)
    else:
        assert failed(answer).rejections[0].reason == reason


def test_offers_is_exact_or_bare() -> None:
    assert offers(frozenset({"fd_write"}), "wasi_snapshot_preview1.fd_write")
    assert not offers(frozenset({"wasi_snapshot_preview1.fd_write"}), "fd_write")


@pytest.mark.parametrize(
    ("labels", "wanted", "reason"),
    [
        ({"location": "lab"}, {"location": "lab"}, None),
        ({"location": "hall"}, {"location": "lab"}, "e has location=hall, step needs location=lab"),
        ({}, {"location": "lab"}, "e lacks label location"),
        ({"zone": "b"}, {"zone": "a", "location": "lab"}, "e lacks label location +1 more"),
    ],
)
def test_labels(
    solve: Solver, labels: dict[str, str], wanted: dict[str, str], reason: str | None
) -> None:
    answer = run(solve, [dev("e", labels=labels)], step(labels=wanted))
    if reason is None:
        assert plan_of(answer).devices() == ("e",)
    else:
        assert failed(answer).rejections[0].reason == reason


def test_pinned_device(solve: Solver) -> None:
    devices = [dev("a"), dev("b"), dev("c")]
    placed = plan_of(run(solve, devices, step(device="b"))).placements[0]
    assert (placed.device, placed.fit) == ("b", 1)
    assert [r.reason for r in placed.rejections] == [
        "a is not the requested device b",
        "c is not the requested device b",
    ]


def test_pinned_device_missing_from_the_snapshot(solve: Solver) -> None:
    answer = failed(run(solve, [dev("a")], step(device="ghost")))
    assert answer.message == (
        "0/1 devices fit step 1:m.f: requested device ghost is not registered; "
        "a is not the requested device ghost"
    )
    assert answer.reasons["ghost"] == "requested device ghost is not registered"


def test_filters_run_in_order(solve: Solver) -> None:
    device = dev("e", cores=1, active=False, labels={"zone": "b"})
    pinned_elsewhere = step(device="x", requires=frozenset({"a.b"}), cpu=(1, 1))
    assert (
        failed(run(solve, [device], pinned_elsewhere)).reasons["e"]
        == "e is not the requested device x"
    )
    ask = step(requires=frozenset({"a.b"}), labels={"zone": "a"}, cpu=(1, 1))
    assert failed(run(solve, [device], ask)).reasons["e"] == "e inactive"
    active = dev("e", cores=1, labels={"zone": "b"})
    assert failed(run(solve, [active], ask)).reasons["e"] == "e lacks a.b"
    no_needs = step(labels={"zone": "a"}, cpu=(1, 1))
    assert failed(run(solve, [active], no_needs)).reasons["e"] == "e has zone=b, step needs zone=a"


def test_empty_snapshot(solve: Solver) -> None:
    answer = failed(run(solve, [], step("1:camera.take_image")))
    assert answer.total == 0 and answer.rejections == ()
    assert answer.message == "0/0 devices fit step 1:camera.take_image: no devices are registered"


def test_no_steps_is_an_empty_plan(solve: Solver) -> None:
    assert plan_of(run(solve, [dev("a")])).placements == ()


# --- scorers and strategies --------------------------------------------------------------

# After placing cpu (500,) and 1024Mi: "big" has 8000m, 8192Mi; "small" has 2000m, 2048Mi.
BIG = dev("big", cores=8, memory=8192, core_used=(500,) * 8, memory_used_mb=1024)
SMALL = dev("small", cores=2, memory=2048)
ASK = step(cpu=(500,), memory=1024)


@pytest.mark.parametrize(
    ("scorer", "big", "small"),
    [
        # (cpu_free/cpu_cap + mem_free/mem_cap) / 2
        ("least_allocated", (3500 / 8000 + 6144 / 8192) / 2, (1500 / 2000 + 1024 / 2048) / 2),
        # 1 - |cpu_used - mem_used| / 2
        ("balanced", 1 - abs(4500 / 8000 - 2048 / 8192) / 2, 1 - abs(500 / 2000 - 1024 / 2048) / 2),
        # sum(core_free) / (cores * 100) + mem_free / mem_cap
        ("rohe", 3500 / 800 + 6144 / 8192, 1500 / 200 + 1024 / 2048),
    ],
)
def test_scorer_values(solve: Solver, scorer: str, big: float, small: float) -> None:
    for device, expected in ((BIG, big), (SMALL, small)):
        placed = plan_of(run(solve, [device], ASK, scorer=scorer, strategy="first")).placements[0]
        assert placed.score == pytest.approx(expected)


@pytest.mark.parametrize(
    ("scorer", "spread", "pack"),
    [
        ("least_allocated", "small", "big"),  # 0.625 vs 0.59
        ("balanced", "small", "big"),  # 0.875 vs 0.84
        ("rohe", "small", "big"),  # 8.0 vs 5.125
    ],
)
def test_strategies_pick_by_score(solve: Solver, scorer: str, spread: str, pack: str) -> None:
    devices = [BIG, SMALL]
    assert plan_of(run(solve, devices, ASK, scorer=scorer, strategy="spread")).devices() == (
        spread,
    )
    assert plan_of(run(solve, devices, ASK, scorer=scorer, strategy="pack")).devices() == (pack,)
    assert plan_of(run(solve, devices, ASK, scorer=scorer, strategy="first")).devices() == ("big",)


def test_balanced_with_one_declared_kind_scores_one(solve: Solver) -> None:
    cpu_only = DeviceState("c", core_capacity=(1000,))
    placed = plan_of(run(solve, [cpu_only], step(cpu=(700,)), scorer="balanced")).placements[0]
    assert placed.score == 1.0


def test_ties_go_to_the_lowest_name_whatever_the_snapshot_order(solve: Solver) -> None:
    devices = [dev("c"), dev("a"), dev("b")]
    for strategy in STRATEGIES:
        for scorer in SCORERS:
            plan = plan_of(run(solve, devices, step(cpu=(100,)), strategy=strategy, scorer=scorer))
            assert plan.devices() == ("a",)


def test_spread_spreads_and_pack_packs(solve: Solver) -> None:
    devices = [dev("a", cores=2), dev("b", cores=2)]
    steps = [step(f"{i}:m.f", cpu=(500,), memory=100) for i in range(4)]
    spread = plan_of(run(solve, devices, *steps, strategy="spread"))
    assert spread.devices() == ("a", "b", "a", "b")
    pack = plan_of(run(solve, devices, *steps, strategy="pack"))
    assert pack.devices() == ("a", "a", "a", "a")
    assert [p.cores for p in pack.placements] == [(0,), (1,), (0,), (1,)]
    assert pack.usage() == {"a": Resources(cpu=(1000, 1000), memory_mb=400)}


def test_a_step_strategy_overrides_the_request(solve: Solver) -> None:
    devices = [BIG, SMALL]
    plan = plan_of(run(solve, devices, ASK, step("2:m.f", strategy="first"), strategy="pack"))
    assert plan.devices() == ("big", "big")


def test_later_steps_see_earlier_reservations(solve: Solver) -> None:
    devices = [dev("a", memory=1000), dev("b", memory=1000)]
    steps = [step(f"{i}:m.f", memory=600) for i in range(2)]
    plan = plan_of(run(solve, devices, *steps, strategy="pack"))
    assert plan.devices() == ("a", "b")
    assert [p.fit for p in plan.placements] == [2, 1]
    assert [(r.device, r.reason) for r in plan.placements[1].rejections] == [
        ("a", "a has 400Mi memory free, step needs 600Mi")
    ]
    assert plan.placements[0].rejections == ()
    answer = failed(run(solve, devices, *steps, step("3:m.f", memory=600)))
    assert answer.message == (
        "0/2 devices fit step 3:m.f: a has 400Mi memory free, step needs 600Mi; "
        "b has 400Mi memory free, step needs 600Mi"
    )


def test_same_input_same_plan() -> None:
    devices = [dev(n, cores=c) for n, c in (("d", 2), ("a", 4), ("c", 1), ("b", 8))]
    steps = [step(f"{i}:m.f", cpu=(100 * (i % 3 + 1),), memory=64) for i in range(12)]
    request = PlacementRequest("p", tuple(steps))
    first = place(request, Snapshot(tuple(devices)))
    again = place(request, Snapshot(tuple(reversed(devices))))
    assert first == again == place_reference(request, Snapshot(tuple(devices)))


# --- shape guards ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "words"),
    [
        (PlacementRequest("p", (step(),), strategy="best"), "first, spread, pack"),
        (PlacementRequest("p", (step(),), scorer="most"), "least_allocated, balanced, rohe"),
        (PlacementRequest("p", (step(strategy="worst"),)), "first, spread, pack"),
        (PlacementRequest("p", (step(cpu=(-1,)),)), "0 or more"),
        (PlacementRequest("p", (step(memory=-5),)), "memory_mb"),
    ],
)
def test_bad_requests_are_invalid_documents(
    solve: Solver, request_: PlacementRequest, words: str
) -> None:
    with pytest.raises(InvalidDocument, match=words):
        solve(request_, Snapshot((dev("a"),)))


@pytest.mark.parametrize(
    ("devices", "words"),
    [
        ((dev("a"), dev("a")), "twice"),
        ((dev("a", cores=2, core_used=(1,)),), "one figure per core"),
        ((dev("a", memory=-1),), "0 or more"),
        ((dev("a", accelerator_pct=True),), "0 or more"),
        # one bad device among good ones (the whole-fleet fast check must still notice)
        ((dev("b", cores=0), dev("a", cores=2, core_used=(1,))), "one figure per core"),
        ((dev("b"), dev("c", cores=4), dev("a", memory=1.5)), "0 or more"),
        ((dev("b"), dev("a", cores=1, core_used=(False,))), "0 or more"),
    ],
)
def test_bad_snapshots_are_invalid_documents(
    solve: Solver, devices: tuple[DeviceState, ...], words: str
) -> None:
    with pytest.raises(InvalidDocument, match=words):
        solve(PlacementRequest("p", (step(),)), Snapshot(devices))


def test_rejections_are_the_same_in_any_access_order() -> None:
    devices = (dev("a", memory=1000), dev("b", memory=1000), dev("c", memory=500))
    request = PlacementRequest("p", tuple(step(f"{i}:m.f", memory=300) for i in range(6)))
    fast = plan_of(place(request, Snapshot(devices)))
    sure = plan_of(place_reference(request, Snapshot(devices)))
    for i in (5, 0, 3, 4, 1, 2, 5):
        assert fast.placements[i].rejections == sure.placements[i].rejections
    assert fast.placements[5].rejections == (
        Rejection("c", "c has 200Mi memory free, step needs 300Mi"),
    )
