"""Recording executions: one commit per run, or grouped writes flushed every few milliseconds.

With ``flush_s > 0`` a finished execution is queued in the store (store/executions.py) and
answered at once; a flush writes the whole queue in one transaction at most ``flush_s``
after the first queued run, at once when ``group`` runs wait, and the caller waits for a
flush when ``max_queued`` runs wait (the database is slower than the executions). So a
crash (SIGKILL, power cut) loses at most the runs of the last ``flush_s`` plus the flush
in progress, and never more than ``max_queued`` runs; a graceful stop (``Store.close``)
writes them. With ``flush_s == 0`` every run is committed before it is answered, as
deployments and modules always are.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable
from typing import TypeVar

from wasmfleet.orchestrator.store import ExecutionRecord, Store

log = logging.getLogger(__name__)
T = TypeVar("T")


def _unfenced(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run a store call in a worker thread outside any leader's fence (store/fence.py): an
    execution is a record of what happened, whichever orchestrator leads when it is written."""
    return asyncio.get_running_loop().run_in_executor(None, contextvars.Context().run, fn)


GROUP = 256
"""Queued runs that start a flush without waiting for the interval."""
MAX_QUEUED = 4096
"""Queued runs at which a new run waits for a flush (the bound of what a crash may lose)."""


class ExecutionWrites:
    """Writes recorded executions, durably one by one or grouped."""

    def __init__(
        self, store: Store, flush_s: float, group: int = GROUP, max_queued: int = MAX_QUEUED
    ) -> None:
        self.store = store
        self.flush_s = flush_s
        self.group = max(1, group)
        self.max_queued = max(self.group, max_queued)
        self._flusher: asyncio.Task[None] | None = None
        self._full: asyncio.Event | None = None
        """Set when a group is full; made with each flusher, in its event loop."""

    async def record(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Record a finished run; the record as stored (or queued, with its id)."""
        if self.flush_s <= 0:
            return await _unfenced(lambda: self.store.add_execution(execution))
        queued = self.store.queue_execution(execution)
        if queued >= self.max_queued:  # the database falls behind: wait for it
            await _unfenced(self.store.flush_executions)
        flusher = self._flusher
        loop = asyncio.get_running_loop()
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._full = asyncio.Event()
            self._flusher = asyncio.create_task(  # not in the caller's context: never fenced
                self._flush_soon(self._full), name="executions", context=contextvars.Context()
            )
        if queued >= self.group and self._full is not None:
            self._full.set()
        return execution

    async def flush(self) -> None:
        """Write every queued run now."""
        await _unfenced(self.store.flush_executions)

    async def _flush_soon(self, full: asyncio.Event) -> None:
        """Flush after ``flush_s`` (sooner when a group is full) until nothing is queued."""
        while self.store.queued_executions:
            full.clear()
            if self.store.queued_executions < self.group:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(full.wait(), self.flush_s)
            try:
                await _unfenced(self.store.flush_executions)
            except Exception as err:  # the runs stay queued; retried after the interval
                log.error("could not write %d executions: %s", self.store.queued_executions, err)
                await asyncio.sleep(self.flush_s)
