"""The frozen DDL of every released migration (``migrations.py`` lists and applies them).

A function here is never edited once released: it carries a frozen copy of the DDL it
applies, independent of ``schema.py``; a schema change is a new function and a new
``Migration`` in ``migrations.py``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    insert,
    text,
)
from sqlalchemy.engine import Connection

from wasmfleet.orchestrator.store.coltypes import (
    ID,
    SERIAL,
    STATUS,
    UTCDateTime,
    json_column_type,
)


def v1_initial(conn: Connection) -> None:
    """Create the first schema (frozen copy: do not edit, add a migration instead)."""
    md = MetaData()
    json, json_null = json_column_type(), json_column_type(nullable=True)
    Table(
        "devices",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("addresses", json, nullable=False),
        Column("port", Integer, nullable=False),
        Column("path", Text, nullable=False),
        Column("tls", Boolean, nullable=False),
        Column("description", json, nullable=False),
        Column("interfaces", json, nullable=False),
        Column("labels", json, nullable=False),
        Column("status", STATUS, nullable=False),
        Column("health", json_null, nullable=True),
        Column("last_seen", UTCDateTime, nullable=True),
        Column("failures", Integer, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_devices_name", "name", unique=True),
    )
    Table(
        "device_status",
        md,
        Column("id", SERIAL, primary_key=True, autoincrement=True),
        Column("device_id", ID, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
        Column("time", UTCDateTime, nullable=False),
        Column("status", STATUS, nullable=False),
        Column("reason", Text, nullable=False),
        Index("ix_device_status_device_id", "device_id", "id"),
        sqlite_autoincrement=True,
    )
    Table(
        "modules",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("sha256", String(64), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("exports", json, nullable=False),
        Column("requirements", json, nullable=False),
        Column("description", json_null, nullable=True),
        Column("data_files", json, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_modules_name", "name", unique=True),
        Index("ix_modules_sha256", "sha256"),
    )
    Table(
        "deployments",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("status", STATUS, nullable=False),
        Column("manifest", json, nullable=False),
        Column("plan", json_null, nullable=True),
        Column("documents", json, nullable=False),
        Column("results", json, nullable=False),
        Column("module_ids", json, nullable=False),
        Column("error", Text, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_deployments_name", "name", unique=True),
        Index("ix_deployments_status", "status"),
        Index("ix_deployments_created_at", "created_at"),
    )
    Table(
        "deployment_modules",
        md,
        Column(
            "deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
        ),
        Column("module_id", ID, primary_key=True),
        Index("ix_deployment_modules_module_id", "module_id"),
    )
    Table(
        "executions",
        md,
        Column("id", ID, primary_key=True),
        Column(
            "deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
        ),
        Column("started_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime, nullable=True),
        Column("success", Boolean, nullable=False),
        Column("request", json, nullable=False),
        Column("result", json_null, nullable=True),
        Column("result_url", Text, nullable=True),
        Column("steps", json, nullable=False),
        Column("error", Text, nullable=True),
        Index("ix_executions_deployment_id", "deployment_id", "started_at"),
        Index("ix_executions_started_at", "started_at"),
    )
    Table(
        "logs",
        md,
        Column("id", SERIAL, primary_key=True, autoincrement=True),
        Column("time", UTCDateTime, nullable=False),
        Column("device", Text, nullable=False),
        Column("level", Text, nullable=False),
        Column("message", Text, nullable=False),
        Column("data", json, nullable=False),
        Index("ix_logs_time", "time", "id"),
        Index("ix_logs_device", "device", "id"),
        sqlite_autoincrement=True,
    )
    md.create_all(conn, checkfirst=False)


def v2_fencing(conn: Connection) -> None:
    """Deployments get a fencing epoch and a history of moved steps (frozen copy)."""
    empty_list = "'[]'::json" if conn.dialect.name == "postgresql" else "'[]'"
    conn.execute(text("ALTER TABLE deployments ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0"))
    conn.execute(
        text(f"ALTER TABLE deployments ADD COLUMN moves JSON NOT NULL DEFAULT {empty_list}")
    )


def v3_module_names(conn: Connection) -> None:
    """Module names stop being unique: an upload under a taken name is a newer module (frozen)."""
    conn.execute(text("DROP INDEX ix_modules_name"))
    conn.execute(text("CREATE INDEX ix_modules_name ON modules (name)"))


def v4_module_versions(conn: Connection) -> None:
    """Modules get a version number per name (by creation order), a note and an author
    (frozen copy)."""
    conn.execute(text("ALTER TABLE modules ADD COLUMN version INTEGER NOT NULL DEFAULT 0"))
    conn.execute(text("ALTER TABLE modules ADD COLUMN note TEXT"))
    conn.execute(text("ALTER TABLE modules ADD COLUMN created_by TEXT"))
    rows = conn.execute(text("SELECT id, name FROM modules ORDER BY name, created_at, id")).all()
    numbers: dict[str, int] = {}
    updates = []
    for module_id, name in rows:
        numbers[name] = numbers.get(name, 0) + 1
        updates.append({"id": module_id, "version": numbers[name]})
    if updates:
        conn.execute(text("UPDATE modules SET version = :version WHERE id = :id"), updates)
    conn.execute(text("CREATE UNIQUE INDEX ix_modules_name_version ON modules (name, version)"))


def v5_rollouts(conn: Connection) -> None:
    """Rollouts of deployments to another module version (frozen copy; needs only v1)."""
    md = MetaData()
    json = json_column_type()
    Table("deployments", md, Column("id", ID, primary_key=True))
    Table(
        "rollouts",
        md,
        Column("id", ID, primary_key=True),
        Column(
            "deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
        ),
        Column("deployment", Text, nullable=False),
        Column("target", Text, nullable=False),
        Column("module_id", ID, nullable=False),
        Column("status", STATUS, nullable=False),
        Column("options", json, nullable=False),
        Column("waves", json, nullable=False),
        Column("wave", Integer, nullable=False),
        Column("updated", json, nullable=False),
        Column("gates", json, nullable=False),
        Column("owed", json, nullable=False),
        Column("skipped", json, nullable=False),
        Column("reason", Text, nullable=True),
        Column("holds", ID, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("finished_at", UTCDateTime, nullable=True),
        Index("ix_rollouts_holds", "holds", unique=True),
        Index("ix_rollouts_deployment_id", "deployment_id", "created_at"),
    )
    md.tables["rollouts"].create(conn, checkfirst=False)


def v6_identities(conn: Connection) -> None:
    """Users and their API tokens, stored as sha256 only (frozen copy; needs nothing before)."""
    md = MetaData()
    Table(
        "users",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("role", STATUS, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("disabled_at", UTCDateTime, nullable=True),
        Index("ix_users_name", "name", unique=True),
    )
    Table(
        "api_tokens",
        md,
        Column("id", ID, primary_key=True),
        Column("sha256", String(64), nullable=False),
        Column("name", Text, nullable=False),
        Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("role", STATUS, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("expires_at", UTCDateTime, nullable=True),
        Column("revoked_at", UTCDateTime, nullable=True),
        Column("last_used_at", UTCDateTime, nullable=True),
        Index("ix_api_tokens_sha256", "sha256", unique=True),
        Index("ix_api_tokens_user_id", "user_id"),
    )
    md.create_all(conn, checkfirst=False)


def v7_audit(conn: Connection) -> None:
    """The audit log of changes made through the API (frozen copy)."""
    md = MetaData()
    Table(
        "audit",
        md,
        Column("id", SERIAL, primary_key=True, autoincrement=True),
        Column("time", UTCDateTime, nullable=False),
        Column("actor", Text, nullable=False),
        Column("token_id", ID, nullable=True),
        Column("role", STATUS, nullable=True),
        Column("method", String(8), nullable=False),
        Column("route", Text, nullable=False),
        Column("path", Text, nullable=False),
        Column("target", Text, nullable=True),
        Column("status", Integer, nullable=False),
        Index("ix_audit_time", "time", "id"),
        Index("ix_audit_actor", "actor", "id"),
        sqlite_autoincrement=True,
    )
    md.create_all(conn, checkfirst=False)


def v8_execution_traces(conn: Connection) -> None:
    """Executions get the id of their W3C trace, indexed (frozen copy)."""
    conn.execute(text("ALTER TABLE executions ADD COLUMN trace_id VARCHAR(32)"))
    conn.execute(text("CREATE INDEX ix_executions_trace_id ON executions (trace_id)"))


def v9_places_and_apps(conn: Connection) -> None:
    """Locations, sensors and controllers, apps, installs, holds, schedule fires (frozen copy)."""
    md = MetaData()
    json, json_null = json_column_type(), json_column_type(nullable=True)

    Table(
        "locations",
        md,
        Column("id", ID, primary_key=True),
        Column("path", Text, nullable=False),
        Column("description", Text, nullable=False),
        Column("created_by", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Index("ix_locations_path", "path", unique=True),
    )
    Table(
        "things",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("kind", STATUS, nullable=False),
        Column("type", Text, nullable=False),
        Column("location", Text, nullable=False),
        Column("doc", json, nullable=False),
        Column("created_by", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_things_name", "name", unique=True),
        Index("ix_things_location", "location"),
        Index("ix_things_kind_type", "kind", "type"),
    )
    Table(
        "apps",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("manifest", json, nullable=False),
        Column("modules", json, nullable=False),
        Column("description", Text, nullable=False),
        Column("author", Text, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Index("ix_apps_name_version", "name", "version", unique=True),
    )
    Table(
        "installs",
        md,
        Column("id", ID, primary_key=True),
        Column("name", Text, nullable=False),
        Column("app_id", ID, ForeignKey("apps.id"), nullable=False),
        Column("location", Text, nullable=False),
        Column("params", json, nullable=False),
        Column("binding", json, nullable=False),
        Column("schedule", json_null, nullable=True),
        Column("notify", json, nullable=False),
        Column("status", STATUS, nullable=False),
        Column("reason", Text, nullable=True),
        Column("deployment_id", ID, nullable=True),
        Column("owner", Text, nullable=False),
        Column("fired", Integer, nullable=False),
        Column("last_fire", UTCDateTime, nullable=True),
        Column("next_fire", UTCDateTime, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Index("ix_installs_name", "name", unique=True),
        Index("ix_installs_owner", "owner"),
        Index("ix_installs_next_fire", "next_fire"),
    )
    Table(
        "holds",
        md,
        Column(
            "install_id",
            ID,
            ForeignKey("installs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        Column("need", Text, primary_key=True),
        Column("thing_id", ID, ForeignKey("things.id"), nullable=False),
        Column("exclusive_thing", ID, nullable=True),
        Index("ix_holds_thing_id", "thing_id"),
        Index("ix_holds_exclusive_thing", "exclusive_thing", unique=True),
    )
    Table(
        "schedule_fires",
        md,
        Column("key", String(128), primary_key=True),
        Column("install_id", ID, ForeignKey("installs.id", ondelete="CASCADE"), nullable=False),
        Column("fire_at", UTCDateTime, nullable=False),
        Column("claimed_by", Text, nullable=False),
        Column("claimed_at", UTCDateTime, nullable=False),
        Column("outcome", STATUS, nullable=True),
        Column("detail", Text, nullable=True),
        Index("ix_schedule_fires_install_id", "install_id", "fire_at"),
    )
    md.create_all(conn, checkfirst=False)
    conn.execute(text("ALTER TABLE users ADD COLUMN locations TEXT"))


def v10_leases(conn: Connection) -> None:
    """The lease rows of leader election, with the free ``leader`` row (frozen copy)."""
    md = MetaData()
    leases = Table(
        "leases",
        md,
        Column("name", String(64), primary_key=True),
        Column("holder", Text, nullable=True),
        Column("fencing", BigInteger, nullable=False),
        Column("expires_at", UTCDateTime, nullable=True),
        Column("renewed_at", UTCDateTime, nullable=True),
    )
    leases.create(conn, checkfirst=False)
    conn.execute(insert(leases).values(name="leader", holder=None, fencing=0))


def v11_blobs(conn: Connection) -> None:
    """The bytes of module binaries and data files by sha256 (frozen copy)."""
    md = MetaData()
    Table(
        "blobs",
        md,
        Column("sha256", String(64), primary_key=True),
        Column("size", BigInteger, nullable=False),
        Column("data", LargeBinary, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
    ).create(conn, checkfirst=False)
