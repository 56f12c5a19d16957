"""Retention: delete the oldest log entries and executions, by age and by count, in batches.

Both tables are pruned oldest first in their own order: logs by ``(time, id)``, executions
by ``(started_at, id)``. "Older than T" and "beyond the newest N" each select a prefix of
that order, so a round deletes the rows up to one ``Cutoff`` (the longer of the two
prefixes) in batches of its own short transactions, and never touches a newer row or any
other table. ``DELETE ... WHERE id IN (SELECT id ... ORDER BY ... LIMIT n)`` works on SQLite
and PostgreSQL alike and is served by the tables' time indexes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Table, and_, delete, func, or_, select

from wasmfleet.orchestrator.store.base import StoreBase, as_utc
from wasmfleet.orchestrator.store.schema import executions, logs

PRUNABLE: dict[str, tuple[Table, Column[Any]]] = {
    "logs": (logs, logs.c.time),
    "executions": (executions, executions.c.started_at),
}
"""Tables with a retention, and the time column that orders them."""


@dataclass(frozen=True, slots=True)
class Cutoff:
    """Rows strictly before ``time`` go; with ``id``, rows at ``time`` up to ``id`` too."""

    time: datetime
    id: Any = None


class RetentionQueries(StoreBase):
    """Find what retention deletes, and delete it in batches."""

    def prune_cutoff(
        self, table: str, *, older_than: datetime | None = None, keep: int | None = None
    ) -> Cutoff | None:
        """The newest row to delete: rows before ``older_than``, and all but the newest
        ``keep`` rows (None: no such limit); None when nothing is to go."""
        target, when = PRUNABLE[table]
        cutoffs = []
        if older_than is not None:
            cutoffs.append(Cutoff(as_utc(older_than)))
        if keep is not None:
            newest_first = select(when, target.c.id).order_by(when.desc(), target.c.id.desc())
            with self._read() as conn:
                row = conn.execute(newest_first.offset(max(keep, 0)).limit(1)).first()
            if row is not None:
                cutoffs.append(Cutoff(as_utc(row[0]), row[1]))
        if not cutoffs:
            return None
        # Both are prefixes of the (time, id) order: the later cutoff covers the earlier.
        return max(cutoffs, key=lambda c: (c.time, c.id is not None))

    def prune_batch(self, table: str, cutoff: Cutoff, limit: int) -> int:
        """Delete at most ``limit`` rows at or before ``cutoff``, oldest first, in one
        transaction; how many were deleted."""
        target, when = PRUNABLE[table]
        wanted = when < cutoff.time
        if cutoff.id is not None:
            wanted = or_(wanted, and_(when == cutoff.time, target.c.id <= cutoff.id))
        oldest = select(target.c.id).where(wanted).order_by(when, target.c.id).limit(limit)
        with self._write() as conn:
            return conn.execute(delete(target).where(target.c.id.in_(oldest))).rowcount

    def prune(
        self,
        table: str,
        *,
        older_than: datetime | None = None,
        keep: int | None = None,
        batch: int = 2000,
        max_batches: int = 10_000,
    ) -> int:
        """Prune ``table`` now, batch after batch (at most ``max_batches``); how many rows
        were deleted. The orchestrator's ``Pruner`` does the same with pauses in between."""
        cutoff = self.prune_cutoff(table, older_than=older_than, keep=keep)
        deleted = 0
        for _ in range(max_batches if cutoff is not None else 0):
            assert cutoff is not None
            count = self.prune_batch(table, cutoff, batch)
            deleted += count
            if count < batch:
                break
        return deleted

    def count_rows(self, table: str) -> int:
        """How many rows ``table`` (logs or executions) holds."""
        target, _ = PRUNABLE[table]
        with self._read() as conn:
            return int(conn.scalar(select(func.count()).select_from(target)) or 0)
