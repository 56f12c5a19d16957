"""The orchestrator's retention task: every ``--prune-interval`` seconds, delete the log
entries and executions beyond ``--keep-logs-for``/``--keep-logs`` and
``--keep-executions-for``/``--keep-executions``.

Each round deletes in batches of ``BATCH`` rows, each its own short write transaction run in
a worker thread, with a pause between batches so that the API's writers (log posts,
executions) get the database in between; a round stops after ``MAX_BATCHES`` batches and
the next round goes on. A failed round is logged and retried at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import Store
from wasmfleet.orchestrator.store.base import utcnow

log = logging.getLogger(__name__)

BATCH = 2000
"""Rows per delete transaction (see docs/configuration.md#retention for the measurement)."""
MAX_BATCHES = 500
"""Batches per table and round: at most a million rows, the rest in the next round."""
PAUSE_S = 0.02
"""Pause between batches: waiting writers take the database in between."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long and how many rows each table keeps (0 = no such limit)."""

    max_age_s: float
    max_rows: int

    def limits(self, now: datetime) -> tuple[datetime | None, int | None]:
        """``older_than`` and ``keep`` for the store (None where there is no limit)."""
        older_than = now - timedelta(seconds=self.max_age_s) if self.max_age_s > 0 else None
        return older_than, self.max_rows if self.max_rows > 0 else None


class Pruner:
    """Deletes old log entries and executions, periodically or when asked."""

    def __init__(
        self,
        store: Store,
        settings: OrchestratorSettings,
        *,
        batch: int = BATCH,
        pause_s: float = PAUSE_S,
        max_batches: int = MAX_BATCHES,
    ) -> None:
        self.store = store
        self.interval_s = settings.prune_interval_s
        self.retention = {
            "logs": Retention(settings.keep_logs_for_s, settings.keep_logs),
            "executions": Retention(settings.keep_executions_for_s, settings.keep_executions),
        }
        self.batch = batch
        self.pause_s = pause_s
        self.max_batches = max_batches
        self.deleted = {table: 0 for table in self.retention}
        """Rows deleted since start, per table."""

    async def run(self) -> None:
        """Prune now, then every ``interval_s`` until cancelled (never when it is 0)."""
        if self.interval_s <= 0:
            return
        while True:
            try:
                await self.prune_once()
            except Exception as err:  # the database may be away for a while: retry later
                log.warning("pruning old logs and executions failed: %s", err)
            await asyncio.sleep(self.interval_s)

    async def prune_once(self, now: datetime | None = None) -> dict[str, int]:
        """One round over both tables; rows deleted per table."""
        now = now or utcnow()
        done = {}
        for table, retention in self.retention.items():
            done[table] = await self._prune_table(table, retention, now)
            self.deleted[table] += done[table]
        if any(done.values()):
            log.info(
                "pruned %d log entries and %d executions",
                done["logs"],
                done["executions"],
                extra={"retention": {k: asdict(v) for k, v in self.retention.items()}},
            )
        return done

    async def _prune_table(self, table: str, retention: Retention, now: datetime) -> int:
        older_than, keep = retention.limits(now)
        if older_than is None and keep is None:
            return 0
        find = self.store.prune_cutoff
        cutoff = await asyncio.to_thread(find, table, older_than=older_than, keep=keep)
        deleted = 0
        for _ in range(self.max_batches if cutoff is not None else 0):
            assert cutoff is not None
            count = await asyncio.to_thread(self.store.prune_batch, table, cutoff, self.batch)
            deleted += count
            if count < self.batch:
                break
            await asyncio.sleep(self.pause_s)
        return deleted
