"""Rollouts on both store backends: the table, one active rollout per deployment, planning
refusals, and the driver's sequencing.

The driver tests use an in-memory fake updater and a fake gate: they are unit tests of the
driver's *sequencing* only (what is stored when, which copies are put back, restart
resumption) on a real store. The end-to-end test with the real CopyUpdater and real
supervisors comes with the lead's wiring (docs/rollouts.md, "Wiring").
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

import pytest

from wasmfleet.core.errors import Conflict, InvalidDocument, NotFound, PlacementFailed
from wasmfleet.core.rollout import GateInput, Metrics, RolloutOptions
from wasmfleet.orchestrator.rollout_gate import Copy
from wasmfleet.orchestrator.rollout_plan import RolloutPlanner, options_of
from wasmfleet.orchestrator.rollouts import RolloutDriver
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    DeviceRecord,
    ModuleRecord,
    RolloutRecord,
    Store,
)

DEVICES = ["d1", "d2", "d3", "d4"]
DESCRIPTION = {
    "openapi": "3.0.3",
    "paths": {"/{deployment}/modules/{module}/fibo": {"get": {"responses": {}}}},
}


def _fleet(store: Store, requirements: list[dict[str, str]] | None = None) -> dict[str, str]:
    for name in DEVICES:
        store.upsert_device(DeviceRecord(name=name, interfaces=["sys.millis"]))
    ids = {}
    for version, sha in (("good", "a" * 64), ("bad", "b" * 64)):
        module = store.add_module(
            ModuleRecord(
                name="fibo",
                sha256=sha,
                size=10,
                description=DESCRIPTION,
                requirements=requirements if version == "bad" and requirements else [],
            )
        )
        ids[version] = module.id
    steps = [
        {"step": 0, "module": "fibo", "module_id": ids["good"], "function": "fibo", "device": d}
        for d in DEVICES
    ]
    store.add_deployment(
        DeploymentRecord(name="cams", manifest={}, plan={"steps": steps}, status="active")
    )
    return ids


def _planner(store: Store, ids: dict[str, str]) -> RolloutPlanner:
    def resolve(ref: str) -> ModuleRecord:
        found = store.get_module(ids.get(ref, ref))
        if found is None:
            raise NotFound(f"No module {ref!r}.")
        return found

    return RolloutPlanner(store, resolve)


def test_the_table_keeps_one_active_rollout_per_deployment(orchestrator_store: Store) -> None:
    store = orchestrator_store
    _fleet(store)
    dep = store.get_deployment("cams")
    assert dep is not None
    first = store.add_rollout(
        RolloutRecord(dep.id, "cams", "fibo@2", "m2", waves=[["d1"], ["d2", "d3"]])
    )
    assert first.status == "pending" and first.waves == [["d1"], ["d2", "d3"]]
    assert store.active_rollout(dep.id) == first
    with pytest.raises(Conflict, match="already has an active rollout"):
        store.add_rollout(RolloutRecord(dep.id, "cams", "fibo@3", "m3"))
    first.status = "running"
    first.updated = {"d1": {"from_module_id": "m1", "wave": 0, "mark": None}}
    first.gates = [{"wave": 1, "passed": True, "reason": "fine"}]
    again = store.update_rollout(first)
    assert again.updated == first.updated and again.gates == first.gates
    first.status = "succeeded"
    store.update_rollout(first)
    assert store.active_rollout(dep.id) is None
    second = store.add_rollout(RolloutRecord(dep.id, "cams", "fibo@3", "m3"))
    assert [r.id for r in store.list_rollouts(dep.id)] == [second.id, first.id]
    assert [r.id for r in store.list_rollouts(None, ["succeeded"])] == [first.id]
    assert store.delete_deployment("cams")
    assert store.get_rollout(second.id) is None


def test_planning_refuses_what_cannot_run(orchestrator_store: Store) -> None:
    store = orchestrator_store
    ids = _fleet(store, requirements=[{"module": "camera", "name": "takeImage", "kind": "func"}])
    planner = _planner(store, ids)
    options = RolloutOptions(canary=1, growth=2)
    with pytest.raises(PlacementFailed) as refused:
        planner.plan("cams", "bad", options)
    assert refused.value.reasons["d1"] == "d1 lacks camera.takeImage"
    assert "4 of 4 device(s) cannot run it" in refused.value.message
    with pytest.raises(InvalidDocument, match="already runs"):
        planner.plan("cams", "good", options)
    with pytest.raises(NotFound, match="No deployment 'nope'"):
        planner.plan("nope", "good", options)
    with pytest.raises(InvalidDocument, match="Unknown rollout option"):
        options_of({"canery": 1})
    with pytest.raises(InvalidDocument, match="not a duration"):
        options_of({"pause": "a while"})


class FakeUpdater:
    """Records the update calls; devices in ``down`` answer not ok."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.down: set[str] = set()

    async def update(
        self,
        deployment: str,
        module_ref: str,
        *,
        devices: Collection[str] | None = None,
        roll_back_on_refusal: bool = True,
    ) -> dict[str, dict[str, Any]]:
        self.calls.append((module_ref, sorted(devices or [])))
        return {d: {"ok": d not in self.down, "message": "down"} for d in devices or []}


