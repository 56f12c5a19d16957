"""Database URLs and engines: SQLite tuned for durability, PostgreSQL through psycopg 3.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before it
returns, so an acknowledged write survives SIGKILL and power cuts), foreign keys on and a
busy timeout. SQLAlchemy emits BEGIN itself: ``BEGIN IMMEDIATE`` for writes, so two
writers queue on the busy timeout instead of failing on a lock upgrade. Within one process
(the only one a SQLite file serves, store/base.py) writers queue on a lock per file first:
SQLite's busy handler polls with sleeps of up to 100 ms, so writer threads waiting in it
took turns late and in no order (at 1,000 devices a write waited seconds); a lock hands the
file to the next writer the moment the last one commits.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from wasmfleet.core.errors import ConfigurationError, Unavailable
from wasmfleet.service.backoff import Backoff

BUSY_TIMEOUT_MS = 30_000
_WRITE = "wasmfleet_write"
_SQLITE_WRITERS: dict[str, threading.RLock] = {}
_SQLITE_WRITERS_LOCK = threading.Lock()


def _writer_lock(engine: Engine) -> threading.RLock | None:
    """The in-process writer queue of a SQLite file (None on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return None
    key = str(engine.url.database or ":memory:")
    with _SQLITE_WRITERS_LOCK:
        return _SQLITE_WRITERS.setdefault(key, threading.RLock())


def sqlite_url(data_dir: Path) -> str:
    """The default database: ``orchestrator.db`` in the data directory."""
    return f"sqlite:///{data_dir / 'orchestrator.db'}"


def masked(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def driver_url(url: str) -> URL:
    """Parse a user's URL: ``postgresql://`` (or ``postgres://``) means psycopg 3."""
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    except ArgumentError:
        raise ConfigurationError(
            f"Cannot read the database URL {masked(url)!r}; use sqlite:///path/to/file.db "
            "or postgresql://user:password@host:5432/database."
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgresql":
        if driver not in {"", "psycopg"}:
            raise ConfigurationError(
                f"The database driver {driver!r} is not supported; write postgresql://... "
                "(wasmfleet uses psycopg 3)."
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in {"", "pysqlite"}:
            raise ConfigurationError(f"The SQLite driver {driver!r} is not supported.")
        if parsed.database in (None, "", ":memory:"):
            raise ConfigurationError(
                "An in-memory SQLite database would lose everything on restart; give a file, "
                "e.g. sqlite:////var/lib/wasmfleet/orchestrator.db."
            )
        return parsed
    raise ConfigurationError(
        f"The database URL {masked(url)!r} names {backend!r}; wasmfleet stores its state in "
        "SQLite (sqlite:///path/to/file.db) or PostgreSQL (postgresql://...)."
    )


def json_text(value: Any) -> str:
    """A JSON column's text, as the engine writes it: orjson writes NaN/Infinity as null
    (PostgreSQL's json rejects them) and datetimes as ISO."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


_dumps = json_text


def _loads(value: Any) -> Any:
    # SQLite gives a column declared JSON numeric affinity: a bare number comes back as one.
    return value if isinstance(value, int | float) else orjson.loads(value)


POOL_SIZE = 10
"""PostgreSQL connections each orchestrator keeps open (plus two of the fan-in's)."""
POOL_OVERFLOW = 10
"""Further connections opened under a burst and closed after it."""


def make_engine(url: str) -> Engine:
    """An engine for a user's URL, configured for this store; creates a SQLite file's directory."""
    target = driver_url(url)
    common: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": _loads}
    if target.get_backend_name() == "postgresql":
        return create_engine(
            target,
            pool_pre_ping=True,
            # Kept open: more than the worker threads that reach the database at once (6 on
            # 2 cores). With 5, a sixth concurrent query opened an overflow connection and
            # closed it again after use — a new PostgreSQL backend process each time.
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            connect_args={"connect_timeout": 10, "application_name": "wasmfleet-orchestrator"},
            **common,
        )
    assert target.database is not None
    Path(target.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        target,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        **common,
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _wal_mode(cursor: Any) -> str:
    """Switch to WAL and return the journal mode now in force.

    Switching a new database file to WAL needs a moment of exclusive access, and SQLite
    answers "database is locked" at once — without its busy handler — when another
    connection opens the same new file just then (two orchestrators starting together).
    Retry within the busy timeout; once one connection switched, the mode persists."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    backoff = Backoff(0.005, 0.2)
    while True:
        try:
            return str(cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as err:
            delay = backoff.next()
            if "locked" not in str(err) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = _wal_mode(cursor)
        if str(mode).lower() != "wal":
            raise ConfigurationError(
                f"SQLite refused WAL mode (journal_mode is {mode}); put the database on a "
                "local file system."
            )
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A short transaction for reading."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A short transaction for writing, committed (durably) when the block ends."""
    queue = _writer_lock(engine)
    if queue is not None and not queue.acquire(timeout=BUSY_TIMEOUT_MS / 1000):
        raise Unavailable(
            f"The database {engine.url.database} had no turn to write within "
            f"{BUSY_TIMEOUT_MS / 1000:g} s; the orchestrator is overloaded, try again."
        )
    try:
        with engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn
    finally:
        if queue is not None:
            queue.release()
