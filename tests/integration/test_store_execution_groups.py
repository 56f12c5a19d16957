"""Executions written in groups (store/executions.py), on both backends: queued runs are not in
the database until a flush, reads flush first, one group is one transaction, a run of a deleted
deployment is dropped, a failed flush keeps the group, and closing the store writes the queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from wasmfleet.orchestrator.execution_writes import ExecutionWrites
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord, Store, open_store
from wasmfleet.orchestrator.store.schema import deployments, executions

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MANIFEST = {"name": "pipe", "sequence": [{"device": None, "module": "fibo", "func": "fibo"}]}


def rows(store: Store) -> int:
    """Executions in the database itself (not through the store's reads, which flush)."""
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(executions)) or 0)


def run(dep_id: str, i: int) -> ExecutionRecord:
    return ExecutionRecord(dep_id, started_at=T0 + timedelta(seconds=i), result=str(i))


def test_grouped_executions(orchestrator_store: Store, database_url: str) -> None:
    store = orchestrator_store
    dep = store.add_deployment(DeploymentRecord(name="pipe", manifest=dict(MANIFEST)))
    gone = store.add_deployment(DeploymentRecord(name="gone", manifest=dict(MANIFEST)))
    queued = [run(dep.id, i) for i in range(5)]
    assert [store.queue_execution(r) for r in queued] == [1, 2, 3, 4, 5]
    assert all(len(r.id) == 32 for r in queued) and len({r.id for r in queued}) == 5
    assert rows(store) == 0 and store.queued_executions == 5
    assert store.flush_executions() == 5 and rows(store) == 5 and store.queued_executions == 0
    assert store.flush_executions() == 0

    store.queue_execution(later := run(dep.id, 10))
    assert store.list_executions(limit=1)[0].id == later.id  # a read flushes first
    store.queue_execution(again := run(dep.id, 11))
    assert store.get_execution(again.id) == again
    # Every kind of value a run holds comes back as it went in (PostgreSQL writes by COPY).
    odd = ExecutionRecord(
        dep.id,
        started_at=datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
        finished_at=T0,
        success=True,
        result=None,
        request={"args": {"n": 7, "x": 1.5, "s": "é \\ \t \n"}, "duration_ms": 0.25},
        steps=[{"device": "a", "result": 13, "nested": [None, True, {"k": "v"}]}],
        error="tab\there",
        trace_id="0" * 32,
    )
    store.queue_execution(odd)
    back = store.get_execution(odd.id)
    assert back is not None and back.result is None and back.started_at == T0
    assert (back.request, back.steps, back.error) == (odd.request, odd.steps, odd.error)
    store.queue_execution(numeric := ExecutionRecord(dep.id, started_at=T0, result=13))
    assert store.get_execution(numeric.id).result == 13  # type: ignore[union-attr]

    # A run queued for a deployment deleted before the flush is dropped, alone.
    store.queue_execution(run(gone.id, 12))
    store.queue_execution(kept := run(dep.id, 13))
    with store.engine.begin() as conn:  # deleted by another orchestrator: still queued here
        conn.execute(executions.delete().where(executions.c.deployment_id == gone.id))
        conn.execute(deployments.delete().where(deployments.c.id == gone.id))
    assert store.flush_executions() == 1
    assert store.get_execution(kept.id) == kept and rows(store) == 10
    store.queue_execution(run(dep.id, 14))
    assert store.delete_deployment(dep.id)  # its queued runs go with it
    assert store.queued_executions == 0 and rows(store) == 0

    # Closing the store writes what is queued.
    other = store.add_deployment(DeploymentRecord(name="other", manifest=dict(MANIFEST)))
    store.queue_execution(last := run(other.id, 20))
    store.close()
    reopened = open_store(database_url)
    try:
        assert reopened.get_execution(last.id) == last
    finally:
        reopened.close()


def test_failed_flush_keeps_the_group(orchestrator_store: Store, monkeypatch: Any) -> None:
    store = orchestrator_store
    dep = store.add_deployment(DeploymentRecord(name="pipe", manifest=dict(MANIFEST)))
    first, second = run(dep.id, 1), run(dep.id, 2)
    store.queue_execution(first)

    def broken() -> Any:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "_write", broken)
    with pytest.raises(OperationalError):
        store.flush_executions()
    store.queue_execution(second)
    monkeypatch.undo()
    assert store.flush_executions() == 2
    assert [e.id for e in store.list_executions()] == [second.id, first.id]


def test_execution_writes(orchestrator_store: Store) -> None:
    """ExecutionWrites: committed before answering with flush_s 0; else flushed on its own."""
    store = orchestrator_store
    dep = store.add_deployment(DeploymentRecord(name="pipe", manifest=dict(MANIFEST)))

    async def main() -> None:
        each = ExecutionWrites(store, flush_s=0)
        stored = await each.record(run(dep.id, 0))
        assert rows(store) == 1 and stored.id
        grouped = ExecutionWrites(store, flush_s=0.01, group=2)
        for i in range(1, 4):
            await grouped.record(run(dep.id, i))
        for _ in range(500):  # bounded wait for the flusher (no read flushes here)
            if rows(store) == 4:
                break
            await asyncio.sleep(0.01)
        assert rows(store) == 4 and store.queued_executions == 0

    asyncio.run(main())


def test_executions_are_written_outside_a_stale_leaders_fence(orchestrator_store: Store) -> None:
    """A run started by leader work (a scheduled fire) is still recorded after the lease moved:
    the writer and its flush task never carry the fencing number of the work that ran."""
    from wasmfleet.orchestrator.store.fence import fenced

    store = orchestrator_store
    dep = store.add_deployment(DeploymentRecord(name="fenced", manifest=dict(MANIFEST)))
    stale = 10_000  # no lease ever held this number: any fenced write is refused

    async def as_stale_leader() -> None:
        for flush_s in (0.0, 0.01):  # committed each, then grouped by a lazily started task
            writes = ExecutionWrites(store, flush_s)
            with fenced(stale):
                await writes.record(run(dep.id, int(flush_s * 100)))
            await writes.flush()

    asyncio.run(as_stale_leader())
    assert sorted(
        e.result for e in store.list_executions(limit=10) if e.deployment_id == dep.id
    ) == ["0", "1"]
