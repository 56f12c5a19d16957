"""The scheduler loop: fire installed apps' schedules, each fire exactly once.

Every ``schedule_tick_s`` it reads the installs whose ``next_fire`` has come (at most
``MAX_PER_TICK``, earliest first), asks ``core.schedule_due.due`` what to do, and for a fire
to act on first *claims* it by inserting its key into ``schedule_fires``: the insert of only
one orchestrator succeeds, the others skip the fire (their next read sees it handled). Then:

- mode ``run``: the app (deployed when installed) runs once from its first step;
- mode ``window``: the app is deployed when a window opens, and removed when it closes (the
  close is claimed too, under the opening's key plus ``/close``).

The outcome is recorded on the fire's row, the install's cursor (``last_fire``), run count
(``fired``), ``next_fire`` and status (the lifecycle table of core/schedule_due.py) move on,
and a fire passed while no orchestrator ran follows the schedule's ``missed`` policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wasmfleet.core.errors import NotFound, WasmfleetError
from wasmfleet.core.schedule import Mode, Schedule
from wasmfleet.core.schedule_due import Decision, ScheduleEvent, due, fire_key, schedule_next
from wasmfleet.orchestrator.installs import InstallService, schedule_of
from wasmfleet.orchestrator.store.installs import InstallRecord
from wasmfleet.orchestrator.store.records import new_id

if TYPE_CHECKING:
    from wasmfleet.orchestrator.store import Store

log = logging.getLogger(__name__)

MAX_PER_TICK = 100
"""The most installs one tick handles (the rest wait for the next tick)."""
PARALLEL = 8
"""Installs handled at once within a tick."""


def orchestrator_id() -> str:
    """Who claims fires: host, process and a random part (unique per orchestrator)."""
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


class Scheduler:
    """Fires the schedules of installed apps (one per orchestrator; claims make it safe)."""

    def __init__(self, store: Store, installs: InstallService, tick_s: float) -> None:
        self.store = store
        self.installs = installs
        self.tick_s = tick_s
        self.name = orchestrator_id()
        self.claimed = 0
        """Fires this orchestrator won."""
        self.lost = 0
        """Fires another orchestrator had already claimed."""

    async def run(self) -> None:
        """Tick until cancelled; an error in one tick is logged, never ends the loop."""
        if self.tick_s <= 0:
            return
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler tick failed")
            await asyncio.sleep(self.tick_s)

    async def tick(self, now: datetime | None = None) -> int:
        """Handle every due install once; how many were due."""
        moment = now or datetime.now(UTC)
        found = await asyncio.to_thread(self.store.due_installs, moment, MAX_PER_TICK)
        gate = asyncio.Semaphore(PARALLEL)

        async def one(install: InstallRecord) -> None:
            async with gate:
                try:
                    await self.handle(install, moment)
                except NotFound:
                    pass  # uninstalled meanwhile
                except WasmfleetError as err:
                    log.warning("schedule of %s: %s", install.name, err.message)

        await asyncio.gather(*(one(i) for i in found))
        return len(found)

    async def handle(self, install: InstallRecord, now: datetime) -> None:
        """Act on one due install."""
        schedule, _ = schedule_of(install)
        if schedule is None:
            await self._save(install, next_fire=None)
            return
        decision = due(schedule, install.last_fire, now, fired=install.fired)
        if schedule.mode is Mode.WINDOW:
            await self._window(install, schedule, decision, now)
        else:
            await self._run(install, decision)

    async def _run(self, install: InstallRecord, d: Decision) -> None:
        if d.fire is None:
            await self._pass(install, d)
            return
        key = fire_key(install.id, d.fire)
        if not await self._claim(install, key, d.fire):
            return
        status = _move(install.status, ScheduleEvent.FIRE)
        install = await self._save(install, status=status, last_fire=d.cursor)
        outcome, detail = await self.installs.run(install, key)
        fired = install.fired + 1
        status = _move(status, ScheduleEvent.DONE)
        changes: dict[str, Any] = {"fired": fired, "next_fire": d.next_fire}
        changes["reason"] = None if outcome == "ok" else detail
        if d.next_fire is None:
            status = _move(status, ScheduleEvent.FINISH)
        await self._save(install, status=status, **changes)

    async def _window(
        self, install: InstallRecord, schedule: Schedule, d: Decision, now: datetime
    ) -> None:
        if d.fire is not None:
            key = fire_key(install.id, d.fire)
            if not await self._claim(install, key, d.fire):
                return
            status = _move(_resumed(install.status), ScheduleEvent.FIRE)
            install = await self._save(install, status=status, last_fire=d.cursor)
            outcome, detail = "ok", "deployed"
            try:
                if not install.deployment_id:
                    install, ok = await self.installs.deploy(install)
                    if not ok:
                        outcome, detail = "failed", install.reason or "the deploy failed"
            except WasmfleetError as err:
                outcome, detail = "failed", err.message
            await asyncio.to_thread(self.store.finish_fire, key, outcome, detail)
            if outcome != "ok":
                self.installs.tell("app.failed", install, f"{install.name}: {detail}")
                status = _move(status, ScheduleEvent.FAIL)
            await self._save(
                install,
                status=status,
                fired=install.fired + 1,
                reason=None if outcome == "ok" else detail,
                next_fire=d.closes_at if outcome == "ok" else d.next_fire,
            )
            return
        if d.inside and d.closes_at is not None:
            await self._save(install, next_fire=d.closes_at)  # a merged window lasts longer
            return
        if install.deployment_id and install.last_fire is not None:
            key = fire_key(install.id, install.last_fire) + "/close"
            if not await self._claim(install, key, now):
                return
            install = await self.installs.undeploy(install)
            await asyncio.to_thread(self.store.finish_fire, key, "ok", "window closed")
            if install.status == "active":
                install = await self._save(install, status=_move("active", ScheduleEvent.DONE))
        await self._pass(install, d)

    async def _pass(self, install: InstallRecord, d: Decision) -> None:
        """Nothing to run now: record a fire the ``skip`` policy passed over, move on."""
        if d.skipped and d.cursor is not None:
            key = fire_key(install.id, d.cursor)
            if await self._claim(install, key, d.cursor):
                detail = f"missed while no orchestrator ran ({d.missed} fire(s)); policy skip"
                await asyncio.to_thread(self.store.finish_fire, key, "skipped", detail)
        changes: dict[str, Any] = {"last_fire": d.cursor, "next_fire": d.next_fire}
        if d.finished or d.next_fire is None:
            changes["status"] = _move(_resumed(install.status), ScheduleEvent.FINISH)
            changes["next_fire"] = None
        await self._save(install, **changes)

    async def _claim(self, install: InstallRecord, key: str, at: datetime) -> bool:
        won: bool = await asyncio.to_thread(self.store.claim_fire, key, install.id, at, self.name)
        if won:
            self.claimed += 1
        else:
            self.lost += 1
        return won

    async def _save(self, install: InstallRecord, **changes: Any) -> InstallRecord:
        saved = await asyncio.to_thread(self.store.update_install, install, **changes)
        if "status" in changes and changes["status"] != install.status:
            self.installs.changed(saved)
        return saved


def _move(status: str, event: ScheduleEvent) -> str:
    """The status after ``event``; a status outside the table (``deploying``) stays put."""
    with contextlib.suppress(WasmfleetError):
        return str(schedule_next(status, event))
    return status


def _resumed(status: str) -> str:
    return _move(status, ScheduleEvent.RESUME) if status == "failed" else status
