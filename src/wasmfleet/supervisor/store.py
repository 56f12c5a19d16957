"""The supervisor's data directory: deployments that survive restarts, even SIGKILL.

Layout::

    <data>/modules/<sha256>.wasm             binaries, content-addressed, shared
    <data>/files/<sha256>                    data files named by a sha256, shared
    <data>/cache/compiled/                   wasmtime artifacts (runtime.engine)
    <data>/deployments/<id>/deployment.json  the deploy body and what was fetched
    <data>/deployments/<id>/files/<module>/  each module's directory, preopened as "."

A deploy is built in ``deployments/.staging-<id>-<n>`` and swapped in with renames, so a
crash leaves either the old deployment or the new one, never a mix; ``recover`` finishes
or undoes an interrupted swap at start-up.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wasmfleet.service.files import fsync_dir, write_atomic

RECORD = "deployment.json"
_counter = itertools.count()


class DeploymentStore:
    """Persistent deployments and module binaries under one data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules_dir = root / "modules"
        self.deployments_dir = root / "deployments"
        self.cache_dir = root / "cache" / "compiled"
        self.files_dir = root / "files"
        for directory in (self.modules_dir, self.deployments_dir, self.cache_dir, self.files_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.recover()

    # -- binaries ---------------------------------------------------------------------

    def save_binary(self, data: bytes) -> str:
        """Store a module binary by its sha256 (once) and return the digest."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.modules_dir / f"{sha}.wasm"
        if not path.exists():
            write_atomic(path, data)
        return sha

    def has_binary(self, sha: str) -> bool:
        """True when the binary with that sha256 is stored here."""
        return (self.modules_dir / f"{sha}.wasm").is_file()

    def load_binary(self, sha: str) -> bytes:
        """A stored module binary."""
        return (self.modules_dir / f"{sha}.wasm").read_bytes()

    # -- data files -------------------------------------------------------------------

    def file_path(self, sha: str) -> Path:
        """Where the data file with that sha256 is (or would be) stored."""
        return self.files_dir / sha

    def has_file(self, sha: str) -> bool:
        """True when a data file with that sha256 is stored here."""
        return self.file_path(sha).is_file()

    def save_file(self, sha: str, data: bytes) -> None:
        """Store a data file whose sha256 was checked (once)."""
        path = self.file_path(sha)
        if not path.exists():
            write_atomic(path, data)

    # -- deployments ------------------------------------------------------------------

    def final_dir(self, dep_id: str) -> Path:
        """Where a committed deployment lives."""
        return self.deployments_dir / dep_id

    def new_stage(self, dep_id: str) -> Path:
        """A fresh, empty directory to build a deployment in."""
        stage = self.deployments_dir / f".staging-{dep_id}-{os.getpid()}-{next(_counter)}"
        stage.mkdir(parents=True)
        return stage

    @staticmethod
    def module_dir(base: Path, module: str) -> Path:
        """The directory of one module inside a (staged or committed) deployment."""
        return base / "files" / module

    def commit(self, dep_id: str, stage: Path, record: dict[str, Any]) -> Path:
        """Write the record into ``stage`` and make it the deployment, replacing any old one."""
        final, trash = self.commit_keeping_old(dep_id, stage, record)
        if trash is not None:
            self.drop_old(trash)
        return final

    def commit_keeping_old(
        self, dep_id: str, stage: Path, record: dict[str, Any]
    ) -> tuple[Path, Path | None]:
        """``commit``, but the replaced deployment's directory is moved aside, not deleted:
        its instances may still be running calls in it (hot swap). Returns (final, old).
        Delete ``old`` with ``drop_old`` (``recover`` does it after a crash)."""
        write_atomic(stage / RECORD, json.dumps(record, indent=1).encode())
        final = self.final_dir(dep_id)
        trash = None
        if final.exists():
            trash = self.deployments_dir / f".trash-{dep_id}-{os.getpid()}-{next(_counter)}"
            os.rename(final, trash)
        os.rename(stage, final)
        fsync_dir(self.deployments_dir)
        return final, trash

    @staticmethod
    def drop_old(trash: Path) -> None:
        """Delete a replaced deployment's directory (see ``commit_keeping_old``)."""
        shutil.rmtree(trash, ignore_errors=True)

    def discard(self, stage: Path) -> None:
        """Throw away a staging directory after a failed deploy."""
        shutil.rmtree(stage, ignore_errors=True)

    def remove(self, dep_id: str) -> None:
        """Delete a committed deployment from disk."""
        final = self.final_dir(dep_id)
        if final.exists():
            trash = self.deployments_dir / f".trash-{dep_id}-{os.getpid()}-{next(_counter)}"
            os.rename(final, trash)
            fsync_dir(self.deployments_dir)
            shutil.rmtree(trash, ignore_errors=True)

    def records(self) -> Iterator[tuple[str, Path, dict[str, Any]]]:
        """Every committed deployment: (id, directory, record). Unreadable ones are skipped."""
        for path in sorted(self.deployments_dir.iterdir()):
            if path.name.startswith(".") or not (path / RECORD).is_file():
                continue
            try:
                record = json.loads((path / RECORD).read_text())
            except (OSError, ValueError):
                continue
            yield path.name, path, record

    def recover(self) -> None:
        """Finish or undo a swap interrupted by a crash."""
        for path in self.deployments_dir.glob(".staging-*"):
            shutil.rmtree(path, ignore_errors=True)
        for path in sorted(self.deployments_dir.glob(".trash-*")):
            dep_id = path.name[len(".trash-") :].rsplit("-", 2)[0]
            final = self.final_dir(dep_id)
            if not final.exists() and (path / RECORD).is_file():
                os.rename(path, final)  # crashed between the two renames: keep the old one
            else:
                shutil.rmtree(path, ignore_errors=True)
