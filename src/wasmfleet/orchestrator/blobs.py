"""Content-addressed module binaries and data files, named by their sha256.

A blob is written to a temporary file, fsynced and renamed into place before its record is
committed to the database, so an acknowledged upload survives a crash; writing the same
content twice stores it once.

With a *shared* store (``SharedBlobs``: the database's ``blobs`` table, given only on
PostgreSQL, where several orchestrators with their own data directories share one database)
the database is the source of truth and the files are a cache in front of it: ``put`` writes
the file and commits the row, ``read`` on a file miss reads the row, checks its digest and
keeps it as a file, ``delete`` removes both. On SQLite (one orchestrator process per file) there
is no shared store: the files are the only copy and no bytes go into the database.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from wasmfleet.core.errors import NotFound
from wasmfleet.service.files import write_atomic

log = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{64}$")


class SharedBlobs(Protocol):
    """Where orchestrators sharing a database share bytes (``store/blobs.py`` on the Store)."""

    def put_blob(self, sha256: str, data: bytes) -> bool:
        """Store the bytes under their digest (idempotent), committed on return."""
        ...

    def get_blob(self, sha256: str) -> bytes | None:
        """The bytes, or None."""
        ...

    def has_blob(self, sha256: str) -> bool:
        """True when the digest is stored."""
        ...

    def delete_blob(self, sha256: str) -> bool:
        """Remove the bytes; False when they were not there."""
        ...

    def blob_digests(self, among: Iterable[str] | None = None) -> set[str]:
        """The digests stored (among ``among`` when given)."""
        ...


class BlobStore:
    """Files under ``<root>/<sha[:2]>/<sha>``, in front of an optional shared store."""

    def __init__(self, root: Path, shared: SharedBlobs | None = None) -> None:
        self.root = root
        self.shared = shared
        """The database's copy (PostgreSQL), or None: the files are the only copy (SQLite)."""
        self.fetched = 0
        """Blobs this orchestrator read from the shared store because it had no file."""
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this digest lives (it may not exist)."""
        if not _SHA.match(sha256):
            raise NotFound(f"{sha256!r} is not a sha256 digest.")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` durably (the file, and the shared row when there is a shared store)
        and return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if not (target.exists() and target.stat().st_size == len(data)):
            _write_file(target, data)
        if self.shared is not None:  # also when the file was there: the row may not be
            self.shared.put_blob(sha, data)
        return sha

    def read(self, sha256: str) -> bytes:
        """The blob's bytes (from the shared store on a file miss, then kept), or NotFound."""
        target = self.path(sha256)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            pass
        if self.shared is None:
            raise NotFound(f"The file with sha256 {sha256} is missing from the store.")
        data = self.shared.get_blob(sha256)
        if data is None:
            raise NotFound(
                f"The file with sha256 {sha256} is missing from this orchestrator's store and "
                "from the database the orchestrators share; push the module again."
            )
        if hashlib.sha256(data).hexdigest() != sha256:
            log.error("the shared copy of blob %s does not match its digest", sha256)
            raise NotFound(
                f"The database's copy of the file with sha256 {sha256} does not match that "
                "digest (it is damaged); push the module again."
            )
        _write_file(target, data)
        self.fetched += 1
        return data

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored (as a file here, or in the shared store)."""
        if self.path(sha256).is_file():
            return True
        return self.shared is not None and self.shared.has_blob(sha256)

    def delete(self, sha256: str) -> bool:
        """Remove a blob nothing references any more: the file here and the shared row (files
        other orchestrators keep are caches nothing reads again); False when neither was there."""
        removed = False
        try:
            self.path(sha256).unlink()
            removed = True
        except FileNotFoundError:
            pass
        if self.shared is not None:
            removed = self.shared.delete_blob(sha256) or removed
        return removed

    def share_missing(self, digests: Iterable[str]) -> int:
        """Upload to the shared store the blobs among ``digests`` that it lacks and this
        orchestrator has as files (an upgrade from files-only storage); how many.

        One query for the stored digests, then one insert per missing blob; a file whose bytes
        do not match its name is skipped with a warning."""
        if self.shared is None:
            return 0
        local = {sha for sha in set(digests) if _SHA.match(sha) and self.path(sha).is_file()}
        missing = sorted(local - self.shared.blob_digests(local))
        shared = 0
        for sha in missing:
            try:
                data = self.path(sha).read_bytes()
            except FileNotFoundError:  # deleted meanwhile
                continue
            if hashlib.sha256(data).hexdigest() != sha:
                log.warning("not sharing blob %s: the file's bytes do not match its name", sha)
                continue
            self.shared.put_blob(sha, data)
            shared += 1
        return shared


def _write_file(target: Path, data: bytes) -> None:
    """Write ``target`` durably (service/files.py), its directory made first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, data)
