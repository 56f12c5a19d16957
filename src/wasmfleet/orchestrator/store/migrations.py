"""Versioned schema changes, applied in order when a store is opened.

The ``schema_version`` table holds one row per applied migration. Opening a database
applies the missing migrations in one transaction (all or nothing) under a lock, so two
orchestrators starting at once cannot both upgrade. A migration is never edited once
released: it carries a frozen copy of the DDL it applies (``migration_ddl.py``), and a schema
change is a new ``Migration`` appended to ``MIGRATIONS`` plus the matching change in
``schema.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.orchestrator.store import migration_ddl as ddl
from wasmfleet.orchestrator.store.engine import write_transaction
from wasmfleet.orchestrator.store.schema import STORE_TABLES, schema_version

_PG_LOCK_KEY = 0x77666C656574  # "wfleet": the advisory lock held while upgrading


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema change: its version number, what it does, and the function doing it."""

    version: int
    description: str
    apply: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "devices with status log, modules, deployments with module index, executions, logs",
        ddl.v1_initial,
    ),
    Migration(2, "deployments get a fencing epoch and the history of moved steps", ddl.v2_fencing),
    Migration(
        3, "module names may repeat (the name resolves to the newest module)", ddl.v3_module_names
    ),
    Migration(
        4,
        "modules get version numbers per name (by creation order), a note and an author",
        ddl.v4_module_versions,
    ),
    Migration(5, "rollouts of deployments to another module version, in waves", ddl.v5_rollouts),
    Migration(6, "users and API tokens (sha256 only), expiring and revocable", ddl.v6_identities),
    Migration(7, "the audit log of changes made through the API", ddl.v7_audit),
    Migration(8, "executions get the id of their trace (traceparent)", ddl.v8_execution_traces),
    Migration(
        9,
        "locations, sensors and controllers, apps, installs with holds and schedule fires; "
        "users get the locations they may install at",
        ddl.v9_places_and_apps,
    ),
    Migration(
        10, "the leader lease with its fencing number (several orchestrators)", ddl.v10_leases
    ),
    Migration(
        11,
        "the bytes of module binaries and data files by sha256 (shared on PostgreSQL)",
        ddl.v11_blobs,
    ),
)
"""Every migration, oldest first; the last one's version is the schema this code expects."""


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The schema version a database has after all ``migrations``."""
    return migrations[-1].version if migrations else 0


def current_version(conn: Connection) -> int:
    """The database's schema version: 0 when it has no version table yet."""
    if not inspect(conn).has_table(schema_version.name):
        return 0
    return int(conn.scalar(select(func.max(schema_version.c.version))) or 0)


def upgrade(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS, *, where: str) -> int:
    """Bring the database to the latest version; the version it is at afterwards.

    ``where`` names the database in error messages (a URL without password).
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migration versions must be increasing from 1, got {versions}")
    latest = latest_version(migrations)
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = current_version(conn)
        if current == 0:
            _refuse_foreign_tables(conn, where)
            schema_version.create(conn, checkfirst=True)
        if current > latest:
            raise ConfigurationError(
                f"The database at {where} has schema version {current}, which is newer than "
                f"version {latest}, the newest this wasmfleet knows; it was written by a newer "
                "wasmfleet: upgrade wasmfleet, or point it at another database."
            )
        for migration in migrations:
            if migration.version <= current:
                continue
            try:
                migration.apply(conn)
            except Exception as err:
                raise ConfigurationError(
                    f"Upgrading the database at {where} to schema version {migration.version} "
                    f"({migration.description}) failed: {err}. Nothing was changed; the database "
                    f"is still at version {current}."
                ) from err
            conn.execute(
                insert(schema_version).values(
                    version=migration.version,
                    description=migration.description,
                    applied_at=datetime.now(UTC),
                )
            )
    return max(current, latest)


def _refuse_foreign_tables(conn: Connection, where: str) -> None:
    clash = sorted(set(inspect(conn).get_table_names()) & set(STORE_TABLES))
    if clash:
        raise ConfigurationError(
            f"The database at {where} already has tables named {', '.join(clash)} but no "
            f"{schema_version.name} table, so it is not a wasmfleet database; point "
            "wasmfleet at an empty database or a new SQLite file."
        )
