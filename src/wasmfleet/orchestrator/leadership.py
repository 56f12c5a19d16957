"""The leader elector: one orchestrator of those sharing a database runs the work that must
happen once (docs/scale-out.md).

Every ``ttl/3`` seconds a round (``Store.lease_round``, one transaction) renews this
process' lease or takes over an expired one, by the rules of ``core/leadership.py``. When it
becomes leader, ``on_gained`` callbacks start the leader-only work inside ``fenced(n)``
(store/fence.py), so every write that work makes is checked against the lease; when it
stops leading — superseded, or its lease ran out by its own monotonic clock before a renewal
succeeded (database unreachable, process paused) — ``on_lost`` callbacks stop that work
before it may lead again. ``fence()`` answers None as soon as the lease's end passes by this
process' clock, before any round runs: a process woken from SIGSTOP does not act first; if its
next round finds the lease still its own (nobody took over), it goes on leading.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from wasmfleet.core.leadership import (
    Lease,
    Role,
    RoleEvent,
    event_of,
    renew_every,
    role_after,
)
from wasmfleet.orchestrator.store import Store
from wasmfleet.orchestrator.store.fence import FENCE
from wasmfleet.orchestrator.store.leases import Round

log = logging.getLogger(__name__)

Callback = Callable[[int], Awaitable[None]]


class LeaderElector:
    """Competes for the ``leader`` lease; tells callbacks when leadership is gained and lost."""

    def __init__(
        self,
        store: Store,
        me: str,
        ttl_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.me = me
        self.ttl_s = ttl_s
        self.clock = clock
        self.exclusive = False
        """True when no other orchestrator process can use this database (SQLite with its
        lock file held): a lease a previous process left is taken at once."""
        self.role = Role.FOLLOWER
        self.fencing: int | None = None
        self.since: datetime | None = None
        """When this process took the lease (the database's clock)."""
        self.lease: Lease | None = None
        """The lease row as last read."""
        self.gained = 0
        """Times this process took the lease."""
        self.lost = 0
        """Times it lost it (superseded or expired; a release on stop is not counted)."""
        self.on_gained: list[Callback] = []
        self.on_lost: list[Callable[[], Awaitable[None]]] = []
        self._valid_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    # -- what others ask ------------------------------------------------------------------

    def fence(self) -> int | None:
        """The fencing number to act under now; None when this process must not act as leader
        (it follows, or its lease may have ended by its own clock)."""
        if self.role is Role.LEADER and self.clock() < self._valid_until:
            return self.fencing
        return None

    @property
    def leading(self) -> bool:
        """True while this process may act as the leader."""
        return self.fence() is not None

    def context(self) -> contextvars.Context | None:
        """A context whose tasks and threads write under this leader's fence; None when not
        leading (the caller must then leave the work to the leader)."""
        fencing = self.fence()
        if fencing is None:
            return None
        ctx = contextvars.copy_context()
        ctx.run(FENCE.set, fencing)
        return ctx

    def view(self) -> dict[str, Any]:
        """Who leads, for /api/v1/status."""
        lease = self.lease
        return {
            "me": self.me,
            "leading": self.leading,
            "role": str(self.role),
            "holder": lease.holder if lease else None,
            "fencing": lease.fencing if lease else None,
            "expires_at": lease.expires_at.isoformat() if lease and lease.expires_at else None,
            "since": self.since.isoformat() if self.since and self.leading else None,
            "ttl_s": self.ttl_s,
            "gained": self.gained,
            "lost": self.lost,
            "refused_writes": self.store.refused_writes,
        }

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Run one round now (a lone orchestrator leads before ``start`` returns), then keep
        renewing in the background."""
        await self.round()
        self._task = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        """Stop competing; a leader stops its work and lets the lease expire now."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.role is Role.LEADER:
            fencing = self.fencing
            await self._step_down(RoleEvent.RELEASED)
            if fencing is not None:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.release_lease, self.me, fencing)

    async def _run(self) -> None:
        """Rounds every ``ttl/3``. Past its lease by its own clock a leader does not act
        (``fence`` is None) until a round renews it; a round that finds the lease moved on, or
        that fails or hangs for a further ``ttl`` (the database is gone), makes it step down."""
        every = renew_every(self.ttl_s)
        while True:
            await asyncio.sleep(every)
            pending = asyncio.ensure_future(self.round())
            give_up = max(self._valid_until, self.clock()) + self.ttl_s
            while not pending.done():
                wait = None
                if self.role is Role.LEADER:
                    wait = max(give_up - self.clock(), 0.0)
                done, _ = await asyncio.wait({pending}, timeout=wait)
                if not done and self.role is Role.LEADER and wait == 0.0:
                    await self._step_down(RoleEvent.EXPIRED)
            pending.result()

    async def round(self) -> None:
        """One election round; moves the role and calls the callbacks."""
        role, mine, started = self.role, self.fencing, self.clock()
        try:
            result: Round = await asyncio.to_thread(
                self.store.lease_round, self.me, mine, self.ttl_s, exclusive=self.exclusive
            )
        except Exception as err:  # the database is unreachable: try again next round
            if not self._failing:
                log.warning("leader election round failed: %s", err)
            self._failing = True
            if self.role is Role.LEADER and self.fencing == mine and not self.leading:
                await self._step_down(RoleEvent.EXPIRED)
            return
        if self._failing:
            log.info("leader election rounds work again")
        self._failing = False
        self.lease = result.lease
        if self.role is not role or self.fencing != mine:
            return  # stepped down while the round ran: the next round starts afresh
        event = event_of(role, result.decision, result.won)
        if event is RoleEvent.RENEWED:
            self._valid_until = started + self.ttl_s
        elif event is RoleEvent.TOOK:
            self.fencing, self.since = result.lease.fencing, result.now
            self._valid_until = started + self.ttl_s
            self.role = role_after(role, event)
            self.gained += 1
            log.warning(
                "this orchestrator leads now (fencing number %d)",
                result.lease.fencing,
                extra={"holder": self.me, "fencing": result.lease.fencing},
            )
            for callback in self.on_gained:
                try:
                    await callback(result.lease.fencing)
                except Exception:
                    log.exception("starting leader-only work failed")
        elif event is RoleEvent.SUPERSEDED:
            await self._step_down(event)

    async def _step_down(self, event: RoleEvent) -> None:
        """Stop leader-only work (``lost``), then follow."""
        fencing = self.fencing
        if event is not RoleEvent.RELEASED:
            self.role = role_after(self.role, event)
            lease = self.lease
            why = (
                f"the lease is held by {lease.holder} under number {lease.fencing}"
                if event is RoleEvent.SUPERSEDED and lease is not None
                else "its lease ran out and the database did not answer a renewal"
            )
            log.warning(
                "this orchestrator no longer leads (%s); stopping leader-only work",
                why,
                extra={"holder": self.me, "fencing": fencing},
            )
        self._valid_until = 0.0
        if event is not RoleEvent.RELEASED:
            self.lost += 1
        for callback in self.on_lost:
            try:
                await callback()
            except Exception:
                log.exception("stopping leader-only work failed")
        if self.role is Role.LOST:
            self.role = role_after(self.role, RoleEvent.STEPPED_DOWN)
        else:
            self.role = role_after(self.role, RoleEvent.RELEASED)
        self.fencing = None
