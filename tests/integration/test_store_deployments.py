"""The orchestrator store's deployments, executions, logs and counts, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    ModuleRecord,
    Store,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MANIFEST = {"name": "pipe", "sequence": [{"device": None, "module": "fibo", "func": "fibo"}]}


def deployment(name: str = "pipe", **kw: object) -> DeploymentRecord:
    return DeploymentRecord(name=name, manifest=dict(MANIFEST), **kw)  # type: ignore[arg-type]


def test_deployment_crud(orchestrator_store: Store) -> None:
    store = orchestrator_store
    stored = store.add_deployment(deployment())
    assert stored.status == "new" and stored.plan is None and stored.module_ids == []
    assert stored.error is None
    assert store.get_deployment(stored.id) == stored == store.get_deployment("pipe")
    assert store.get_deployment("nope") is None
    stored.status = "active"
    stored.plan = {"steps": [{"module_id": "m1", "device": "cam-1", "function": "fibo"}]}
    stored.documents = {"cam-1": {"deploymentId": stored.id, "modules": []}}
    stored.results = {"cam-1": {"ok": True, "status": 200, "message": "deployed"}}
    stored.module_ids = ["m1"]
    stored.error = "1 of 2 devices failed: cam-2: connection refused"
    updated = store.update_deployment(stored)
    assert updated.error == stored.error
    assert (updated.status, updated.plan, updated.documents, updated.results) == (
        "active",
        stored.plan,
        stored.documents,
        stored.results,
    )
    assert updated.module_ids == ["m1"] and updated.created_at == stored.created_at
    second = store.add_deployment(deployment("later"))
    assert [d.name for d in store.list_deployments()] == ["pipe", "later"]
    assert store.delete_deployment("pipe")
    assert not store.delete_deployment(stored.id)
    assert [d.id for d in store.list_deployments()] == [second.id]
    with pytest.raises(NotFound):
        store.update_deployment(stored)


def test_listed_deployments_are_parsed_again_only_when_changed_anywhere(
    orchestrator_store: Store, database_url: str
) -> None:
    """Listing parses a row again only when its version moved, whichever process wrote it."""
    from wasmfleet.orchestrator.store import open_store

    store = orchestrator_store
    one = store.add_deployment(deployment("one"))
    store.add_deployment(deployment("two"))
    first = store.list_deployments()
    again = store.list_deployments()
    assert [a is b for a, b in zip(first, again, strict=True)] == [True, True]  # nothing moved
    other = open_store(database_url)  # another orchestrator on the same database
    try:
        changed = other.get_deployment("one")
        assert changed is not None
        changed.documents = {"cam-1": {"deploymentId": one.id, "modules": []}}
        other.update_deployment(changed)
        other.add_deployment(deployment("three"))
        assert other.delete_deployment("two")
    finally:
        other.close()
    listed = store.list_deployments()
    assert [d.name for d in listed] == ["one", "three"]
    assert listed[0] is not first[0] and listed[0].documents == changed.documents


def test_duplicate_deployment_name_is_a_conflict(orchestrator_store: Store) -> None:
    store = orchestrator_store
    first = store.add_deployment(deployment())
    with pytest.raises(
        Conflict, match=rf"A deployment named 'pipe' already exists \(id {first.id}\)"
    ):
        store.add_deployment(deployment())
    other = store.add_deployment(deployment("other"))
    other.name = "pipe"
    with pytest.raises(Conflict, match="choose another name or delete it first"):
        store.update_deployment(other)
    assert sorted(d.name for d in store.list_deployments()) == ["other", "pipe"]


def test_deployments_using_module(orchestrator_store: Store) -> None:
    store = orchestrator_store
    a = store.add_deployment(deployment("a", status="active", module_ids=["m1", "m2", "m1"]))
    store.add_deployment(deployment("b", status="deploying", module_ids=["m2"]))
    store.add_deployment(deployment("c", status="failed", module_ids=["m1"]))
    store.add_deployment(deployment("d", status="active", module_ids=["m3"]))

    def using(module_id: str, *statuses: str) -> list[str]:
        found = store.deployments_using_module(module_id, *([statuses] if statuses else []))
        return [d.name for d in found]

    assert using("m1") == ["a"]
    assert using("m2") == ["a", "b"]
    assert using("m1", "failed", "active") == ["a", "c"]
    assert using("m9") == []
    a.module_ids = ["m3"]  # re-solved onto another module
    store.update_deployment(a)
    assert using("m1") == [] and using("m3") == ["a", "d"]
    a.status = "failed"  # no longer holds devices
    store.update_deployment(a)
    assert using("m3") == ["d"]
    store.delete_deployment("d")
    assert using("m3") == []


def execution(dep_id: str, at: datetime, **kw: object) -> ExecutionRecord:
    return ExecutionRecord(deployment_id=dep_id, started_at=at, **kw)  # type: ignore[arg-type]


def test_executions(orchestrator_store: Store) -> None:
    store = orchestrator_store
    dep = store.add_deployment(deployment())
    other = store.add_deployment(deployment("other"))
    first = store.add_execution(
        execution(
            dep.id,
            T0,
            finished_at=T0 + timedelta(milliseconds=5),
            success=True,
            request={"args": {"n": "10"}, "files": []},
            result="55",
            result_url="http://cam-1:5000/request-history/abc",
            steps=[{"step": 0, "device": "cam-1", "success": True, "result": "55"}],
        )
    )
    assert len(first.id) == 32
    assert store.get_execution(first.id) == first
    assert first.result == "55" and first.steps[0]["result"] == "55"
    assert store.get_execution("missing") is None
    for value in ([1, 2.5, None], {"a": {"b": True}}, None, 7):
        stored = store.add_execution(execution(dep.id, T0, result=value))
        assert store.get_execution(stored.id) == stored and stored.result == value
    failed = store.add_execution(
        execution(other.id, T0 + timedelta(seconds=1), error="Step 1 (fibo on cam-1) failed")
    )
    assert store.list_executions(limit=1) == [failed]  # newest first
    assert store.list_executions(other.id) == [failed]
    assert len(store.list_executions(dep.id)) == 5
    assert [e.started_at for e in store.list_executions()][-1] == T0
    started = store.add_execution(ExecutionRecord(deployment_id=dep.id))
    assert started.started_at is not None and started.started_at.tzinfo is not None
    with pytest.raises(NotFound, match="no longer exists"):
        store.add_execution(execution("no-such-deployment", T0))
    assert store.delete_deployment(dep.id)
    assert store.get_execution(first.id) is None
    assert store.list_executions() == [failed]


def log(at: datetime, device: str = "cam-1", message: str = "hello", **data: object) -> LogRecord:
    entry = {"deviceName": device, "message": message, "timestamp": at.isoformat(), **data}
    return LogRecord(time=at, device=device, level="INFO", message=message, data=entry)


def test_logs_filters_and_order(orchestrator_store: Store) -> None:
    store = orchestrator_store
    us = timedelta(microseconds=1)
    entries = [
        log(T0 + 2 * us, message="third"),
        log(T0, message="first", extra={"k": [1, 2]}),
        log(T0 + us, "cam-2", message="second"),
        log(T0 + 3 * us, "cam-2", message="fourth"),
    ]
    assert store.add_logs(entries) == 4
    assert store.add_logs([]) == 0
    ids = [e.id for e in entries]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids)  # type: ignore[type-var]
    messages = [e.message for e in store.list_logs()]
    assert messages == ["first", "second", "third", "fourth"]  # by time, not by arrival
    assert [e.message for e in store.list_logs(after=T0)] == ["second", "third", "fourth"]
    assert [e.message for e in store.list_logs(after=T0 + us)] == ["third", "fourth"]
    assert store.list_logs(after=T0 + 3 * us) == []
    assert [e.message for e in store.list_logs(device="cam-2")] == ["second", "fourth"]
    assert [e.message for e in store.list_logs(after=T0, device="cam-1")] == ["third"]
    assert [e.message for e in store.list_logs(after_id=ids[1])] == ["second", "fourth"]
    assert [e.message for e in store.list_logs(limit=2)] == ["first", "second"]
    first = store.list_logs(limit=1)[0]
    assert first.time == T0 and first.level == "INFO" and first.id == ids[1]
    assert first.data == entries[1].data and first.data["extra"] == {"k": [1, 2]}
    assert store.delete_logs(before=T0 + 2 * us) == 2
    assert [e.message for e in store.list_logs()] == ["third", "fourth"]


def test_counts(orchestrator_store: Store) -> None:
    store = orchestrator_store
    empty = store.counts()
    assert empty == {
        "devices": {},
        "modules": 0,
        "deployments": {},
        "executions": {"total": 0, "failed": 0},
        "logs": 0,
    }
    for name in ("a", "b", "c"):
        store.upsert_device(DeviceRecord(name=name))
    store.set_device_status("c", "inactive", "down")
    store.add_module(ModuleRecord(name="fibo", sha256="ab" * 32, size=1))
    dep = store.add_deployment(deployment(status="active"))
    store.add_deployment(deployment("x", status="failed"))
    store.add_execution(execution(dep.id, T0, success=True))
    store.add_execution(execution(dep.id, T0, success=False))
    store.add_execution(execution(dep.id, T0, success=False))
    store.add_logs([log(T0), log(T0)])
    assert store.counts() == {
        "devices": {"active": 2, "inactive": 1},
        "modules": 1,
        "deployments": {"active": 1, "failed": 1},
        "executions": {"total": 3, "failed": 2},
        "logs": 2,
    }
