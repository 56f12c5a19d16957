"""Blob rows: the bytes of module binaries and data files, keyed by their sha256.

With several orchestrators on one PostgreSQL this table is where module bytes are shared
(``orchestrator/blobs.py`` keeps a file cache in front of it). Every method is one short
transaction; ``put_blob`` is idempotent on the digest (the same content stored twice is one
row). The table exists on SQLite too (one schema for both backends) but the orchestrator
writes no bytes into it there: ``shares_blobs`` says which backend it is.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from wasmfleet.core.errors import Unavailable
from wasmfleet.orchestrator.store.base import StoreBase, utcnow
from wasmfleet.orchestrator.store.schema import blobs
from wasmfleet.service.backoff import Backoff

BLOB_LOCK_KEY = 0x77666C62  # "wflb"
"""The advisory lock (a bigint of this application's choosing) ``blob_guard`` holds."""
BLOB_LOCK_WAIT_S = 10.0
"""How long ``blob_guard`` waits for another orchestrator to release it."""


class BlobQueries(StoreBase):
    """Bytes by sha256: put (once), get, has, delete, and which digests are stored."""

    @property
    def shares_blobs(self) -> bool:
        """True on PostgreSQL, where several orchestrators (each with its own data directory)
        share this database and so must share module bytes through it."""
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def blob_guard(self) -> Iterator[None]:
        """Held by whoever stores a module's bytes and records it, or deletes bytes that no
        module references: across every orchestrator on this PostgreSQL (a session advisory
        lock on a connection of its own), so a module pushed on one cannot lose its bytes to a
        delete on another that read the references before the push committed. On SQLite
        there is one orchestrator and the caller's own lock is enough: nothing is done."""
        if not self.shares_blobs:
            yield
            return
        with self.engine.connect() as conn:
            deadline = time.monotonic() + BLOB_LOCK_WAIT_S
            backoff = Backoff(0.01, 0.5)
            try_lock = text("SELECT pg_try_advisory_lock(:key)")
            while not conn.scalar(try_lock, {"key": BLOB_LOCK_KEY}):
                conn.commit()
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        "Another orchestrator has been storing or deleting module bytes for "
                        f"{BLOB_LOCK_WAIT_S:g} s (or stopped while doing it); try again shortly."
                    )
                time.sleep(backoff.next())
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": BLOB_LOCK_KEY})
                conn.commit()

    def put_blob(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under its digest, committed on return; False when it was there."""
        values = {"sha256": sha256, "size": len(data), "data": data, "created_at": utcnow()}
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        query = dialect.insert(blobs).values(**values).on_conflict_do_nothing()
        with self._write() as conn:  # no row back when the digest was there
            return conn.execute(query.returning(blobs.c.sha256)).first() is not None

    def get_blob(self, sha256: str) -> bytes | None:
        """The stored bytes, or None."""
        with self._read() as conn:
            data = conn.scalar(select(blobs.c.data).where(blobs.c.sha256 == sha256))
        return bytes(data) if data is not None else None

    def has_blob(self, sha256: str) -> bool:
        """True when a row holds this digest (the bytes are not read)."""
        with self._read() as conn:
            found = conn.scalar(select(blobs.c.sha256).where(blobs.c.sha256 == sha256))
        return found is not None

    def delete_blob(self, sha256: str) -> bool:
        """Remove the row; False when there was none."""
        with self._write() as conn:
            return bool(conn.execute(delete(blobs).where(blobs.c.sha256 == sha256)).rowcount)

    def blob_digests(self, among: Iterable[str] | None = None) -> set[str]:
        """The digests stored (only those in ``among`` when given), one query, no bytes."""
        query = select(blobs.c.sha256)
        if among is not None:
            wanted = sorted(set(among))
            if not wanted:
                return set()
            query = query.where(blobs.c.sha256.in_(wanted))
        with self._read() as conn:
            return set(conn.scalars(query))
