"""Modules: validate uploads with wasmtime, store them by sha256, describe their functions.

``create`` compiles the binary (no instantiation) to prove it is valid Wasm and to read its
exports and imports, writes it to the blob store, then commits the record — so an
acknowledged module survives a crash. Uploading under a taken name is refused on ``/api/v1``
and accepted on the wasmiot routes (as the wasmiot orchestrator does): the upload is a new
module with its own id, and the name then means the newest one. ``describe`` turns a
wasmiot upload (bracket fields, JSON or a full OpenAPI document) into the module's OpenAPI
3.0.3 description.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import wasmtime

from wasmfleet.core.describe import ExportInfo, describe_exports_only, describe_module
from wasmfleet.core.errors import (
    Conflict,
    InvalidDocument,
    InvalidWasm,
    NotFound,
    PayloadTooLarge,
)
from wasmfleet.core.names import check_file_name, check_identifier
from wasmfleet.core.openapi import description_operations
from wasmfleet.orchestrator.blobs import BlobStore
from wasmfleet.orchestrator.store import ModuleRecord, Store
from wasmfleet.runtime.engine import describe_compiled


@dataclass(frozen=True, slots=True)
class DataFile:
    """An uploaded data file: its part name, bytes and media type."""

    name: str
    data: bytes
    media_type: str = "application/octet-stream"
    filename: str = ""
    """The file name the client gave the part (may be empty)."""


class ModuleService:
    """Create, describe, serve and delete modules."""

    def __init__(self, store: Store, blobs: BlobStore, max_module_bytes: int) -> None:
        self.store = store
        self.blobs = blobs
        self.max_module_bytes = max_module_bytes
        self._engine = wasmtime.Engine()
        self._lock = threading.Lock()

    def get(self, key: str) -> ModuleRecord:
        """The module with this id, else the newest with this name, or NotFound."""
        module = self.store.get_module(key)
        if module is None:
            known = ", ".join(sorted({m.name for m in self.store.list_modules()})) or "none yet"
            raise NotFound(
                f"No module {key!r} (modules: {known}); upload it with POST /file/module."
            )
        return module

    def create(self, name: str, data: bytes, *, same_name: bool = False) -> ModuleRecord:
        """Validate, store and record a new module.

        A taken name is a Conflict unless ``same_name``: then the upload is a new module and
        the name resolves to it (older modules of that name keep their ids)."""
        name = check_identifier("Module name", name)
        if len(data) > self.max_module_bytes:
            raise PayloadTooLarge(
                f"The module is {len(data)} bytes; this orchestrator accepts at most "
                f"{self.max_module_bytes} bytes (--max-module-size)."
            )
        existing = None if same_name else self.store.get_module(name)
        if existing is not None:
            raise Conflict(
                f"A module named {name!r} already exists (id {existing.id}); choose another "
                "name or delete it first."
            )
        exports, requirements = self.inspect(name, data)
        sha = self.blobs.put(data)
        record = ModuleRecord(
            name=name,
            sha256=sha,
            size=len(data),
            exports=exports,
            requirements=requirements,
        )
        record.description = describe_exports_only(name, _export_infos(record))
        return self.store.add_module(record)

    def inspect(self, name: str, data: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Exports and imports of a Wasm binary, compiled but never instantiated."""
        if not data.startswith(b"\0asm"):
            raise InvalidWasm(
                f"The file uploaded as module {name!r} is not WebAssembly (it does not start "
                "with \\0asm); upload the .wasm file itself."
            )
        try:
            with self._lock:
                module = wasmtime.Module(self._engine, data)
        except wasmtime.WasmtimeError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid"
            raise InvalidWasm(
                f"Module {name!r} is not a valid WebAssembly module: {first}"
            ) from None
        compiled = describe_compiled(
            module, hashlib.sha256(data).hexdigest(), len(data), "compiled"
        )
        exports = [
            {
                "name": fn,
                "parameterCount": len(sig.params),
                "params": list(sig.params),
                "results": list(sig.results),
            }
            for fn, sig in compiled.functions.items()
        ]
        requirements = [
            {"module": imp.module, "name": imp.name, "kind": imp.kind} for imp in compiled.imports
        ]
        return exports, requirements

    def describe(self, key: str, functions: Any, files: list[DataFile]) -> ModuleRecord:
        """Store data files and the module's OpenAPI description built from ``functions``."""
        module = self.get(key)
        names = [check_file_name(f.name, what="data file name") for f in files]
        if len(set(names)) != len(names):
            raise InvalidDocument("The same data file was uploaded twice; send each file once.")
        available = set(module.data_files) | set(names)
        if functions is None or functions == {} or functions == []:
            description = module.description or describe_exports_only(
                module.name, _export_infos(module)
            )
        else:
            description = describe_module(module.name, functions, _export_infos(module), available)
        data_files = dict(module.data_files)
        for item in files:
            sha = self.blobs.put(item.data)
            data_files[item.name] = {
                "sha256": sha,
                "size": len(item.data),
                "media_type": item.media_type or "application/octet-stream",
                "filename": item.filename or item.name,
            }
        module.description = description
        module.data_files = data_files
        return self.store.update_module(module)

    def delete(self, key: str, *, force: bool = False) -> list[ModuleRecord]:
        """Delete the module with this id, or every module with this name; Conflict while an
        active deployment uses one of them, unless forced."""
        found = self.get(key)
        targets = [found] if found.id == key else self.store.modules_named(key)
        self._delete(targets, force=force)
        return targets

    def delete_all(self, *, force: bool = False) -> int:
        """Delete every module (Conflict while any is in use, unless forced); how many."""
        modules = self.store.list_modules()
        self._delete(modules, force=force)
        return len(modules)

    def _delete(self, modules: list[ModuleRecord], *, force: bool) -> None:
        users = {d.name: m.name for m in modules for d in self.store.deployments_using_module(m.id)}
        if users and not force:
            names = ", ".join(sorted(users))
            which = ", ".join(repr(n) for n in sorted(set(users.values())))
            raise Conflict(
                f"Module {which} is used by active deployment(s) {names}; delete those first "
                "or force the deletion (?force=true)."
            )
        for module in modules:
            self.store.delete_module(module.id)

    def binary(self, key: str) -> bytes:
        """The module's .wasm bytes."""
        return self.blobs.read(self.get(key).sha256)

    def data_file(self, key: str, name: str) -> tuple[bytes, str]:
        """A data file's bytes and media type."""
        module = self.get(key)
        meta = module.data_files.get(name)
        if meta is None:
            files = ", ".join(sorted(module.data_files)) or "none"
            raise NotFound(f"Module {module.name!r} has no data file {name!r} (files: {files}).")
        return self.blobs.read(meta["sha256"]), str(
            meta.get("media_type") or "application/octet-stream"
        )


def _export_infos(module: ModuleRecord) -> Mapping[str, ExportInfo]:
    return {
        e["name"]: ExportInfo(
            name=e["name"],
            params=tuple(e.get("params") or ()),
            results=tuple(e.get("results") or ()),
        )
        for e in module.exports
    }


def function_names(module: ModuleRecord) -> list[str]:
    """Names of the functions the module's description exposes."""
    return sorted(description_operations(module.description or {}))
