"""Migration 8: executions carry their trace id, and can be found by it (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from wasmfleet.orchestrator.store import (
    MIGRATIONS,
    DeploymentRecord,
    ExecutionRecord,
    Store,
    open_store,
)
from wasmfleet.orchestrator.store.engine import make_engine

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_executions_are_found_by_trace(orchestrator_store: Store) -> None:
    store = orchestrator_store
    dep = store.add_deployment(DeploymentRecord(name="pipe", manifest={}, status="active"))
    traced = store.add_execution(ExecutionRecord(dep.id, started_at=T0, trace_id=TRACE))
    store.add_execution(ExecutionRecord(dep.id, started_at=T0, trace_id="1" * 32))
    assert traced.trace_id == TRACE
    assert [e.id for e in store.list_executions(trace_id=TRACE)] == [traced.id]
    assert store.list_executions(trace_id="2" * 32) == []
    assert len(store.list_executions(dep.id)) == 2


def test_a_version_7_database_gains_trace_ids(database_url: str) -> None:
    before = [m for m in MIGRATIONS if m.version <= 7]
    open_store(database_url, migrations=before).close()
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            t = T0.replace(tzinfo=None)
            conn.execute(
                text(
                    "INSERT INTO deployments (id, name, status, manifest, documents, results, "
                    "module_ids, created_at, updated_at) VALUES ('d1', 'pipe', 'active', '{}', "
                    "'{}', '{}', '[]', :t, :t)"
                ),
                {"t": t},
            )
            conn.execute(
                text(
                    "INSERT INTO executions (id, deployment_id, started_at, success, request, "
                    "steps) VALUES ('e1', 'd1', :t, true, '{}', '[]')"
                ),
                {"t": t},
            )
    finally:
        engine.dispose()
    store = open_store(database_url)
    try:
        old = store.get_execution("e1")
        assert old is not None and old.trace_id is None
        new = store.add_execution(ExecutionRecord("d1", started_at=T0, trace_id=TRACE))
        assert [e.id for e in store.list_executions(trace_id=TRACE)] == [new.id]
    finally:
        store.close()
