"""Retention on both backends: log entries and executions beyond the age and the count are
deleted, oldest first and in batches; the newest stay and nothing else is touched."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wasmfleet.orchestrator.retention import Pruner
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import (
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    ModuleRecord,
    Store,
)

NOW = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def add_logs(store: Store, times: list[datetime], device: str = "cam-1") -> list[int]:
    entries = [
        LogRecord(time=t, device=device, level="INFO", message=f"m{i}", data={"i": i})
        for i, t in enumerate(times)
    ]
    store.add_logs(entries)
    return [e.id for e in entries]  # type: ignore[misc]


def add_executions(store: Store, deployment_id: str, times: list[datetime]) -> list[str]:
    ids = []
    for i, started in enumerate(times):
        record = ExecutionRecord(
            deployment_id=deployment_id,
            started_at=started,
            finished_at=started + timedelta(seconds=1),
            success=True,
            request={"i": i},
            result=i,
            steps=[],
        )
        ids.append(store.add_execution(record).id)
    return ids


def everything_else(store: Store) -> dict[str, Any]:
    """What retention must leave alone: devices, modules, deployments and their state."""
    return {
        "devices": [(d.id, d.name, d.status) for d in store.list_devices()],
        "modules": [(m.id, m.name) for m in store.list_modules()],
        "deployments": [(d.id, d.name, d.status) for d in store.list_deployments()],
    }


@pytest.fixture
def filled(orchestrator_store: Store) -> Store:
    """A store with one device, one module and one deployment (retention must keep them)."""
    store = orchestrator_store
    store.upsert_device(DeviceRecord(name="cam-1", addresses=["127.0.0.1"], port=5001))
    store.add_module(ModuleRecord(name="fibo", sha256="0" * 64, size=10))
    store.add_deployment(DeploymentRecord(name="pipe", manifest={"name": "pipe", "sequence": []}))
    return store


def test_logs_older_than_the_age_and_beyond_the_count_are_deleted(filled: Store) -> None:
    store = filled
    # ten entries a day apart, the oldest first; two share a time (the id breaks the tie)
    times = [NOW - (9 - i) * DAY for i in range(10)]
    times.insert(8, times[8])
    ids = add_logs(store, times)
    before = everything_else(store)

    by_age = store.prune("logs", older_than=NOW - 7 * DAY + timedelta(seconds=1))
    assert by_age == 3  # 9, 8 and 7 days old
    assert [e.id for e in store.list_logs(after_id=0)] == ids[3:]

    by_count = store.prune("logs", keep=4)
    assert by_count == len(ids) - 3 - 4
    kept = store.list_logs(after_id=0)
    assert [e.id for e in kept] == ids[-4:]  # the newest four, the tie included
    assert [e.time for e in kept] == times[-4:]
    assert store.prune("logs", older_than=NOW - 30 * DAY, keep=4) == 0
    assert times[-3] == times[-2]  # the count now splits the tie: the later id stays
    assert store.prune("logs", keep=2) == 2
    assert [e.id for e in store.list_logs(after_id=0)] == ids[-2:]
    assert everything_else(store) == before


def test_age_and_count_together_delete_the_longer_prefix(filled: Store) -> None:
    store = filled
    ids = add_logs(store, [NOW - (5 - i) * DAY for i in range(6)])
    # the age alone would keep 3, the count alone 4: both limits hold, so 3 stay
    assert store.prune("logs", older_than=NOW - 2.5 * DAY, keep=4) == 3
    assert [e.id for e in store.list_logs(after_id=0)] == ids[3:]
    # now the count is the stricter one
    assert store.prune("logs", older_than=NOW - 30 * DAY, keep=1) == 2
    assert [e.id for e in store.list_logs(after_id=0)] == ids[-1:]


def test_batches_delete_oldest_first_and_stop_at_the_cutoff(filled: Store) -> None:
    store = filled
    ids = add_logs(store, [NOW - timedelta(minutes=50 - i) for i in range(50)])
    cutoff = store.prune_cutoff("logs", keep=10)
    assert cutoff is not None
    assert store.prune_batch("logs", cutoff, 7) == 7
    assert [e.id for e in store.list_logs(after_id=0)] == ids[7:]  # the oldest went first
    assert store.prune("logs", keep=10, batch=7) == 33  # five more batches, the last short
    assert [e.id for e in store.list_logs(after_id=0)] == ids[-10:]
    assert store.prune("logs", keep=10, batch=7) == 0
    assert store.prune_cutoff("logs", keep=10) is None
    assert store.prune_cutoff("logs") is None  # no limit: nothing to delete


def test_executions_are_pruned_by_start_time_and_count(filled: Store) -> None:
    store = filled
    deployment = store.list_deployments()[0]
    other = store.add_deployment(DeploymentRecord(name="other", manifest={"name": "other"}))
    first = add_executions(store, deployment.id, [NOW - (6 - i) * DAY for i in range(6)])
    second = add_executions(
        store, other.id, [NOW - (6 - i) * DAY + timedelta(hours=1) for i in range(6)]
    )
    logs = add_logs(store, [NOW - 100 * DAY])
    before = everything_else(store)

    assert store.prune("executions", older_than=NOW - 3.5 * DAY) == 6  # 3 of each
    assert store.prune("executions", keep=4) == 2
    newest = store.list_executions(limit=100)  # newest first
    assert [e.id for e in newest] == [second[5], first[5], second[4], first[4]]
    assert everything_else(store) == before
    assert [e.id for e in store.list_logs(after_id=0)] == logs  # the logs are another table
    assert store.count_rows("executions") == 4


def settings(tmp_path: Path, **values: Any) -> OrchestratorSettings:
    base = OrchestratorSettings(data_dir=tmp_path / "orch", mdns=False, host="127.0.0.1")
    return dataclasses.replace(base, **values)


def test_the_pruner_applies_both_retentions_in_batches(filled: Store, tmp_path: Path) -> None:
    store = filled
    deployment = store.list_deployments()[0]
    recent = [NOW - timedelta(minutes=30 - i) for i in range(30)]
    log_ids = add_logs(store, [NOW - 8 * DAY, NOW - 7 * DAY - timedelta(seconds=1), *recent])
    run_ids = add_executions(store, deployment.id, [NOW - 10 * DAY, *recent[:5]])
    pruner = Pruner(
        store,
        settings(tmp_path, keep_logs=25, keep_executions=10),
        batch=4,
        pause_s=0,
    )
    done = asyncio.run(pruner.prune_once(now=NOW))
    assert done == {"logs": 7, "executions": 1}  # 2 by age + 5 by count; 1 by age
    assert [e.id for e in store.list_logs(after_id=0)] == log_ids[-25:]
    assert sorted(e.id for e in store.list_executions(limit=100)) == sorted(run_ids[1:])
    assert asyncio.run(pruner.prune_once(now=NOW)) == {"logs": 0, "executions": 0}
    assert pruner.deleted == {"logs": 7, "executions": 1}


def test_zero_means_no_limit(filled: Store, tmp_path: Path) -> None:
    store = filled
    add_logs(store, [NOW - 400 * DAY, NOW])
    unlimited = settings(tmp_path, keep_logs=0, keep_logs_for_s=0.0)
    assert asyncio.run(Pruner(store, unlimited).prune_once(now=NOW))["logs"] == 0
    assert store.count_rows("logs") == 2


def test_the_orchestrator_prunes_in_the_background(tmp_path: Path, database_url: str) -> None:
    from wasmfleet.orchestrator.service import Orchestrator

    config = settings(tmp_path, database_url=database_url, keep_logs=3, prune_interval_s=0.05)

    async def scenario() -> int:
        orchestrator = Orchestrator(config)
        add_logs(
            orchestrator.store, [datetime.now(UTC) - timedelta(seconds=10 - i) for i in range(10)]
        )
        await orchestrator.start()
        try:
            deadline = time.monotonic() + 20
            while orchestrator.store.count_rows("logs") > 3 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return orchestrator.store.count_rows("logs")
        finally:
            await orchestrator.stop()

    assert asyncio.run(scenario()) == 3
