"""What every part of the store shares: the engine, short transactions, key lookups."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Table, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from wasmfleet.core.errors import Conflict, NotLeader, Unavailable
from wasmfleet.orchestrator.store.engine import read_transaction, write_transaction
from wasmfleet.orchestrator.store.fence import FENCE, check_fence
from wasmfleet.orchestrator.store.migrations import current_version
from wasmfleet.orchestrator.store.schema import schema_version


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """The same instant in UTC; a naive datetime counts as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StoreBase:
    """The engine and transaction helpers; each public method uses one short transaction."""

    url: str
    """The database URL with any password masked."""
    engine: Engine

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.refused_writes = 0
        """Writes of leader-only work refused because another orchestrator leads now."""

    @property
    def schema_version(self) -> int:
        """The database's schema version."""
        with self._read() as conn:
            return current_version(conn)

    def ping(self) -> None:
        """Read the schema version, a one-row query; Unavailable with a sentence if that fails.

        A SQLite file is also looked up on disk: open connections keep working on a file
        that was deleted or made unreadable, and would lose everything at the next start."""
        if self.engine.dialect.name == "sqlite" and self.engine.url.database:
            _check_sqlite_file(Path(self.engine.url.database))
        try:
            with self._read() as conn:
                conn.scalar(select(func.max(schema_version.c.version)))
        except SQLAlchemyError as err:
            reason = str(getattr(err, "orig", None) or err).strip().splitlines()
            raise Unavailable(
                f"The database at {self.url} does not answer a query: "
                f"{reason[0] if reason else type(err).__name__}"
            ) from None

    def close(self) -> None:
        """Close every pooled connection; the store must not be used afterwards."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def _read(self) -> AbstractContextManager[Connection]:
        return read_transaction(self.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; under a fence (store/fence.py) it first checks the lease."""
        with write_transaction(self.engine) as conn:
            fencing = FENCE.get()
            if fencing is not None:
                try:
                    check_fence(conn, fencing)
                except NotLeader:
                    self.refused_writes += 1
                    raise
            yield conn

    @contextmanager
    def _unique(self, message: str) -> Iterator[None]:
        """Turn a unique-constraint violation (a race the checks lost) into Conflict."""
        try:
            yield
        except IntegrityError as err:
            raise Conflict(message) from err


def _check_sqlite_file(path: Path) -> None:
    """Unavailable when the SQLite file is gone or this process may not read and write it."""
    if not path.is_file():
        raise Unavailable(
            f"The SQLite database file {path} no longer exists; what the orchestrator writes "
            "now would be lost at its next start. Put the file back, or restart it."
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise Unavailable(
            f"The SQLite database file {path} cannot be read and written by this process "
            "(permissions, or a file system that became read-only)."
        )


def row_by_key(conn: Connection, table: Table, key: str, *, lock: bool = False) -> Row[Any] | None:
    """The row whose id is ``key``, else the one whose name is ``key``, else None."""
    query = select(table).where(or_(table.c.id == key, table.c.name == key))
    if lock:
        query = query.with_for_update()
    rows = conn.execute(query).all()
    for row in rows:
        if row.id == key:
            return row
    return rows[0] if rows else None


def row_by_name(conn: Connection, table: Table, name: str) -> Row[Any] | None:
    """The row with this name, or None."""
    return conn.execute(select(table).where(table.c.name == name)).first()
