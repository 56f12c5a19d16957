"""The current database schema, as the store's queries see it.

This describes the schema *after* every migration in ``migrations.py``; the migrations
themselves carry frozen copies of the DDL they apply, so changing a table here needs a
new migration there (``tests/integration/test_store_schema.py`` compares the two).
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
)

from wasmfleet.orchestrator.store.coltypes import (
    ID,
    SERIAL,
    STATUS,
    UTCDateTime,
    json_column_type,
)

metadata = MetaData()

schema_version = Table(  # the bootstrap table: never change it
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("addresses", json_column_type(), nullable=False),
    Column("port", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("tls", Boolean, nullable=False),
    Column("description", json_column_type(), nullable=False),
    Column("interfaces", json_column_type(), nullable=False),
    Column("labels", json_column_type(), nullable=False),
    Column("status", STATUS, nullable=False),
    Column("health", json_column_type(nullable=True), nullable=True),
    Column("last_seen", UTCDateTime, nullable=True),
    Column("failures", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_devices_name", "name", unique=True),
)

device_status = Table(
    "device_status",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("device_id", ID, ForeignKey("devices.id", ondelete="CASCADE"), nullable=False),
    Column("time", UTCDateTime, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_device_status_device_id", "device_id", "id"),
    sqlite_autoincrement=True,
)

modules = Table(
    "modules",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("exports", json_column_type(), nullable=False),
    Column("requirements", json_column_type(), nullable=False),
    Column("description", json_column_type(nullable=True), nullable=True),
    Column("data_files", json_column_type(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("version", Integer, nullable=False, server_default="0"),
    Column("note", Text, nullable=True),
    Column("created_by", Text, nullable=True),
    Index("ix_modules_name", "name"),  # not unique: a name has versions 1, 2, 3 ...
    Index("ix_modules_sha256", "sha256"),
    Index("ix_modules_name_version", "name", "version", unique=True),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("manifest", json_column_type(), nullable=False),
    Column("plan", json_column_type(nullable=True), nullable=True),
    Column("documents", json_column_type(), nullable=False),
    Column("results", json_column_type(), nullable=False),
    Column("module_ids", json_column_type(), nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("epoch", Integer, nullable=False, server_default="0"),
    Column("moves", json_column_type(), nullable=False, server_default="[]"),
    Index("ix_deployments_name", "name", unique=True),
    Index("ix_deployments_status", "status"),
    Index("ix_deployments_created_at", "created_at"),
)

deployment_modules = Table(
    "deployment_modules",
    metadata,
    Column(
        "deployment_id",
        ID,
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("module_id", ID, primary_key=True),
    Index("ix_deployment_modules_module_id", "module_id"),
)
"""Which deployment uses which module: an index kept in step with ``deployments.module_ids``."""

executions = Table(
    "executions",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "deployment_id",
        ID,
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("success", Boolean, nullable=False),
    Column("request", json_column_type(), nullable=False),
    Column("result", json_column_type(nullable=True), nullable=True),
    Column("result_url", Text, nullable=True),
    Column("steps", json_column_type(), nullable=False),
    Column("error", Text, nullable=True),
    Column("trace_id", String(32), nullable=True),
    Index("ix_executions_deployment_id", "deployment_id", "started_at"),
    Index("ix_executions_started_at", "started_at"),
    Index("ix_executions_trace_id", "trace_id"),
)

logs = Table(
    "logs",
    metadata,
    Column("id", SERIAL, primary_key=True, autoincrement=True),
    Column("time", UTCDateTime, nullable=False),
    Column("device", Text, nullable=False),
    Column("level", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("data", json_column_type(), nullable=False),
    Index("ix_logs_time", "time", "id"),
    Index("ix_logs_device", "device", "id"),
    sqlite_autoincrement=True,
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "deployment_id",
        ID,
        ForeignKey("deployments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("deployment", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("module_id", ID, nullable=False),
    Column("status", STATUS, nullable=False),
    Column("options", json_column_type(), nullable=False),
    Column("waves", json_column_type(), nullable=False),
    Column("wave", Integer, nullable=False),
    Column("updated", json_column_type(), nullable=False),
    Column("gates", json_column_type(), nullable=False),
    Column("owed", json_column_type(), nullable=False),
    Column("skipped", json_column_type(), nullable=False),
    Column("reason", Text, nullable=True),
    Column("holds", ID, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Index("ix_rollouts_holds", "holds", unique=True),
    Index("ix_rollouts_deployment_id", "deployment_id", "created_at"),
)
"""Rollouts of deployments to another module version; ``holds`` is the deployment id while
the rollout is active (NULL after), so a unique index allows one active rollout each."""

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", STATUS, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("locations", Text, nullable=True),
    Index("ix_users_name", "name", unique=True),
)
"""People and CI jobs; a disabled user's tokens are refused. ``locations`` (a JSON list of
location paths, NULL = anywhere) is where an end user may install apps."""

api_tokens = Table(
    "api_tokens",
    metadata,
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
"""API tokens: only the sha256 of the secret is kept; the clear token is shown once."""

audit = Table(
    "audit",
    metadata,
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
"""Every change made through the API: who, when, which route and target, and the outcome."""

locations = Table(
    "locations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("path", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_locations_path", "path", unique=True),
)
"""Locations (``campus/building/room``) the platform configurer registered."""

things = Table(
    "things",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", STATUS, nullable=False),
    Column("type", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("doc", json_column_type(), nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_things_name", "name", unique=True),
    Index("ix_things_location", "location"),
    Index("ix_things_kind_type", "kind", "type"),
)
"""Sensors and controllers: kind, type, location; ``doc`` keeps the rest (via, params)."""

apps = Table(
    "apps",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("manifest", json_column_type(), nullable=False),
    Column("modules", json_column_type(), nullable=False),
    Column("description", Text, nullable=False),
    Column("author", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_apps_name_version", "name", "version", unique=True),
)
"""App versions: the manifest as uploaded, and ``modules`` (need name -> module id)."""

installs = Table(
    "installs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("app_id", ID, ForeignKey("apps.id"), nullable=False),
    Column("location", Text, nullable=False),
    Column("params", json_column_type(), nullable=False),
    Column("binding", json_column_type(), nullable=False),
    Column("schedule", json_column_type(nullable=True), nullable=True),
    Column("notify", json_column_type(), nullable=False),
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
"""An app installed at a location: parameters, binding, schedule, who owns it, its status."""

holds = Table(
    "holds",
    metadata,
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
"""Which thing each install binds for each need; ``exclusive_thing`` (the thing id, NULL when
shared) is unique, so two installs can never hold one controller exclusively."""

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("install_id", ID, ForeignKey("installs.id", ondelete="CASCADE"), nullable=False),
    Column("fire_at", UTCDateTime, nullable=False),
    Column("claimed_by", Text, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("outcome", STATUS, nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_schedule_fires_install_id", "install_id", "fire_at"),
)
"""One row per schedule fire, claimed with INSERT (primary key ``core.schedule.fire_key``),
so a fire runs exactly once even with several orchestrators."""

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", Text, nullable=True),
    Column("fencing", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("renewed_at", UTCDateTime, nullable=True),
)
"""Leases the orchestrators compete for (``core/leadership.py``): the row ``leader`` names the
one that runs detection, healing, rollouts, schedules and retention, with its fencing number."""

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Module binaries and data files by sha256: the copy every orchestrator on one PostgreSQL
reads (``orchestrator/blobs.py``); left empty on SQLite, where the files are the only copy."""

STORE_TABLES = (
    "devices",
    "device_status",
    "modules",
    "deployments",
    "deployment_modules",
    "executions",
    "logs",
    "rollouts",
    "users",
    "api_tokens",
    "audit",
    "locations",
    "things",
    "apps",
    "installs",
    "holds",
    "schedule_fires",
    "leases",
    "blobs",
)
"""Every table of the store except ``schema_version``."""
