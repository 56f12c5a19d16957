"""Placement of steps that need wasmfleet features, and of functions repeated in a pipeline.

Original wasmiot supervisors (``DeviceState.wasmiot``) take no step that needs a wasmfleet
feature (``StepRequest.features``), each rejection naming the feature; a device serves each
module function once per deployment, so steps repeating one go to different devices. Both
solvers (numpy and reference) are checked, as in test_placement.py.
"""

from __future__ import annotations

from tests.unit.test_placement import Solver, dev, failed, plan_of, run, solve, step
from wasmfleet.core.placement import StepRequest, offers

__all__ = ["solve"]  # the fixture, parametrized over both solvers


def test_offers_a_whole_module() -> None:
    # An original wasmiot supervisor links all of WASI preview1 whatever it lists.
    wasi = frozenset({"wasi_snapshot_preview1.*"})
    assert offers(wasi, "wasi_snapshot_preview1.fd_fdstat_get")
    assert not offers(wasi, "camera.takeImageDynamicSize")
    assert not offers(wasi, "fd_write")


def test_an_original_wasmiot_device_runs_no_wasmfleet_feature(solve: Solver) -> None:
    devices = [dev("orig", wasmiot=True), dev("ours")]
    needs = ("hold a fencing lease (stateful: true)", "publish results to MQTT (publish)")
    placed = plan_of(run(solve, devices, step(features=needs))).placements[0]
    assert placed.device == "ours"
    assert [r.reason for r in placed.rejections] == [
        "orig is an original wasmiot supervisor, which cannot hold a fencing lease "
        "(stateful: true) +1 more"
    ]
    # without features it is a device like any other
    pinned = plan_of(run(solve, devices, step(device="orig"))).placements[0]
    assert pinned.device == "orig"
    alone = failed(run(solve, [dev("orig", wasmiot=True)], step(features=needs[1:])))
    assert alone.message == (
        "0/1 devices fit step 1:m.f: orig is an original wasmiot supervisor, which cannot "
        "publish results to MQTT (publish)"
    )


def test_the_dialect_filter_comes_before_interfaces(solve: Solver) -> None:
    orig = dev("orig", wasmiot=True)
    ask = step(features=("run a store-and-forward bridge",), requires=frozenset({"a.b"}))
    assert failed(run(solve, [orig], ask)).reasons["orig"] == (
        "orig is an original wasmiot supervisor, which cannot run a store-and-forward bridge"
    )


def test_a_repeated_function_goes_to_another_device(solve: Solver) -> None:
    # fibo -> fibo: a device serves each module function once per deployment.
    devices = [dev("a"), dev("b")]
    first = step("1:fibo.fibo", function="fibo", strategy="first")
    second = step("2:fibo.fibo", function="fibo", strategy="first")
    plan = plan_of(run(solve, devices, first, second))
    assert plan.devices() == ("a", "b")
    assert [r.reason for r in plan.placements[1].rejections] == [
        "a already serves m.fibo for step 1:fibo.fibo (a device serves each module "
        "function once per deployment)"
    ]
    third = step("3:fibo.fibo", function="fibo")
    answer = failed(run(solve, devices, first, second, third))
    assert answer.step_name == "3:fibo.fibo"
    assert answer.reasons == {
        "a": "a already serves m.fibo for step 1:fibo.fibo (a device serves each module "
        "function once per deployment)",
        "b": "b already serves m.fibo for step 2:fibo.fibo (a device serves each module "
        "function once per deployment)",
    }


def test_a_repeated_function_pinned_to_one_device_is_refused(solve: Solver) -> None:
    devices = [dev("a"), dev("b")]
    first = step("1:fibo.fibo", function="fibo", device="a")
    again = step("2:fibo.fibo", function="fibo", device="a")
    answer = failed(run(solve, devices, first, again))
    assert answer.reasons["a"] == (
        "a already serves m.fibo for step 1:fibo.fibo (a device serves each module "
        "function once per deployment)"
    )
    other = step("2:fibo.other", function="other", device="a")  # another function: fine
    assert plan_of(run(solve, devices, first, other)).devices() == ("a", "a")


def test_bridge_steps_serve_no_function(solve: Solver) -> None:
    bridge = StepRequest(name="1:bridge", module="", function="")
    again = StepRequest(name="2:bridge", module="", function="", device="a")
    assert plan_of(run(solve, [dev("a")], bridge, again)).devices() == ("a", "a")
