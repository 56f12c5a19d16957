"""What a deploy needs from the network, or from what this device already holds.

For each module: its binary (or its compiled module), its description and its data files.
Whatever a document names by sha256 and the device holds is not downloaded again:

- a binary compiled before comes from the engine's memory cache (no download, no read),
  one stored before from ``<data>/modules`` (re-hashed when read);
- a description comes from a bounded memory cache keyed by the sha256 of its bytes
  (``description_sha256``), filled only with descriptions whose downloaded bytes had it,
  and seeded from the stored deployments at restart;
- a data file comes from ``<data>/files`` (content-addressed; checked once per process,
  and written there only after its download matched), copied into the new deployment's
  directory by ``lay_out`` (never hard-linked: a module may write to its files).

Anything downloaded against a sha256 that does not match is refused (ChecksumMismatch).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from wasmfleet.core.errors import Unprocessable
from wasmfleet.core.models import DeploymentSpec, ModuleSpec
from wasmfleet.runtime.engine import CompiledModule, WasmEngine
from wasmfleet.supervisor.executor import CallExecutor
from wasmfleet.supervisor.fetch import fetch_bytes
from wasmfleet.supervisor.store import DeploymentStore

DESCRIPTION_LIMIT = 4 * 1024 * 1024
"""Largest module description downloaded."""
DESCRIPTION_CACHE_ENTRIES = 64
DESCRIPTION_CACHE_BYTES = 16 * 1024 * 1024
"""Bounds of the description cache (entries, and the size of their downloaded bytes)."""


@dataclass(slots=True)
class Fetched:
    """One module's parts: binary or compiled module, description, data files (bytes
    downloaded, or the path of a stored copy with the right sha256)."""

    binary: bytes | CompiledModule
    description: Any
    files: dict[str, bytes | Path]
    file_sha256: dict[str, str]


class DescriptionCache:
    """Parsed module descriptions by the sha256 of their bytes, least recently used out."""

    def __init__(
        self, entries: int = DESCRIPTION_CACHE_ENTRIES, size: int = DESCRIPTION_CACHE_BYTES
    ) -> None:
        self.max_entries = entries
        self.max_bytes = size
        self._items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __contains__(self, sha: str) -> bool:
        return sha in self._items

    def get(self, sha: str) -> Any:
        """The description with that sha256, or None."""
        found = self._items.get(sha)
        if found is None:
            self.misses += 1
            return None
        self._items.move_to_end(sha)
        self.hits += 1
        return found[0]

    def put(self, sha: str, description: Any, size: int) -> None:
        """Keep a description whose bytes (``size`` long) have sha256 ``sha``."""
        if size > self.max_bytes or description is None:
            return
        old = self._items.pop(sha, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[sha] = (description, size)
        self._bytes += size
        while len(self._items) > self.max_entries or self._bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped

    def stats(self) -> dict[str, int]:
        """Counters for /api/v1/status."""
        return {"entries": len(self._items), "hits": self.hits, "misses": self.misses}


class Fetcher:
    """Gets every module's parts for a deploy, concurrently (see the module docstring)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        engine: WasmEngine,
        store: DeploymentStore,
        executor: CallExecutor,
        max_file_bytes: int,
    ) -> None:
        self.client = client
        self.engine = engine
        self.store = store
        self.executor = executor
        self.max_file_bytes = max_file_bytes
        self.descriptions = DescriptionCache()
        self._checked_files: set[str] = set()
        """Stored data files whose bytes this process has seen have their sha256."""
        self.files_reused = 0

    async def fetch_all(self, spec: DeploymentSpec) -> dict[str, Fetched]:
        """Every module's parts; the first failure is raised.

        When the device holds everything (a hot swap between known versions) this returns
        without yielding to the event loop: under load every yield waits behind the calls'
        callbacks, which showed as milliseconds of swap time."""
        held = {m.name: self._held(m) for m in spec.modules}
        missing = [m for m in spec.modules if held[m.name] is None]
        if not missing:
            return {name: parts for name, parts in held.items() if parts is not None}
        jobs = (self._one(m) for m in missing)
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        got = {m.name: r for m, r in zip(missing, results, strict=False)}
        return {m.name: held[m.name] or got[m.name] for m in spec.modules}  # type: ignore[misc]

    def _held(self, module: ModuleSpec) -> Fetched | None:
        """The module's parts when the device holds all of them (no I/O but a stat per data
        file), else None."""
        desc_sha = module.description_sha256
        if module.description_url is not None and (
            desc_sha is None or desc_sha not in self.descriptions
        ):
            return None
        shas = dict(module.file_sha256)
        files: dict[str, bytes | Path] = {}
        for name, _ in module.other:
            sha = shas.get(name)
            if sha is None or sha not in self._checked_files or not self.store.has_file(sha):
                return None
            files[name] = self.store.file_path(sha)
        if module.sha256 is None:
            return None
        compiled = self.engine.cached(module.sha256)
        if compiled is None:
            return None
        description = None
        if desc_sha is not None and module.description_url is not None:
            description = self.descriptions.get(desc_sha)
        self.files_reused += len(files)
        return Fetched(compiled, description, files, shas)

    async def _one(self, module: ModuleSpec) -> Fetched:
        shas = dict(module.file_sha256)
        binary, description, *files = await asyncio.gather(
            self._binary(module),
            self._description(module),
            *(self._file(module, name, url, shas.get(name)) for name, url in module.other),
        )
        names = [name for name, _ in module.other]
        return Fetched(binary, description, dict(zip(names, files, strict=False)), shas)

    async def _binary(self, module: ModuleSpec) -> bytes | CompiledModule:
        """The compiled module when the document's sha256 is in the compile cache, else the
        stored binary with that sha256, else downloaded."""
        sha = module.sha256
        if sha is not None:
            compiled = self.engine.cached(sha)
            if compiled is not None:
                return compiled
            if self.store.has_binary(sha):
                try:
                    stored = await self.executor.run_blocking(lambda: self.store.load_binary(sha))
                except OSError:
                    stored = b""
                if hashlib.sha256(stored).hexdigest() == sha:
                    return stored
        return await fetch_bytes(
            self.client,
            module.binary_url,
            what=f"the binary of module {module.name!r}",
            limit=self.engine.limits.max_module_bytes,
            sha256=sha,
        )

    async def _description(self, module: ModuleSpec) -> Any:
        if module.description_url is None:
            return None
        sha = module.description_sha256
        if sha is not None:
            cached = self.descriptions.get(sha)
            if cached is not None:
                return cached
        raw = await fetch_bytes(
            self.client,
            module.description_url,
            what=f"the description of module {module.name!r}",
            limit=DESCRIPTION_LIMIT,
            sha256=sha,
        )
        try:
            description = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Unprocessable(
                f"The description of module {module.name!r} at {module.description_url} is not "
                "JSON; it must be the module's OpenAPI description."
            ) from None
        if sha is not None:
            self.descriptions.put(sha, description, len(raw))
        return description

    def remember_description(self, sha: str, description: Any) -> None:
        """Seed the cache with a description a stored deployment verified (restart)."""
        if description is not None:
            self.descriptions.put(sha, description, len(orjson.dumps(description)))

    async def _file(self, module: ModuleSpec, name: str, url: str, sha: str | None) -> bytes | Path:
        if sha is not None and self.store.has_file(sha):
            path = self.store.file_path(sha)
            if sha not in self._checked_files and await self._stored_sha(path) == sha:
                self._checked_files.add(sha)
            if sha in self._checked_files:
                self.files_reused += 1
                return path
        return await fetch_bytes(
            self.client,
            url,
            what=f"data file {name!r} of module {module.name!r}",
            limit=self.max_file_bytes,
            sha256=sha,
        )

    async def _stored_sha(self, path: Path) -> str | None:
        return await self.executor.run_blocking(lambda: _file_sha(path))

    def lay_out(self, fetched: Fetched, workdir: Path) -> None:
        """Write a module's data files into its directory (worker thread); downloaded files
        with a sha256 are also stored by it, for the next deploy."""
        for name, data in fetched.files.items():
            target = workdir / name
            if isinstance(data, Path):
                shutil.copyfile(data, target)
                continue
            target.write_bytes(data)
            sha = fetched.file_sha256.get(name)
            if sha is not None:
                self.store.save_file(sha, data)
                self._checked_files.add(sha)

    def stats(self) -> dict[str, Any]:
        """Counters for /api/v1/status."""
        return {"descriptions": self.descriptions.stats(), "files_reused": self.files_reused}


def _file_sha(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()
