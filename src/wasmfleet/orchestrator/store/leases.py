"""Lease rows: one election round, release, and reading who leads (core/leadership.py rules).

Each round is one write transaction: read the row (``FOR UPDATE`` on PostgreSQL), read the
database's clock, decide, and write with a compare-and-set on the fencing number read, so
two orchestrators cannot both take one expired lease. Expiry uses the database's clock
(``clock_timestamp()`` on PostgreSQL; SQLite is one machine, so this process' clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.engine import Connection

from wasmfleet.core.leadership import LEADER_LEASE, Decision, Lease, decide, next_lease, released
from wasmfleet.orchestrator.store.base import StoreBase, as_utc, utcnow
from wasmfleet.orchestrator.store.schema import leases


@dataclass(frozen=True, slots=True)
class Round:
    """What one election round found and did."""

    decision: Decision
    lease: Lease
    """The row after the round (as written when ``won``, else as read)."""
    won: bool
    """True when this round wrote the row (renewed or took it)."""
    now: datetime
    """The database's clock during the round."""


def _lease(row: Row[Any]) -> Lease:
    return Lease(row.name, row.holder, int(row.fencing), row.expires_at, row.renewed_at)


class LeaseQueries(StoreBase):
    """The leader lease: election rounds, release, and who holds it."""

    def get_lease(self, name: str = LEADER_LEASE) -> Lease | None:
        """The lease row, or None when it does not exist."""
        with self._read() as conn:
            row = conn.execute(select(leases).where(leases.c.name == name)).first()
            return _lease(row) if row is not None else None

    def lease_round(
        self,
        me: str,
        mine: int | None,
        ttl_s: float,
        *,
        exclusive: bool = False,
        name: str = LEADER_LEASE,
    ) -> Round:
        """One round for ``me`` (holding fencing ``mine``, None when following): renew or take
        over if ``decide`` says so. A leader never takes a new number here: a row that is no
        longer its own means it was superseded, and it must stop its work first."""
        with self._write() as conn:
            lease = self._locked(conn, name)
            now = _db_now(conn)
            decision = decide(lease, now, me, mine, exclusive=exclusive)
            if decision is Decision.FOLLOW or (mine is not None and decision is Decision.TAKE):
                return Round(decision, lease, False, now)
            after = next_lease(lease, decision, me, now, ttl_s)
            won = _swap(conn, lease, after)
            return Round(decision, after if won else lease, won, now)

    def release_lease(self, me: str, mine: int, name: str = LEADER_LEASE) -> bool:
        """Let the lease expire now if ``me`` still holds it under ``mine``; True if released."""
        with self._write() as conn:
            lease = self._locked(conn, name)
            if lease.holder != me or lease.fencing != mine:
                return False
            return _swap(conn, lease, released(lease, _db_now(conn)))

    def _locked(self, conn: Connection, name: str) -> Lease:
        query = select(leases).where(leases.c.name == name).with_for_update()
        row = conn.execute(query).first()
        if row is None:  # the leader row is made by migration 10; other names on first use
            conn.execute(leases.insert().values(name=name, holder=None, fencing=0))
            return Lease(name, None, 0, None)
        return _lease(row)


def _db_now(conn: Connection) -> datetime:
    if conn.dialect.name == "postgresql":
        value = conn.scalar(select(func.clock_timestamp()))
        assert isinstance(value, datetime)
        return as_utc(value)
    return utcnow()


def _swap(conn: Connection, before: Lease, after: Lease) -> bool:
    """Write ``after`` if the row still holds ``before``'s fencing number."""
    done = conn.execute(
        update(leases)
        .where(leases.c.name == before.name, leases.c.fencing == before.fencing)
        .values(
            holder=after.holder,
            fencing=after.fencing,
            expires_at=after.expires_at,
            renewed_at=after.renewed_at,
        )
    )
    return bool(done.rowcount == 1)
