"""The orchestrator's store: devices, modules, deployments, executions, logs, users, places.

``open_store(url)`` opens SQLite (``sqlite_url(data_dir)``, the default) or PostgreSQL
(``postgresql://...``), creating or upgrading the schema (see ``migrations``).
"""

from __future__ import annotations

from wasmfleet.orchestrator.store.engine import sqlite_url
from wasmfleet.orchestrator.store.migrations import MIGRATIONS, Migration
from wasmfleet.orchestrator.store.places import LocationRecord, ThingRecord
from wasmfleet.orchestrator.store.records import (
    AuditRecord,
    DeploymentRecord,
    DeviceRecord,
    ExecutionRecord,
    LogRecord,
    ModuleRecord,
    RolloutRecord,
    StatusEntry,
    TokenRecord,
    UserRecord,
)
from wasmfleet.orchestrator.store.store import Store, open_store

__all__ = [
    "MIGRATIONS",
    "AuditRecord",
    "DeploymentRecord",
    "DeviceRecord",
    "ExecutionRecord",
    "LocationRecord",
    "LogRecord",
    "Migration",
    "ModuleRecord",
    "RolloutRecord",
    "StatusEntry",
    "Store",
    "ThingRecord",
    "TokenRecord",
    "UserRecord",
    "open_store",
    "sqlite_url",
]
