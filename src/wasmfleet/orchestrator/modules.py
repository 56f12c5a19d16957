"""Modules: validate uploads with wasmtime, store them by sha256, describe their functions.

``push`` compiles the binary (no instantiation) to prove it is valid Wasm and to read its
exports and imports, writes it to the blob store, then commits the record — so an
acknowledged module survives a crash. Uploading under a taken name (on ``/api/v1`` and the
wasmiot routes alike) creates the next immutable *version* of that name, with its own id;
the bare name then means the newest version, ``name@N`` version N. The same bytes pushed
again under a name are the version that has them (nothing is stored). A new version inherits
the previous version's description and data files while its binary still exports every
function described there; otherwise it is described by its exports only. After each new
version the oldest unreferenced versions beyond ``keep_versions`` are pruned; deleting or
pruning modules deletes the blobs no remaining module (binary or data file) references.
``describe`` turns a wasmiot upload (bracket fields, JSON or a full OpenAPI document) into the
module's OpenAPI 3.0.3 description.
"""

from __future__ import annotations

import hashlib
import logging
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
from wasmfleet.core.module_check import (
    Finding,
    ModuleCheckFailed,
    check_description,
    check_module,
)
from wasmfleet.core.names import check_file_name, check_identifier
from wasmfleet.core.openapi import description_operations
from wasmfleet.core.signing import PublicKey
from wasmfleet.core.versions import parse_module_ref, version_list
from wasmfleet.core.wasm_interface import FuncSignature
from wasmfleet.orchestrator.blobs import BlobStore
from wasmfleet.orchestrator.signatures import UploadSignatures
from wasmfleet.orchestrator.store import ModuleRecord, Store
from wasmfleet.runtime.engine import describe_compiled

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DataFile:
    """An uploaded data file: its part name, bytes and media type."""

    name: str
    data: bytes
    media_type: str = "application/octet-stream"
    filename: str = ""
    """The file name the client gave the part (may be empty)."""


@dataclass(frozen=True, slots=True)
class PushResult:
    """What pushing a binary under a name did: the version it is, and whether it is new."""

    module: ModuleRecord
    created: bool
    """False when the same bytes were already a version of that name."""
    message: str
    """A sentence for the person who pushed (which version, what it inherited)."""
    pruned: tuple[int, ...] = ()
    """Old versions of the name deleted by retention."""
    warnings: tuple[Finding, ...] = ()
    """The checker's warnings about the binary (``core.module_check``, fleet audience)."""


