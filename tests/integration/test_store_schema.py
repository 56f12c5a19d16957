"""Schema versions: creating, upgrading in place, refusing newer or foreign databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.orchestrator.store import (
    MIGRATIONS,
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    Migration,
    ModuleRecord,
    Store,
    open_store,
)
from wasmfleet.orchestrator.store.engine import make_engine
from wasmfleet.orchestrator.store.migrations import latest_version
from wasmfleet.orchestrator.store.schema import metadata, schema_version

T0 = datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC)
NEXT = latest_version() + 1


def _add_notes(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE devices ADD COLUMN notes TEXT NOT NULL DEFAULT ''"))
    conn.execute(text("CREATE INDEX ix_devices_notes ON devices (notes)"))


FUTURE = Migration(NEXT, "devices get notes (test only)", _add_notes)
"""A migration the code does not have yet: what the next release would bring."""


def versions(url: str) -> list[tuple[int, str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(schema_version.c.version, schema_version.c.description)
            return [(v, d) for v, d in conn.execute(query.order_by(schema_version.c.version))]
    finally:
        engine.dispose()


def tables(url: str) -> dict[str, set[str]]:
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        return {
            t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()
        }
    finally:
        engine.dispose()


def fill(store: Store) -> dict[str, str]:
    """One of everything; the ids."""
    dev = store.upsert_device(DeviceRecord(name="cam-1", labels={"zone": "north"}, last_seen=T0))
    store.set_device_status("cam-1", "active", "discovered", at=T0)
    mod = store.add_module(ModuleRecord(name="fibo", sha256="ab" * 32, size=99))
    dep = store.add_deployment(
        DeploymentRecord(
            name="pipe", manifest={"sequence": []}, status="active", module_ids=[mod.id]
        )
    )
    run = store.add_execution(ExecutionRecord(deployment_id=dep.id, started_at=T0, result="55"))
    store.add_logs([LogRecord(time=T0, device="cam-1", level="INFO", message="hi")])
    return {"device": dev.id, "module": mod.id, "deployment": dep.id, "execution": run.id}


def check_filled(store: Store, ids: dict[str, str]) -> None:
    dev = store.get_device("cam-1")
    assert dev is not None and dev.id == ids["device"]
    assert dev.labels == {"zone": "north"} and dev.last_seen == T0
    assert [(e.status, e.time) for e in store.status_log("cam-1")] == [("active", T0)]
    mod = store.get_module("fibo")
    assert mod is not None and (mod.id, mod.size) == (ids["module"], 99)
    assert [d.id for d in store.deployments_using_module(ids["module"])] == [ids["deployment"]]
    run = store.get_execution(ids["execution"])
    assert run is not None and run.result == "55" and run.started_at == T0
    assert [(e.message, e.time) for e in store.list_logs()] == [("hi", T0)]


def test_a_new_database_gets_every_migration(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert store.schema_version == latest_version() >= 1
    finally:
        store.close()
    assert versions(database_url) == [(m.version, m.description) for m in MIGRATIONS]
    again = open_store(database_url)  # opening an up-to-date database changes nothing
    again.close()
    assert len(versions(database_url)) == len(MIGRATIONS)


def test_the_migrations_build_exactly_the_schema_the_queries_use(database_url: str) -> None:
    open_store(database_url).close()
    engine = make_engine(database_url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == set(metadata.tables)
        for name, table in metadata.tables.items():
            columns = {c["name"]: c["nullable"] for c in inspector.get_columns(name)}
            assert columns == {c.name: c.nullable for c in table.columns}, name
            indexes = {
                i["name"]: (tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            }
            expected = {
                i.name: (tuple(c.name for c in i.columns), bool(i.unique)) for i in table.indexes
            }
            assert indexes == expected, name
    finally:
        engine.dispose()


def test_an_old_database_is_upgraded_in_place(database_url: str) -> None:
    # Build the database as this release does, and put data in it.
    old = open_store(database_url, migrations=MIGRATIONS)
    assert old.schema_version == latest_version()
    ids = fill(old)
    old.close()
    assert "notes" not in tables(database_url)["devices"]

    # Open it with code that knows one more migration.
    new = open_store(database_url, migrations=(*MIGRATIONS, FUTURE))
    try:
        assert new.schema_version == NEXT
        check_filled(new, ids)
        with new.engine.connect() as conn:
            notes = conn.execute(text("SELECT name, notes FROM devices")).all()
        assert [tuple(row) for row in notes] == [("cam-1", "")]
    finally:
        new.close()
    assert "notes" in tables(database_url)["devices"]
    assert versions(database_url)[-1] == (NEXT, "devices get notes (test only)")
    assert [v for v, _ in versions(database_url)] == list(range(1, NEXT + 1))


def test_a_version_1_database_gains_epochs_and_moves(database_url: str) -> None:
    open_store(database_url, migrations=MIGRATIONS[:1]).close()
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO deployments (id, name, status, manifest, documents, results, "
                    "module_ids, created_at, updated_at) VALUES ('d1', 'pipe', 'active', '{}', "
                    "'{}', '{}', '[]', :t, :t)"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
    finally:
        engine.dispose()
    store = open_store(database_url)
    try:
        dep = store.get_deployment("pipe")
        assert dep is not None and dep.epoch == 0 and dep.moves == []
        dep.epoch, dep.moves = 4, [{"step": 0, "from": "a", "to": "b"}]
        store.update_deployment(dep)
        again = store.get_deployment("d1")
        assert again is not None and again.epoch == 4 and again.moves[0]["to"] == "b"
    finally:
        store.close()
    assert {"epoch", "moves"} <= tables(database_url)["deployments"]


def test_a_version_3_database_numbers_module_versions_by_creation_order(
    database_url: str,
) -> None:
    open_store(database_url, migrations=MIGRATIONS[:3]).close()
    engine = make_engine(database_url)
    rows = [  # (id, name, created second): two names, inserted out of order
        ("m3", "fibo", 30),
        ("m1", "fibo", 10),
        ("s1", "stamp", 20),
        ("m2", "fibo", 20),
    ]
    try:
        with engine.begin() as conn:
            for module_id, name, second in rows:
                conn.execute(
                    text(
                        "INSERT INTO modules (id, name, sha256, size, exports, requirements, "
                        "data_files, created_at, updated_at) VALUES (:id, :name, :sha, 1, '[]', "
                        "'[]', '{}', :t, :t)"
                    ),
                    {
                        "id": module_id,
                        "name": name,
                        "sha": module_id * 32,
                        "t": T0.replace(tzinfo=None, second=second),
                    },
                )
    finally:
        engine.dispose()
    store = open_store(database_url)
    try:
        assert [(m.id, m.version) for m in store.modules_named("fibo")] == [
            ("m3", 3),
            ("m2", 2),
            ("m1", 1),
        ]
        stamp = store.get_module("stamp")
        assert stamp is not None and stamp.version == 1 and stamp.note is None
        fibo = store.get_module("fibo")
        assert fibo is not None and fibo.id == "m3"
        added = store.add_module(
            ModuleRecord(name="fibo", sha256="cd" * 32, size=2, note="faster", created_by="ann")
        )
        assert (added.version, added.note, added.created_by) == (4, "faster", "ann")
        pinned = store.module_version("fibo", 2)
        assert pinned is not None and pinned.id == "m2"
    finally:
        store.close()
    assert {"version", "note", "created_by"} <= tables(database_url)["modules"]


def test_a_newer_database_is_refused(database_url: str) -> None:
    open_store(database_url, migrations=(*MIGRATIONS, FUTURE)).close()
    with pytest.raises(ConfigurationError) as caught:
        open_store(database_url)
    message = str(caught.value)
    assert f"schema version {NEXT}, which is newer than version {latest_version()}" in message
    assert "upgrade wasmfleet" in message


def test_a_failing_migration_changes_nothing(database_url: str) -> None:
    store = open_store(database_url)
    ids = fill(store)
    store.close()

    def half_then_fail(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))
        conn.execute(text("UPDATE devices SET port = 1"))
        raise RuntimeError("disk on fire")

    broken = Migration(NEXT, "broken", half_then_fail)
    with pytest.raises(ConfigurationError, match=f"to schema version {NEXT} .*disk on fire") as err:
        open_store(database_url, migrations=(*MIGRATIONS, broken))
    assert f"still at version {latest_version()}" in str(err.value)
    assert "half_done" not in tables(database_url)
    reopened = open_store(database_url)
    try:
        assert reopened.schema_version == latest_version()
        check_filled(reopened, ids)
        dev = reopened.get_device("cam-1")
        assert dev is not None and dev.port == 0
    finally:
        reopened.close()


def test_a_database_with_foreign_tables_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE devices (serial TEXT)"))
    engine.dispose()
    with pytest.raises(ConfigurationError, match="not a wasmfleet database"):
        open_store(database_url)


def test_two_orchestrators_opening_a_new_database_at_once(database_url: str) -> None:
    stores: list[Store] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_one() -> None:
        try:
            start.wait(timeout=10)
            stores.append(open_store(database_url))
        except BaseException as err:  # re-raised by the test
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for store in stores:
        store.close()
    assert not errors, errors
    assert len(stores) == 4
    assert versions(database_url) == [(m.version, m.description) for m in MIGRATIONS]


def test_migrations_must_be_in_order(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="increasing"):
        open_store(f"sqlite:///{tmp_path}/x.db", migrations=(FUTURE, *MIGRATIONS))