class FakeGate:
    """Fails the gate of wave ``fail_at`` (0-based) with a high error rate."""

    def __init__(self, fail_at: int | None) -> None:
        self.fail_at = fail_at
        self.waves = 0
        self.kill: Any = None
        """Called with the wave when it fails: a device dying mid-wave."""

    async def mark(self, devices: Collection[str]) -> dict[str, str | None]:
        return {d: None for d in devices}

    async def observe(
        self,
        deployment: DeploymentRecord,
        copy: Copy,
        wave: Collection[str],
        updated: Mapping[str, str | None],
        everyone: Collection[str],
        options: RolloutOptions,
    ) -> GateInput:
        self.waves += 1
        bad = self.fail_at is not None and self.waves - 1 == self.fail_at
        if bad and self.kill is not None:
            return GateInput(Metrics(100, 0, 1.0), Metrics(), dead=self.kill(sorted(wave)))
        return GateInput(Metrics(100, 0, 1.0), Metrics(10, 10 if bad else 0, 1.0))


def _run(store: Store, fail_at: int | None, kill: str | None = None) -> Any:
    ids = _fleet(store)
    updater = FakeUpdater()
    gate = FakeGate(fail_at)
    if kill is not None:

        def dies(wave: list[str]) -> dict[str, str]:
            store.set_device_status(kill, "dead", "no heartbeat for 3 s")
            updater.down = {kill}
            return {kill: "dead: no heartbeat for 3 s"}

        gate.kill = dies
    driver = RolloutDriver(store, _planner(store, ids), updater, gate)

    async def go() -> RolloutRecord:
        started = await driver.start("cams", "bad", {"canary": 1, "growth": 2, "pause": 0})
        await driver.idle(started.id)
        return driver.get(started.id)

    return asyncio.run(go()), updater, ids, driver


def test_every_wave_passes(orchestrator_store: Store) -> None:
    record, updater, ids, _ = _run(orchestrator_store, fail_at=None)
    assert record.status == "succeeded" and record.wave == 3
    assert updater.calls == [(ids["bad"], ["d1"]), (ids["bad"], ["d2", "d3"]), (ids["bad"], ["d4"])]
    assert [g["passed"] for g in record.gates] == [True, True, True]
    assert set(record.updated) == set(DEVICES)


def test_a_failed_gate_puts_every_updated_copy_back(orchestrator_store: Store) -> None:
    record, updater, ids, _ = _run(orchestrator_store, fail_at=1)
    assert record.status == "rolled_back"
    assert "the gate of wave 2 failed: the error rate of the new version is 100 %" in record.reason
    assert updater.calls[-1] == (ids["good"], ["d1", "d2", "d3"])
    assert "d4" not in record.updated
    assert all(u["back"] for u in record.updated.values())


