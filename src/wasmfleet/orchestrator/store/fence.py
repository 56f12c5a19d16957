"""Fenced writes: leader-only work carries the fencing number it was started under.

The elector (orchestrator/leadership.py) starts leader-only work inside ``fenced(n)``; the
number travels with it through tasks and worker threads (a context variable: asyncio copies
it into every task and ``to_thread`` call made inside). Every store write made while a fence
is set first reads the lease row in the same transaction — on PostgreSQL with ``FOR SHARE``,
so a takeover's UPDATE waits for this write to commit — and is refused with ``NotLeader``,
writing nothing, when the row holds another fencing number. A write made without a fence (an
API request, which any orchestrator serves) is not checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import select
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import NotLeader
from wasmfleet.core.leadership import LEADER_LEASE
from wasmfleet.orchestrator.store.schema import leases

FENCE: ContextVar[int | None] = ContextVar("wasmfleet_fence", default=None)
"""The fencing number the running work acts under; None for work that needs no leadership."""


@contextmanager
def fenced(fencing: int | None) -> Iterator[None]:
    """Run the block (and every task and thread it starts) under ``fencing``."""
    token = FENCE.set(fencing)
    try:
        yield
    finally:
        FENCE.reset(token)


def check_fence(conn: Connection, fencing: int) -> None:
    """NotLeader unless the leader lease still holds ``fencing`` (share-locks the row)."""
    query = select(leases.c.holder, leases.c.fencing).where(leases.c.name == LEADER_LEASE)
    row = conn.execute(query.with_for_update(read=True)).first()
    if row is None or row.fencing != fencing:
        holder = "nobody" if row is None or row.holder is None else row.holder
        now = 0 if row is None else row.fencing
        raise NotLeader(
            f"This orchestrator acted as leader under fencing number {fencing}, but the lease "
            f"is now held by {holder} under number {now}; nothing was written (the new leader "
            "does this work)."
        )
