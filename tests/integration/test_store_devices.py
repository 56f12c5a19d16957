"""The orchestrator store's devices and modules, on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest

from wasmfleet.core.errors import NotFound
from wasmfleet.orchestrator.store import DeviceRecord, ModuleRecord, Store

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def device(name: str = "cam-1", **kw: object) -> DeviceRecord:
    values: dict[str, object] = {
        "addresses": ["192.168.1.20", "fe80::1"],
        "port": 5000,
        "path": "/",
        "description": {"platform": {"cpu": {"architecture": "aarch64"}}},
        "interfaces": ["camera.takeImageDynamicSize", "sys.millis"],
        "labels": {"zone": "north"},
        "last_seen": T0,
    }
    values.update(kw)
    return DeviceRecord(name=name, **values)  # type: ignore[arg-type]


def test_device_crud(orchestrator_store: Store) -> None:
    store = orchestrator_store
    stored = store.upsert_device(device())
    assert len(stored.id) == 32
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    assert stored.last_seen == T0  # microseconds and zone survive the round trip
    assert store.get_device(stored.id) == stored
    assert store.get_device("cam-1") == stored
    assert store.get_device("nope") is None
    fetched = store.get_device("cam-1")
    assert fetched is not None
    assert fetched.description == {"platform": {"cpu": {"architecture": "aarch64"}}}
    assert fetched.interfaces == ["camera.takeImageDynamicSize", "sys.millis"]
    assert fetched.labels == {"zone": "north"}
    store.upsert_device(device("alpha"))
    assert [d.name for d in store.list_devices()] == ["alpha", "cam-1"]
    assert store.delete_device(stored.id)
    assert not store.delete_device(stored.id)
    assert [d.name for d in store.list_devices()] == ["alpha"]
    store.upsert_device(device("beta"))
    assert store.delete_all_devices() == 2
    assert store.list_devices() == []


def test_upsert_keeps_identity_and_state_and_replaces_the_description(
    orchestrator_store: Store,
) -> None:
    store = orchestrator_store
    first = store.upsert_device(device(health={"cpuUsage": 0.5}))
    store.record_health("cam-1", None, ok=False, at=T0)
    store.set_device_status("cam-1", "inactive", "health check failed")
    again = store.upsert_device(
        device(
            addresses=["10.0.0.7"],
            port=5001,
            labels={"zone": "south"},
            status="active",
            failures=0,
            health=None,
            last_seen=T0 + timedelta(seconds=5),
        )
    )
    assert again.id == first.id and again.created_at == first.created_at
    assert again.addresses == ["10.0.0.7"] and again.port == 5001
    assert again.labels == {"zone": "south"}
    assert again.last_seen == T0 + timedelta(seconds=5)
    # state changes only through set_device_status / record_health
    assert (again.status, again.failures, again.health) == ("inactive", 1, {"cpuUsage": 0.5})
    older = store.upsert_device(device(last_seen=T0 - timedelta(days=1)))
    assert older.last_seen == T0 + timedelta(seconds=5)


def test_status_log_appends_only_on_change(orchestrator_store: Store) -> None:
    store = orchestrator_store
    store.upsert_device(device())
    assert store.status_log("cam-1") == []
    assert store.set_device_status("cam-1", "active", "discovered via mdns", at=T0)
    assert not store.set_device_status("cam-1", "active", "discovered again")
    assert store.set_device_status("cam-1", "inactive", "3 failed checks", at=T0 + timedelta(1))
    assert not store.set_device_status("cam-1", "inactive", "still down")
    assert store.set_device_status("cam-1", "active", "back", at=T0 + timedelta(2))
    log = store.status_log("cam-1")
    assert [(e.status, e.reason) for e in log] == [
        ("active", "discovered via mdns"),
        ("inactive", "3 failed checks"),
        ("active", "back"),
    ]
    assert log[0].time == T0
    assert [e.reason for e in store.status_log("cam-1", limit=2)] == ["3 failed checks", "back"]
    fetched = store.get_device("cam-1")
    assert fetched is not None and fetched.status == "active"
    assert not store.set_device_status("ghost", "active", "unknown device")
    assert store.status_log("ghost") == []
    assert store.delete_device("cam-1")
    store.upsert_device(device())
    assert store.status_log("cam-1") == []  # the old log went with the device


def test_record_health_counts_consecutive_failures(orchestrator_store: Store) -> None:
    store = orchestrator_store
    store.upsert_device(device(last_seen=None))
    for n in (1, 2, 3):
        failed = store.record_health("cam-1", None, ok=False, at=T0)
        assert failed is not None and failed.failures == n
        assert failed.last_seen is None and failed.health is None
    later = T0 + timedelta(minutes=1)
    ok = store.record_health("cam-1", {"cpuUsage": 0.25, "memoryUsage": 0.5}, ok=True, at=later)
    assert ok is not None
    assert (ok.failures, ok.last_seen) == (0, later)
    assert ok.health == {"cpuUsage": 0.25, "memoryUsage": 0.5}
    again = store.record_health("cam-1", None, ok=False, at=later)
    assert again is not None and again.failures == 1 and again.health == ok.health
    assert store.record_health("ghost", None, ok=False, at=later) is None


def test_datetimes_come_back_in_utc(orchestrator_store: Store) -> None:
    helsinki = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 1, 14, 0, 0, 1, tzinfo=helsinki)
    stored = orchestrator_store.upsert_device(device(last_seen=local))
    assert stored.last_seen == local
    assert stored.last_seen is not None and stored.last_seen.utcoffset() == timedelta(0)
    assert stored.last_seen.hour == 12 and stored.last_seen.microsecond == 1
    naive = orchestrator_store.record_health("cam-1", {}, ok=True, at=datetime(2026, 1, 1))
    assert naive is not None and naive.last_seen == datetime(2026, 1, 1, tzinfo=UTC)


def test_concurrent_writers_from_threads(orchestrator_store: Store) -> None:
    store = orchestrator_store
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(n: int) -> None:
        try:
            start.wait(timeout=10)
            for i in range(15):
                store.upsert_device(device("shared"))  # all threads race to insert it
                store.record_health("shared", None, ok=False, at=T0)
                store.set_device_status("shared", "inactive" if i % 2 else "active", f"t{n}")
                store.upsert_device(device(f"own-{n}"))
        except BaseException as err:  # collected and re-raised by the test
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    shared = store.get_device("shared")
    assert shared is not None and shared.failures == 6 * 15
    assert len(store.list_devices()) == 7
    log = store.status_log("shared", limit=1000)
    assert all(a.status != b.status for a, b in itertools.pairwise(log))


# -- modules ------------------------------------------------------------------------------


def module(name: str = "fibo", **kw: object) -> ModuleRecord:
    values: dict[str, object] = {
        "sha256": "ab" * 32,
        "size": 1234,
        "exports": [{"name": "fibo", "parameterCount": 1, "params": ["i64"], "results": ["i64"]}],
        "requirements": [{"module": "sys", "name": "millis", "kind": "function"}],
    }
    values.update(kw)
    return ModuleRecord(name=name, **values)  # type: ignore[arg-type]


def test_module_crud(orchestrator_store: Store) -> None:
    store = orchestrator_store
    stored = store.add_module(module())
    assert len(stored.id) == 32 and stored.description is None and stored.data_files == {}
    assert store.get_module(stored.id) == stored == store.get_module("fibo")
    assert store.get_module("missing") is None
    stored.description = {"openapi": "3.0.3", "paths": {"/{deployment}/modules/fibo/fibo": {}}}
    stored.data_files = {
        "model.bin": {"sha256": "cd" * 32, "size": 9, "media_type": "x", "stage": "deployment"}
    }
    stored.exports.append({"name": "alloc", "parameterCount": 1})
    updated = store.update_module(stored)
    assert updated.description == stored.description
    assert updated.data_files == stored.data_files
    assert [e["name"] for e in updated.exports] == ["fibo", "alloc"]
    assert updated.created_at == stored.created_at
    assert updated.updated_at is not None and stored.updated_at is not None
    assert updated.updated_at >= stored.updated_at
    store.add_module(module("camera", size=2**40))  # sizes beyond 32 bits
    assert [(m.name, m.size) for m in store.list_modules()] == [("camera", 2**40), ("fibo", 1234)]
    assert store.delete_module("fibo")
    assert not store.delete_module("fibo")
    with pytest.raises(NotFound):
        store.update_module(stored)


def test_a_repeated_module_name_resolves_to_the_newest(orchestrator_store: Store) -> None:
    store = orchestrator_store
    first = store.add_module(module())
    second = store.add_module(module(sha256="ef" * 32))
    assert first.id != second.id
    assert store.get_module("fibo") == second
    assert store.get_module(first.id) == first  # the old id stays valid
    assert [m.id for m in store.modules_named("fibo")] == [second.id, first.id]
    assert [m.id for m in store.list_modules()] == [first.id, second.id]  # newest last
    assert store.delete_module(second.id)
    assert store.get_module("fibo") == first
    store.add_module(module(sha256="01" * 32))
    assert store.delete_module("fibo")  # a name deletes every module of that name
    assert store.list_modules() == [] and not store.delete_module("fibo")


def test_last_reasons_are_each_devices_latest_status_reason(orchestrator_store: Store) -> None:
    store = orchestrator_store
    for name in ("cam-1", "cam-2", "cam-3"):
        store.upsert_device(device(name))
    store.set_device_status("cam-1", "active", "registered")
    store.set_device_status("cam-1", "dead", "no heartbeat for 3 s")
    store.set_device_status("cam-2", "active", "discovered via mdns")
    reasons = store.last_reasons()
    assert reasons == {
        name: store.status_log(name, limit=1)[-1].reason
        for name in ("cam-1", "cam-2", "cam-3")
        if store.status_log(name, limit=1)
    }
    assert reasons["cam-1"] == "no heartbeat for 3 s"