def test_a_copy_on_a_dead_device_is_owed_until_it_returns(orchestrator_store: Store) -> None:
    store = orchestrator_store
    record, updater, ids, driver = _run(store, fail_at=1, kill="d2")
    assert record.status == "rolled_back" and set(record.owed) == {"d2"}
    assert "d2 stopped being active after its update" in record.reason
    assert record.owed["d2"] == {"module_id": ids["good"], "reason": "d2 is down (dead)"}
    assert record.updated["d1"]["back"] and record.updated["d3"]["back"]
    updater.down = set()
    store.set_device_status("d2", "active", "back")

    async def back() -> RolloutRecord:
        await driver.device_back("d2")
        await driver.idle(record.id)
        return driver.get(record.id)

    after = asyncio.run(back())
    assert after.owed == {} and after.status == "rolled_back"
    assert updater.calls[-1] == (ids["good"], ["d2"])


def test_a_restart_finishes_a_rollback_that_was_under_way(orchestrator_store: Store) -> None:
    store = orchestrator_store
    ids = _fleet(store)
    dep = store.get_deployment("cams")
    assert dep is not None
    stored = store.add_rollout(
        RolloutRecord(
            dep.id,
            "cams",
            "bad",
            ids["bad"],
            status="rolling_back",
            waves=[["d1"], ["d2", "d3", "d4"]],
            updated={"d1": {"from_module_id": ids["good"], "wave": 0, "mark": None}},
            reason="the gate of wave 1 failed",
        )
    )
    updater = FakeUpdater()
    driver = RolloutDriver(store, _planner(store, ids), updater, FakeGate(None))

    async def restart() -> RolloutRecord:
        assert await driver.resume_all() == 1
        await driver.idle(stored.id)
        return driver.get(stored.id)

    after = asyncio.run(restart())
    assert after.status == "rolled_back" and after.reason == "the gate of wave 1 failed"
    assert updater.calls == [(ids["good"], ["d1"])]


def test_pause_resume_and_undo(orchestrator_store: Store) -> None:
    store = orchestrator_store
    ids = _fleet(store)
    updater = FakeUpdater()
    driver = RolloutDriver(store, _planner(store, ids), updater, FakeGate(None))

    async def go() -> list[str]:
        started = await driver.start("cams", "bad", {"canary": 1, "pause": "30s"})
        seen = []
        for _ in range(200):
            if driver.get(started.id).updated:
                break
            await asyncio.sleep(0.01)
        seen.append((await driver.pause(started.id)).status)
        await driver.idle(started.id)
        seen.append(driver.get(started.id).status)
        with pytest.raises(Conflict, match="cannot be paused now"):
            await driver.pause(started.id)
        seen.append((await driver.undo(started.id)).status)
        await driver.idle(started.id)
        seen.append(driver.get(started.id).status)
        return seen

    assert asyncio.run(go()) == ["paused", "paused", "undoing", "undone"]
    assert updater.calls == [(ids["bad"], ["d1"]), (ids["good"], ["d1"])]


def test_a_device_whose_copy_left_before_its_wave_is_skipped(orchestrator_store: Store) -> None:
    """A fleet-wide copy leaves with its device: its wave goes on without it (sequencing only,
    with the fake updater and gate above)."""
    store = orchestrator_store
    ids = _fleet(store)
    updater = FakeUpdater()
    gate = FakeGate(None)
    observe = gate.observe

    async def leaving(*args: Any) -> GateInput:
        if gate.waves == 0:  # after the canary: d3's copy leaves the plan
            dep = store.get_deployment("cams")
            assert dep is not None and dep.plan is not None
            dep.plan["steps"] = [s for s in dep.plan["steps"] if s["device"] != "d3"]
            store.update_deployment(dep)
        return await observe(*args)

    gate.observe = leaving  # type: ignore[method-assign]
    driver = RolloutDriver(store, _planner(store, ids), updater, gate)

    async def go() -> RolloutRecord:
        started = await driver.start("cams", "bad", {"canary": 1, "growth": 2, "pause": 0})
        await driver.idle(started.id)
        return driver.get(started.id)

    record = asyncio.run(go())
    assert record.status == "succeeded", record.reason
    assert updater.calls == [(ids["bad"], ["d1"]), (ids["bad"], ["d2"]), (ids["bad"], ["d4"])]
    assert set(record.skipped) == {"d3"} and "no copy" in record.skipped["d3"]
    assert [g["devices"] for g in record.gates] == [["d1"], ["d2"], ["d4"]]
