"""The bridge's durable outbox: messages between "received from the edge" and "acked by the cloud".

One SQLite file in WAL mode with ``synchronous=FULL``: when ``put`` returns, the message is on
disk and survives a crash or a power cut, so the bridge may acknowledge it to the source broker.
A message leaves the outbox only through ``delete``, which the bridge calls once the destination
broker has acknowledged it. ``pending`` yields messages in the order they were stored (``seq``
never goes back, even after deletes), so forwarding keeps the order of every topic.

Tables::

    messages(seq INTEGER PRIMARY KEY AUTOINCREMENT, id, topic, payload BLOB, qos, retain, stored_at,
             traceparent)                         -- the message's W3C trace context, or NULL
    received(key PRIMARY KEY, digest, id, seq)   -- recent source keys, to spot redeliveries
    meta(name PRIMARY KEY, value)                 -- e.g. the topic filters subscribed at the source

``received`` remembers the last ``RECENT_KEYS`` source keys (an envelope's id, or the source's
packet id) so that a message the source broker redelivers — because the bridge stored it but
crashed before its PUBACK left — is not stored a second time under a new id. A lock file next
to the database keeps a second process from opening the same outbox. ``traceparent`` was
added without a new schema version: opening an older outbox adds the column (its messages
have none), and an older wasmfleet reads a newer outbox as before (it names its columns).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from wasmfleet.core.errors import ConfigurationError

RECENT_KEYS = 10_000
"""How many recent source keys are remembered for spotting redeliveries."""

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS received (
    key TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS received_by_seq ON received (seq);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message waiting in the outbox."""

    seq: int
    id: str
    topic: str
    payload: bytes
    qos: int
    retain: bool
    stored_at: float
    traceparent: str | None = None
    """The W3C trace context the message came with (bridges forward it)."""


class Outbox:
    """A durable FIFO of messages on SQLite, safe to use from several threads of one process."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigurationError(
                f"Cannot create the outbox directory {self.path.parent}: {err.strerror}."
            ) from None
        self._lock_file = self._take_lock()
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"The outbox {self.path} was written by a newer wasmfleet "
                    f"(schema {version}); upgrade wasmfleet or use another --outbox."
                )
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(messages)")}
            if "traceparent" not in columns:
                self._db.execute("ALTER TABLE messages ADD COLUMN traceparent TEXT")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'messages'"
            ).fetchone()
        except sqlite3.DatabaseError as err:
            self._lock_file.close()
            raise ConfigurationError(
                f"{self.path} is not a usable outbox ({err}); move it away or use another --outbox."
            ) from None
        self._last_seq = int(row[0]) if row else 0
        self._puts = 0

    def _take_lock(self) -> TextIO:
        """Hold an exclusive lock on ``<outbox>.lock`` for as long as this outbox is open."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigurationError(
                f"The outbox {self.path} is in use by another process (a second bridge?); "
                "give each bridge its own --outbox."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        return handle

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def put(
        self,
        topic: str,
        payload: bytes,
        *,
        message_id: str,
        qos: int = 1,
        retain: bool = False,
        key: str | None = None,
        digest: str = "",
        dedupe: bool = True,
        now: float | None = None,
        traceparent: str | None = None,
    ) -> tuple[str, bool]:
        """Store a message durably; returns ``(id, stored)``.

        With ``key`` (what identifies the message at its source) and ``dedupe``, a key seen
        among the last ``RECENT_KEYS`` messages with the same ``digest`` is a redelivery: the
        earlier id is returned and nothing is stored. Without ``dedupe`` the key is recorded
        for this message, replacing what it meant before.
        """
        with self._transaction() as db:
            if key is not None and dedupe:
                row = db.execute(
                    "SELECT id, digest, seq FROM received WHERE key = ?", (key,)
                ).fetchone()
                if row and row[1] == digest and row[2] > self._last_seq - RECENT_KEYS:
                    return str(row[0]), False
            cursor = db.execute(
                "INSERT INTO messages (id, topic, payload, qos, retain, stored_at, traceparent) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    topic,
                    bytes(payload),
                    qos,
                    int(retain),
                    now or time.time(),
                    traceparent,
                ),
            )
            seq = int(cursor.lastrowid or 0)
            if key is not None:
                db.execute(
                    "INSERT OR REPLACE INTO received (key, digest, id, seq) VALUES (?, ?, ?, ?)",
                    (key, digest, message_id, seq),
                )
            self._puts += 1
            if self._puts % 1000 == 0:
                db.execute("DELETE FROM received WHERE seq <= ?", (seq - RECENT_KEYS,))
            self._last_seq = seq
        return message_id, True

    def pending(self, *, after: int = 0, limit: int = 100) -> list[StoredMessage]:
        """Up to ``limit`` stored messages with ``seq > after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, topic, payload, qos, retain, stored_at, traceparent FROM messages "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
        return [
            StoredMessage(int(s), str(i), str(t), bytes(p), int(q), bool(r), float(at), tp)
            for s, i, t, p, q, r, at, tp in rows
        ]

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove delivered messages; returns how many were still there."""
        batch = [(int(s),) for s in seqs]
        if not batch:
            return 0
        with self._transaction() as db:
            before = db.total_changes
            db.executemany("DELETE FROM messages WHERE seq = ?", batch)
            return db.total_changes - before

    def count(self) -> int:
        """How many messages wait to be delivered."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

    def get_meta(self, name: str) -> str | None:
        """A value the bridge keeps beside its messages (None when unset)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        """Durably set a value in ``meta``."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def close(self) -> None:
        """Close the database and release the lock (idempotent)."""
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._lock_file.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
