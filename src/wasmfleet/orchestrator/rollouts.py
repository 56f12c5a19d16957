"""The rollout driver: updates a deployment's copies wave by wave, gates each wave, rolls back.

Rules live in ``core.rollout`` (state table, waves, gate decision); this module does the
I/O they ask for. Every step is stored before and after it happens: which devices are
updated and from which module id (stored *before* the update is sent), the wave reached,
each gate's result. On start, ``resume`` picks up rollouts that were running (the current
wave is sent again: updating a copy to the version it already runs changes nothing) and
finishes any rollback or undo that was under way.

One task per rollout does the work; ``pause``, ``resume`` and ``undo`` change the stored
status under the rollout's lock and wake the task, which re-reads the status after every
await before it writes. Devices dying mid-rollout: a device of the wave being gated that
is not active fails the gate (its update is blamed: the rollout rolls back); a device of
an earlier, passed wave that dies is left out of later gates (``skipped``, with why). A
copy that cannot be put back because its device is down is ``owed``; it is put back when
the device returns (``device_back``) or the orchestrator starts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.rollout import (
    MOVING_FORWARD,
    PUTTING_BACK,
    RolloutEvent,
    RolloutStatus,
    advance,
    judge,
)
from wasmfleet.orchestrator.events import Notify, quiet
from wasmfleet.orchestrator.metrics import OrchestratorMetrics
from wasmfleet.orchestrator.rollout_gate import Gate
from wasmfleet.orchestrator.rollout_plan import RolloutPlanner, options_of
from wasmfleet.orchestrator.rollout_updates import CopyUpdates, device_results
from wasmfleet.orchestrator.store import RolloutRecord, Store

log = logging.getLogger(__name__)

_E = RolloutEvent
MAX_STEPS = 10_000
"""Bound on the steps one task takes (a wave is two steps: update, gate)."""


def _now() -> datetime:
    return datetime.now(UTC)


class RolloutDriver:
    """Starts, runs, pauses, resumes and undoes rollouts; one background task per rollout."""

    def __init__(
        self, store: Store, planner: RolloutPlanner, updater: CopyUpdates, gate: Gate
    ) -> None:
        self.store = store
        self.planner = planner
        self.updater = updater
        self.gate = gate
        self._running: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self.metrics: OrchestratorMetrics | None = None
        self.notify: Notify = quiet
        self.on_rolled_back: Callable[[RolloutRecord], None] = lambda record: None
        self.acting: Callable[[], contextvars.Context | None] | None = None
        """The elector's ``context``: only the leader drives rollouts, under its fence."""

    def changed(self, record: RolloutRecord) -> None:
        """Tell ``notify`` that a rollout was stored."""
        data = {"id": record.id, "deployment": record.deployment, "status": str(record.status)}
        self.notify("rollout", {**data, "wave": record.wave, "waves": len(record.waves)})

    # -- user actions ---------------------------------------------------------------------

    async def start(self, deployment: str, to: str, options: Mapping[str, Any]) -> RolloutRecord:
        """Plan and store a rollout (4xx when it cannot run), then run it in the background."""
        record = await asyncio.to_thread(self.planner.plan, deployment, to, options_of(options))
        stored = await asyncio.to_thread(self.store.add_rollout, record)
        self.changed(stored)
        self._spawn(stored.id)
        return stored

    def get(self, rollout_id: str) -> RolloutRecord:
        """The rollout with this id (NotFound with a sentence)."""
        return self.planner.rollout(rollout_id)

    async def pause(self, rollout_id: str) -> RolloutRecord:
        """Stop after the current step; ``resume`` continues with the next wave."""
        return await self._control(rollout_id, _E.PAUSE, spawn=False)

    async def resume(self, rollout_id: str) -> RolloutRecord:
        """Continue a paused rollout."""
        return await self._control(rollout_id, _E.RESUME, spawn=True)

    async def undo(self, rollout_id: str) -> RolloutRecord:
        """Put every updated copy back on the module it ran before (also after success)."""
        return await self._control(rollout_id, _E.UNDO, spawn=True)

    async def _control(self, rollout_id: str, event: RolloutEvent, *, spawn: bool) -> RolloutRecord:
        async with self._lock(rollout_id):
            record = await asyncio.to_thread(self.get, rollout_id)
            record.status = self.planner.move(record, event)
            if event is _E.UNDO:
                record.reason = "undo asked by a user"
            record = await asyncio.to_thread(self.store.update_rollout, record)
            self.changed(record)
        self._wake.setdefault(rollout_id, asyncio.Event()).set()
        if spawn:
            self._spawn(rollout_id)
        return record

    # -- lifecycle of the service ---------------------------------------------------------

    async def resume_all(self) -> int:
        """After a restart: run the rollouts that were moving and finish rollbacks; count."""
        active = await asyncio.to_thread(
            self.store.list_rollouts, None, sorted(MOVING_FORWARD | PUTTING_BACK), 10_000
        )
        for record in active:
            self._spawn(record.id)
        owed = await asyncio.to_thread(self.store.list_rollouts, None, None, 10_000)
        for record in owed:
            if record.owed and record.id not in self._running:
                self._spawn(record.id)
        return len(active)

    async def device_back(self, device: str) -> None:
        """A device returned: put back the copies owed to it."""
        records = await asyncio.to_thread(self.store.list_rollouts, None, None, 10_000)
        for record in records:
            if device in record.owed:
                self._spawn(record.id)

    async def on_transition(self, transition: Any) -> None:
        """Monitor listener: a device that is active again gets its owed copies back."""
        if transition.status == "active":
            await self.device_back(transition.device)

    async def stop(self) -> None:
        """Cancel the running tasks (their state is stored; ``resume_all`` continues)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._running.clear()

    # -- the task -------------------------------------------------------------------------

    def _lock(self, rollout_id: str) -> asyncio.Lock:
        return self._locks.setdefault(rollout_id, asyncio.Lock())

    def _spawn(self, rollout_id: str) -> None:
        task = self._running.get(rollout_id)
        if task is not None and not task.done():
            return
        context = None
        if self.acting is not None:
            context = self.acting()
            if context is None:
                return  # not the leader: its resume_all picks the stored rollout up
        task = asyncio.get_running_loop().create_task(self._drive(rollout_id), context=context)
        self._running[rollout_id] = task
        task.add_done_callback(lambda t: self._finished(rollout_id, t))

    def _finished(self, rollout_id: str, task: asyncio.Task[None]) -> None:
        if self._running.get(rollout_id) is task:
            del self._running[rollout_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("rollout %s stopped", rollout_id, exc_info=task.exception())

    async def idle(self, rollout_id: str) -> None:
        """Wait until no task works on the rollout (for tests and the benchmark)."""
        task = self._running.get(rollout_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    async def _drive(self, rollout_id: str) -> None:
        """Step the rollout until it waits for a user or is finished."""
        for _ in range(MAX_STEPS):
            if not await self._step(rollout_id):
                return

    async def _step(self, rollout_id: str) -> bool:
        """One step; False when there is nothing more to do now."""
        record = await asyncio.to_thread(self.store.get_rollout, rollout_id)
        if record is None:
            return False
        status = RolloutStatus(record.status)
        if status is RolloutStatus.PENDING:
            await self._save(rollout_id, lambda r: self._event(r, _E.START))
            return True
        if status is RolloutStatus.RUNNING:
            if record.wave >= len(record.waves):
                await self._save(rollout_id, lambda r: self._finish(r, _E.COMPLETED, None))
                return False
            await self._run_wave(record)
            return True
        if status in PUTTING_BACK:
            await self._put_back(record)
            return True
        if record.owed:
            await self._put_back(record)
        return False

    async def _run_wave(self, record: RolloutRecord) -> None:
        deployment = await asyncio.to_thread(self.planner.deployment, record.deployment_id)
        sources = self.planner.sources(deployment, record)
        planned = record.waves[record.wave]
        # A fleet-wide copy leaves with its device (or when the device stops matching): such
        # a device is skipped, not a reason to stop the rollout.
        left = [d for d in planned if d not in sources and d not in record.updated]
        wave = [d for d in planned if d not in left]
        if left or not wave:

            def skip(r: RolloutRecord) -> None:
                for d in left:
                    r.skipped[d] = f"{d} held no copy any more when its wave came"
                if not wave:  # nothing left to update in this wave: on to the next one
                    r.wave += 1

            await self._save(record.id, skip, RolloutStatus.RUNNING)
            if not wave:
                return
        fresh = [d for d in wave if d not in record.updated]
        if fresh:
            marks = await self.gate.mark(fresh)

            def note(r: RolloutRecord) -> None:
                for d in fresh:
                    r.updated[d] = {
                        "from_module_id": sources.get(d),
                        "wave": r.wave,
                        "mark": marks.get(d),
                        "at": _now().isoformat(),
                    }

            if not await self._save(record.id, note, RolloutStatus.RUNNING):
                return
        try:
            answer = await self.updater.update(
                record.deployment, record.module_id, devices=wave, roll_back_on_refusal=True
            )
        except WasmfleetError as err:
            why = f"wave {record.wave + 1} was refused: {err.message}"
            await self._save(
                record.id, lambda r: self._event(r, _E.REFUSED, why), RolloutStatus.RUNNING
            )
            return
        refused = {d: v for d, v in device_results(answer).items() if d in wave and not v.get("ok")}
        if refused:
            name, answered = sorted(refused.items())[0]
            said = answered.get("message") or answered.get("status")
            reason = f"{name} refused the new version: {said}"
            await self._save(
                record.id, lambda r: self._event(r, _E.REFUSED, reason), RolloutStatus.RUNNING
            )
            return
        if not await self._sleep(record, float(record.options.get("pause_s", 0))):
            return
        await self._gate(record.id)

    async def _gate(self, rollout_id: str) -> None:
        record = self.planner.rollout(rollout_id)
        if record.status != RolloutStatus.RUNNING:
            return
        deployment = await asyncio.to_thread(self.planner.deployment, record.deployment_id)
        options = options_of(record.options)
        copy = await asyncio.to_thread(self.planner.copy_of, deployment, record)
        wave = [d for d in record.waves[record.wave] if d not in record.skipped]
        earlier = {d for d, u in record.updated.items() if u.get("wave", 0) < record.wave}
        seen = await self.gate.observe(
            deployment,
            copy,
            wave,
            {d: u.get("mark") for d, u in record.updated.items() if d not in record.skipped},
            self.planner.holders(deployment, copy.module),
            options,
        )
        dead_earlier = await asyncio.to_thread(self.planner.dead, earlier - set(record.skipped))
        result = judge(seen, options)
        entry = {
            "wave": record.wave + 1,
            "devices": wave,
            "passed": result.passed,
            "reason": result.reason,
            "baseline": seen.baseline.to_dict(),
            "candidate": seen.candidate.to_dict(),
            "at": _now().isoformat(),
        }

        def decide(r: RolloutRecord) -> None:
            r.gates.append(entry)
            for name, why in dead_earlier.items():
                r.skipped[name] = f"stopped being active after its wave passed ({why})"
            if result.passed:
                self._event(r, _E.GATE_PASSED)
                r.wave += 1
            else:
                why = f"the gate of wave {r.wave + 1} failed: {result.reason}"
                self._event(r, _E.GATE_FAILED, why)

        await self._save(rollout_id, decide, RolloutStatus.RUNNING)

    async def _put_back(self, record: RolloutRecord) -> None:
        """Put every updated (or owed) copy back on the module id it ran before."""
        todo: dict[str, str] = {}
        for device, info in record.updated.items():
            if info.get("from_module_id") and not info.get("back"):
                todo[device] = str(info["from_module_id"])
        for device, info in record.owed.items():
            todo[device] = str(info.get("module_id"))
        deployment = await asyncio.to_thread(self.store.get_deployment, record.deployment_id)
        holding = {
            str(s.get("device"))
            for s in ((deployment.plan if deployment else None) or {}).get("steps", [])
        }
        left = sorted(d for d in todo if d not in holding)
        groups: dict[str, list[str]] = {}
        for device, module_id in sorted(todo.items()):
            if device in holding:
                groups.setdefault(module_id, []).append(device)
        results: dict[str, dict[str, Any]] = {}
        for module_id, devices in groups.items():
            try:
                answer = await self.updater.update(
                    record.deployment, module_id, devices=devices, roll_back_on_refusal=False
                )
                got = device_results(answer)
                for d in devices:
                    results[d] = got.get(d, {"ok": True})
            except WasmfleetError as err:
                for d in devices:
                    results[d] = {"ok": False, "message": err.message, "raised": True}
        down = await asyncio.to_thread(self.planner.dead, set(todo))

        def done(r: RolloutRecord) -> None:
            failed = []
            for d in left:  # a fleet-wide copy dropped with its device: nothing to put back
                r.owed.pop(d, None)
                if d in r.updated:
                    r.updated[d]["back"] = True
                r.skipped[d] = (
                    f"{d}'s copy left the deployment when {d} went down; when it returns it "
                    "gets the version the step's other copies run"
                )
            for d, res in results.items():
                if d in r.updated:
                    r.updated[d]["back"] = bool(res.get("ok"))
                if res.get("ok"):
                    r.owed.pop(d, None)
                elif d in down:
                    r.owed[d] = {"module_id": todo[d], "reason": f"{d} is down ({down[d]})"}
                else:
                    failed.append(f"{d}: {res.get('message') or res.get('status')}")
            if r.status in PUTTING_BACK:
                if failed:
                    why = "putting copies back failed on " + "; ".join(failed)
                    self._finish(r, _E.BACK_FAILED, why)
                else:
                    self._finish(r, _E.ROLLED_BACK, r.reason)

        await self._save(record.id, done)

    # -- stored changes -------------------------------------------------------------------

    async def _save(
        self, rollout_id: str, change: Any, expect: RolloutStatus | None = None
    ) -> bool:
        """Re-read, apply ``change`` and store, under the rollout's lock; False (nothing
        stored) when the status is no longer ``expect`` (a user paused or undid it)."""
        async with self._lock(rollout_id):
            record = await asyncio.to_thread(self.store.get_rollout, rollout_id)
            if record is None or (expect is not None and record.status != expect):
                return False
            before = record.status
            change(record)
            await asyncio.to_thread(self.store.update_rollout, record)
            self.changed(record)
            if record.status != before and record.status == RolloutStatus.ROLLED_BACK:
                self.on_rolled_back(record)
            return True

    def _event(self, record: RolloutRecord, event: RolloutEvent, reason: str | None = None) -> None:
        record.status = advance(record.status, event)
        if reason is not None:
            record.reason = reason
            log.warning("rollout %s: %s", record.id, reason)

    def _finish(self, record: RolloutRecord, event: RolloutEvent, reason: str | None) -> None:
        self._event(record, event, reason)
        record.finished_at = _now()
        if self.metrics is not None:
            self.metrics.rollout_finished(str(record.status))

    async def _sleep(self, record: RolloutRecord, seconds: float) -> bool:
        """Wait the observation window; False when a user paused or undid the rollout."""
        wake = self._wake.setdefault(record.id, asyncio.Event())
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=max(seconds, 0.0))
        current = await asyncio.to_thread(self.store.get_rollout, record.id)
        return current is not None and current.status == RolloutStatus.RUNNING