class ModuleService:
    """Create (as versions), describe, serve and delete modules."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        max_module_bytes: int,
        keep_versions: int = 10,
        trusted: Mapping[str, PublicKey] | None = None,
    ) -> None:
        self.store = store
        self.signatures = UploadSignatures(trusted)
        """``--require-signatures`` on upload; who signed a binary (signatures.py)."""
        self.blobs = blobs
        self.max_module_bytes = max_module_bytes
        self.keep_versions = keep_versions
        """Versions kept per name beyond those in use (0: all)."""
        self._engine = wasmtime.Engine()
        self._lock = threading.Lock()
        self._push_lock = threading.Lock()

    def get(self, key: str) -> ModuleRecord:
        """The module with this id, else the newest with this name, or NotFound."""
        module = self.store.get_module(key)
        if module is None:
            known = ", ".join(sorted({m.name for m in self.store.list_modules()})) or "none yet"
            raise NotFound(
                f"No module {key!r} (modules: {known}); upload it with POST /file/module."
            )
        return module

    def resolve(self, ref: str) -> ModuleRecord:
        """The module a reference names: an id, ``name`` (the newest version) or ``name@N``;
        NotFound naming the versions that exist."""
        parsed = parse_module_ref(ref)
        if parsed.version is None:
            return self.get(parsed.name)
        found = self.store.module_version(parsed.name, parsed.version)
        if found is None:
            existing = [m.version for m in self.store.modules_named(parsed.name)]
            if not existing:
                self.get(parsed.name)  # NotFound naming the modules there are
            raise NotFound(
                f"Module {parsed.name!r} has no version {parsed.version} (versions: "
                f"{version_list(existing)}); push it or pick one of those."
            )
        return found

    def create(
        self, name: str, data: bytes, *, note: str | None = None, created_by: str | None = None
    ) -> ModuleRecord:
        """Validate and store ``data`` as a version of ``name`` (see ``push``)."""
        return self.push(name, data, note=note, created_by=created_by).module

    def push(
        self, name: str, data: bytes, *, note: str | None = None, created_by: str | None = None
    ) -> PushResult:
        """Validate and store ``data`` as the next version of ``name`` (version 1 of a new
        name); the same bytes as an existing version are that version, nothing stored.

        Invalid Wasm is refused before anything is stored."""
        name = check_identifier("Module name", name)
        if len(data) > self.max_module_bytes:
            raise PayloadTooLarge(
                f"The module is {len(data)} bytes; this orchestrator accepts at most "
                f"{self.max_module_bytes} bytes (--max-module-size)."
            )
        self.signatures.check_binary(name, data)  # before it is compiled or stored
        exports, requirements = self.inspect(name, data)
        report = check_module(data, None, audience="fleet")
        if not report.ok:
            raise ModuleCheckFailed(f"Module {name!r}", report.errors)
        sha = hashlib.sha256(data).hexdigest()
        with self._push_lock, self.store.blob_guard():
            same = self.store.module_with_sha(name, sha)
            if same is not None:
                return PushResult(
                    same,
                    False,
                    f"{name} version {same.version} already has these bytes (sha256 "
                    f"{sha[:12]}); no new version was made.",
                    warnings=report.warnings,
                )
            named = self.store.modules_named(name)
            previous = named[0] if named else None
            self.blobs.put(data)
            record = ModuleRecord(
                name=name,
                sha256=sha,
                size=len(data),
                exports=exports,
                requirements=requirements,
                note=note or None,
                created_by=created_by or None,
            )
            inherited = _inherit(record, previous)
            module = self.store.add_module(record)
        message = f"{name} version {module.version} (sha256 {sha[:12]})"
        if previous is not None:
            message += f"; {inherited}"
        log.info(
            "module pushed: %s", message, extra={"module_name": name, "version": module.version}
        )
        pruned = self.prune(name)
        if pruned:
            message += f"; pruned old version(s) {version_list(list(pruned))}"
        return PushResult(module, True, message + ".", pruned, report.warnings)

    def prune(self, name: str) -> tuple[int, ...]:
        """Delete the versions of ``name`` beyond the newest ``keep_versions`` that nothing
        uses (``Store.module_ids_in_use``), then blobs no module references; the versions
        deleted."""
        if self.keep_versions <= 0:
            return ()
        versions = self.store.modules_named(name)
        in_use = self.store.module_ids_in_use()
        doomed = [m for m in versions[self.keep_versions :] if m.id not in in_use]
        for module in doomed:
            self.store.delete_module(module.id)
        if doomed:
            self._delete_unreferenced_blobs(doomed)
            log.info(
                "pruned old module versions",
                extra={"module_name": name, "versions": [m.version for m in doomed]},
            )
        return tuple(sorted(m.version for m in doomed))

    def _delete_unreferenced_blobs(self, deleted: list[ModuleRecord]) -> None:
        # under the push lock and the store's blob guard: a push or description of the same
        # bytes (in this process or another orchestrator) commits its record before the
        # references are read, or puts the blob again after
        with self._push_lock, self.store.blob_guard():
            referenced = _digests(self.store.list_modules())
            for sha in sorted(_digests(deleted) - referenced):
                self.blobs.delete(sha)

    def share_blobs(self) -> int:
        """Upload the blobs that stored modules reference, that this orchestrator has as files
        and the shared store (PostgreSQL) lacks; how many (0 without a shared store)."""
        if self.blobs.shared is None:
            return 0
        return self.blobs.share_missing(_digests(self.store.list_modules()))

    def versions(self, name: str) -> list[ModuleRecord]:
        """Every version of ``name``, newest first; NotFound when it has none."""
        found = self.store.modules_named(name)
        if not found:
            module = self.get(name)  # an id: that module's name
            found = self.store.modules_named(module.name)
        return found

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
        return self.describe_checked(key, functions, files)[0]

    def describe_checked(
        self, key: str, functions: Any, files: list[DataFile]
    ) -> tuple[ModuleRecord, tuple[Finding, ...]]:
        """``describe``, refusing a description that does not fit the binary
        (``ModuleCheckFailed`` naming each error); the checker's warnings with the record."""
        module = self.get(key)
        names = [check_file_name(f.name, what="data file name") for f in files]
        if len(set(names)) != len(names):
            raise InvalidDocument("The same data file was uploaded twice; send each file once.")
        if self.signatures.required and files:
            binary = self.blobs.read(module.sha256)
            self.signatures.check_files(module.name, binary, {f.name: f.data for f in files})
        available = set(module.data_files) | set(names)
        if functions is None or functions == {} or functions == []:
            description = module.description or describe_exports_only(
                module.name, _export_infos(module)
            )
        else:
            description = describe_module(module.name, functions, _export_infos(module), available)
        findings = check_description(signatures(module), description)
        errors = [f for f in findings if f.level == "error"]
        if errors:
            raise ModuleCheckFailed(f"The description of module {module.name!r}", errors)
        warnings = tuple(f for f in findings if f.level == "warning")
        data_files = dict(module.data_files)
        with (
            self._push_lock,
            self.store.blob_guard(),
        ):  # the blobs are not deleted as unreferenced meanwhile
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
            return self.store.update_module(module), warnings

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
        self._delete_unreferenced_blobs(modules)

    def signed_by(self, module: ModuleRecord) -> str | None:
        """The key id the module's binary is signed with, None when unsigned."""
        return self.signatures.signed_by(module.sha256, self.blobs.read)

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


