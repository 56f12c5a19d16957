"""The orchestrator's persistent store: one object, short transactions, durable writes.

Every method runs in its own transaction and commits before it returns, so what a
method acknowledged survives a crash. A ``Store`` is safe to share between threads (a
pool of connections; SQLite writers queue on a busy timeout).
"""

from __future__ import annotations

from collections.abc import Sequence

from wasmfleet.orchestrator.store.apps import AppQueries
from wasmfleet.orchestrator.store.blobs import BlobQueries
from wasmfleet.orchestrator.store.deployments import DeploymentQueries
from wasmfleet.orchestrator.store.devices import DeviceQueries
from wasmfleet.orchestrator.store.engine import make_engine, masked
from wasmfleet.orchestrator.store.identities import IdentityQueries
from wasmfleet.orchestrator.store.installs import InstallQueries
from wasmfleet.orchestrator.store.leases import LeaseQueries
from wasmfleet.orchestrator.store.logs import LogQueries
from wasmfleet.orchestrator.store.migrations import MIGRATIONS, Migration, upgrade
from wasmfleet.orchestrator.store.modules import ModuleQueries
from wasmfleet.orchestrator.store.places import PlaceQueries
from wasmfleet.orchestrator.store.retention import RetentionQueries
from wasmfleet.orchestrator.store.rollouts import RolloutQueries


class Store(
    DeviceQueries,
    ModuleQueries,
    DeploymentQueries,
    LogQueries,
    RetentionQueries,
    RolloutQueries,
    IdentityQueries,
    PlaceQueries,
    AppQueries,
    InstallQueries,
    LeaseQueries,
    BlobQueries,
):
    """Devices, modules, deployments, executions, logs, rollouts, users, tokens, the audit
    log, locations, sensors and controllers, apps and their installs, the leader lease and
    (shared on PostgreSQL) module bytes in SQLite or PostgreSQL."""


def open_store(url: str, *, migrations: Sequence[Migration] = MIGRATIONS) -> Store:
    """Open the database at ``url``, creating or upgrading its schema; ConfigurationError if newer.

    ``postgresql://`` URLs use psycopg 3; a SQLite file's directory is created if missing.
    ``migrations`` is for tests (e.g. to build a database at an older version).
    """
    shown = masked(url)
    engine = make_engine(url)
    try:
        upgrade(engine, migrations, where=shown)
    except BaseException:
        engine.dispose()
        raise
    return Store(engine, shown)
