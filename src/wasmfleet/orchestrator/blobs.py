"""Content-addressed files on disk: module binaries and data files, named by their sha256.

A blob is written to a temporary file, fsynced and renamed into place before its record is
committed to the database, so an acknowledged upload survives a crash; writing the same
content twice stores it once.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from wasmfleet.core.errors import NotFound

_SHA = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    """Files under ``<root>/<sha[:2]>/<sha>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this digest lives (it may not exist)."""
        if not _SHA.match(sha256):
            raise NotFound(f"{sha256!r} is not a sha256 digest.")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` durably and return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.exists() and target.stat().st_size == len(data):
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{sha}.{os.getpid()}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return sha

    def read(self, sha256: str) -> bytes:
        """The blob's bytes, or NotFound."""
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"The file with sha256 {sha256} is missing from the store.") from None

    def exists(self, sha256: str) -> bool:
        """True when the blob is stored."""
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> bool:
        """Remove a blob (nothing references it any more); False when it was not there."""
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            return False
        return True
