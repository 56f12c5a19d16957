"""Leadership over a shared database: one lease row with a fencing number (pure rules, no I/O).

Several orchestrators may serve one PostgreSQL database; the work that must happen once
(failure detection and healing, rollouts, schedules, retention) runs on the one that holds
the lease row ``leader``: ``holder``, ``fencing`` and ``expires_at``. Every renew period each
orchestrator reads the row and ``decide`` says what to do:

- ``RENEW``: it is mine (my holder id *and* my fencing number): push ``expires_at`` on;
- ``TAKE``: nobody holds it, or the holder let it expire: hold it with ``fencing + 1``;
- ``FOLLOW``: another orchestrator holds a lease that has not expired.

The store writes the new row with a compare-and-set on the fencing number it read, so two
orchestrators taking an expired lease at once cannot both win. A write that acts on
leadership carries the fencing number it was started under and is refused when the row holds
another: a leader paused past its lease (SIGSTOP, a long GC) cannot act after a successor took
over. Expiry is judged on the database's clock, so orchestrators' clocks need not agree.

The local role of an orchestrator is a state table::

    follower ──TOOK──► leader ──RENEWED──► leader
    leader ──SUPERSEDED | EXPIRED──► lost ──STEPPED_DOWN──► follower
    leader ──RELEASED──► follower

``SUPERSEDED``: the row names another holder or fencing; ``EXPIRED``: no renewal succeeded
before the lease's end by this process' own monotonic clock (the database is unreachable,
or the process was paused). In ``lost`` the leader-only work is being stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from wasmfleet.core.state_table import next_state

LEADER_LEASE = "leader"
"""The name of the lease row the orchestrators compete for."""


@dataclass(frozen=True, slots=True)
class Lease:
    """One lease row as stored."""

    name: str
    holder: str | None
    fencing: int
    expires_at: datetime | None
    renewed_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """True when nobody holds it or its time is up at ``now``."""
        return self.holder is None or self.expires_at is None or self.expires_at <= now


class Decision(StrEnum):
    """What an orchestrator does with the lease row it read."""

    RENEW = "renew"
    TAKE = "take"
    FOLLOW = "follow"


def decide(
    lease: Lease, now: datetime, me: str, mine: int | None, *, exclusive: bool = False
) -> Decision:
    """Renew, take over or follow, given the row, the database's ``now``, my holder id and
    the fencing number I hold (None when I do not lead). ``exclusive``: no other
    orchestrator process can be running (SQLite with its file lock held), so a lease left
    by a previous process is taken at once instead of after it expires."""
    if mine is not None and lease.holder == me and lease.fencing == mine:
        return Decision.RENEW
    if exclusive or lease.expired(now):
        return Decision.TAKE
    return Decision.FOLLOW


def next_lease(lease: Lease, decision: Decision, me: str, now: datetime, ttl_s: float) -> Lease:
    """The row to write after ``decision`` (the same row for ``FOLLOW``)."""
    until = now + timedelta(seconds=ttl_s)
    if decision is Decision.RENEW:
        return Lease(lease.name, me, lease.fencing, until, now)
    if decision is Decision.TAKE:
        return Lease(lease.name, me, lease.fencing + 1, until, now)
    return lease


def released(lease: Lease, now: datetime) -> Lease:
    """The row a leader writes when it stops: expired now, so a successor need not wait."""
    return Lease(lease.name, lease.holder, lease.fencing, now, lease.renewed_at)


class Role(StrEnum):
    """This orchestrator's part in the election."""

    FOLLOWER = "follower"
    LEADER = "leader"
    LOST = "lost"
    """It led, and no longer does: its leader-only work is being stopped."""


class RoleEvent(StrEnum):
    """What happened to this orchestrator's claim."""

    TOOK = "took"
    RENEWED = "renewed"
    SUPERSEDED = "superseded"
    EXPIRED = "expired"
    RELEASED = "released"
    STEPPED_DOWN = "stepped_down"


ROLES: dict[tuple[Role, RoleEvent], Role] = {
    (Role.FOLLOWER, RoleEvent.TOOK): Role.LEADER,
    (Role.LEADER, RoleEvent.RENEWED): Role.LEADER,
    (Role.LEADER, RoleEvent.SUPERSEDED): Role.LOST,
    (Role.LEADER, RoleEvent.EXPIRED): Role.LOST,
    (Role.LEADER, RoleEvent.RELEASED): Role.FOLLOWER,
    (Role.LOST, RoleEvent.STEPPED_DOWN): Role.FOLLOWER,
}
"""The role table: ``(role, event) -> role``; any other pair is IllegalTransition."""


def role_after(role: Role, event: RoleEvent) -> Role:
    """The role after ``event`` (IllegalTransition for a move the table lacks)."""
    return next_state(ROLES, Role, role, event, "leadership role")


def event_of(role: Role, decision: Decision, won: bool) -> RoleEvent | None:
    """The role event a round's outcome means: ``decision`` and whether its write ``won``
    (the compare-and-set found the row unchanged); None when nothing changes."""
    if role is Role.LEADER:
        return RoleEvent.RENEWED if decision is Decision.RENEW and won else RoleEvent.SUPERSEDED
    if role is Role.FOLLOWER and decision is Decision.TAKE and won:
        return RoleEvent.TOOK
    return None


def renew_every(ttl_s: float) -> float:
    """Seconds between rounds: a third of the lease, so two rounds may fail before it ends
    and a successor takes over at most ``ttl + ttl/3`` after the leader's last renewal."""
    return ttl_s / 3