def _inherit(record: ModuleRecord, previous: ModuleRecord | None) -> str:
    """Give a new version its description and data files: the previous version's while the
    new binary still exports every function described there, else its exports only; what
    was done, as a phrase."""
    own = describe_exports_only(record.name, _export_infos(record))
    record.description = own
    if previous is None or previous.description is None:
        return "described by its exports"
    generated = describe_exports_only(previous.name, _export_infos(previous))
    if previous.description == generated and not previous.data_files:
        return "described by its exports (as the previous version was)"
    described = set(description_operations(previous.description))
    exported = {e["name"] for e in record.exports}
    missing = sorted(described - exported)
    if missing:
        return (
            f"described by its exports only: it no longer exports {', '.join(missing)}, "
            f"which version {previous.version} described (describe it again)"
        )
    unfit = [
        f for f in check_description(signatures(record), previous.description) if f.level == "error"
    ]
    if unfit:
        return (
            f"described by its exports only: version {previous.version}'s description does not "
            f"fit it ({unfit[0].message}) (describe it again)"
        )
    record.description = previous.description
    record.data_files = dict(previous.data_files)
    return f"description and data files inherited from version {previous.version}"


def _digests(modules: list[ModuleRecord]) -> set[str]:
    """The sha256 of the modules' binaries and data files."""
    out: set[str] = set()
    for module in modules:
        out.add(module.sha256)
        for meta in module.data_files.values():
            if isinstance(meta.get("sha256"), str):
                out.add(meta["sha256"])
    return out


def _export_infos(module: ModuleRecord) -> Mapping[str, ExportInfo]:
    return {
        e["name"]: ExportInfo(
            name=e["name"],
            params=tuple(e.get("params") or ()),
            results=tuple(e.get("results") or ()),
        )
        for e in module.exports
    }


def signatures(module: ModuleRecord) -> dict[str, FuncSignature]:
    """The exported functions' signatures a stored module records."""
    return {
        str(e["name"]): FuncSignature(tuple(e.get("params") or ()), tuple(e.get("results") or ()))
        for e in module.exports
    }


def function_names(module: ModuleRecord) -> list[str]:
    """Names of the functions the module's description exposes."""
    return sorted(description_operations(module.description or {}))
