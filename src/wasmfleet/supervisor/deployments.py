"""Deployments on this device: install, persist, restore after restart, remove.

``deploy`` answers only when every module is downloaded, compiled, checked against the
host functions this device offers and instantiated — ready to call. Any failure leaves
the deployments that were already installed exactly as they were.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx

from wasmfleet.core.deploy_doc import complete_from_description, parse_deployment
from wasmfleet.core.errors import (
    InvalidDocument,
    MissingImports,
    NotFound,
    Unprocessable,
    WasmfleetError,
)
from wasmfleet.core.function_check import from_spec
from wasmfleet.core.models import DeploymentSpec, ModuleSpec
from wasmfleet.core.module_check import ModuleCheckFailed, check_deployed
from wasmfleet.runtime.bytes_abi import takes_bytes
from wasmfleet.runtime.engine import CompiledModule, WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import missing_imports
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.supervisor.deployment import (
    BoundFunction,
    Deployment,
    DeploymentWatcher,
    ModuleRuntime,
)
from wasmfleet.supervisor.executor import CallExecutor
from wasmfleet.supervisor.fencing import FenceBook, Lease
from wasmfleet.supervisor.fetching import Fetched, Fetcher
from wasmfleet.supervisor.settings import SupervisorSettings
from wasmfleet.supervisor.signatures import ModuleVerifier, load_trusted_keys
from wasmfleet.supervisor.store import DeploymentStore
from wasmfleet.supervisor.swap import HotSwap

log = logging.getLogger("wasmfleet.supervisor.deploy")
INLINE_COPY_BYTES = 256 * 1024
"""Largest total of stored data files a deploy copies on the event loop (see
``_builds_quickly``)."""


class DeploymentManager:
    """Owns the live deployments and their persistent copies."""

    def __init__(
        self,
        settings: SupervisorSettings,
        store: DeploymentStore,
        engine: WasmEngine,
        devices: HostDevices,
        executor: CallExecutor,
        client: httpx.AsyncClient,
        fences: FenceBook,
    ) -> None:
        self.settings = settings
        self.fences = fences
        self.store = store
        self.engine = engine
        self.devices = devices
        self.executor = executor
        self.client = client
        self.deployments: dict[str, Deployment] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.watchers: list[DeploymentWatcher] = []
        """Told about every install and removal, in order (streams, bridges)."""
        self.swap = HotSwap(executor, store, engine.limits.call_timeout_s)
        self.fetcher = Fetcher(client, engine, store, executor, settings.max_download_bytes)
        self.verifier: ModuleVerifier | None = None
        """With trusted keys: refuses unsigned or wrongly signed modules before compiling."""
        if settings.trusted_keys:
            self.verifier = ModuleVerifier(load_trusted_keys(settings.trusted_keys), store)

    def get(self, dep_id: str) -> Deployment:
        """The deployment with that id, or NotFound naming the ones that exist."""
        dep = self.deployments.get(dep_id)
        if dep is None:
            known = ", ".join(sorted(self.deployments)) or "none"
            raise NotFound(
                f"No deployment {dep_id!r} on this device (deployed here: {known}); "
                "deploy it with POST /deploy first."
            )
        return dep

    async def deploy(self, body: Any) -> Deployment:
        """Install (or replace) a deployment from a deploy body of either shape.

        A replacement is a hot swap (swap.py): the new version is built beside the old
        one, switched in with one reference swap, then persisted (on failure the old one
        comes back); calls in flight finish on the old instances, which are dropped after."""
        received = time.monotonic()
        spec = parse_deployment(body)
        self.fences.check_deploy(spec.id, spec.epoch)
        lock = self._locks.setdefault(spec.id, asyncio.Lock())
        async with lock:
            started = time.perf_counter()
            fetched = await self.fetcher.fetch_all(spec)
            await self._verify(spec, fetched)
            marks = [time.perf_counter()]  # fetched, built, switched (hot swap), persisted
            for name, parts in fetched.items():
                if parts.description is not None:
                    spec = complete_from_description(spec, name, parts.description)
            stage = self.store.new_stage(spec.id)
            old = self.deployments.get(spec.id)
            trash: Path | None = None
            try:
                if _builds_quickly(fetched):
                    dep = self._build(spec, fetched, stage)  # no hop: see _builds_quickly
                else:
                    dep = await self.executor.run_blocking(
                        lambda: self._build(spec, fetched, stage)
                    )
                marks.append(time.perf_counter())
                record = {
                    "body": body,
                    "modules": {
                        name: {"sha256": m.compiled.sha256, "description": m.description}
                        for name, m in dep.modules.items()
                    },
                    "deployedAt": dep.deployed_at,
                }
                self.fences.check_deploy(spec.id, spec.epoch)  # a fence may have risen meanwhile
                if old is None:
                    final = await self.executor.run_blocking(
                        lambda: self.store.commit(spec.id, stage, record)
                    )
                else:
                    if dep.lease is not None:
                        dep.lease.grant(received)  # callable the moment it is switched in
                    await self.swap.switch(self.deployments, old, dep)
                    marks.append(time.perf_counter())
                    try:
                        final, trash = await self.executor.run_blocking(
                            lambda: self.store.commit_keeping_old(spec.id, stage, record)
                        )
                    except BaseException:
                        self.swap.switch_back(self.deployments, old, dep)
                        raise
            except BaseException:
                self.store.discard(stage)
                raise
            marks.append(time.perf_counter())
            self._relocate(dep, final)
            if old is not None and trash is not None:
                self._relocate(old, trash)  # its instances' calls in flight write there
            if dep.lease is not None and old is None:
                dep.lease.grant(received)
            self.deployments[spec.id] = dep
            self._share_models(dep)
            for watcher in self.watchers:
                watcher.installed(dep)
            self.fences.raise_to(spec.id, spec.epoch)
            if old is not None:
                self.swap.retire(old, trash)
            log.info(
                "deployed",
                extra={
                    "deployment": spec.id,
                    "epoch": spec.epoch,
                    "modules": ",".join(dep.modules),
                    "replaced": old is not None,
                    "seconds": round(time.perf_counter() - started, 3),
                    "phases_ms": "/".join(
                        f"{(b - a) * 1000:.1f}"
                        for a, b in zip([started, *marks], marks, strict=False)
                    ),
                },
            )
            return dep

    async def remove(self, dep_id: str) -> None:
        """Forget a deployment and delete its files (its fence stays)."""
        self.get(dep_id)
        async with self._locks.setdefault(dep_id, asyncio.Lock()):
            self.deployments.pop(dep_id, None)
            if self.devices.nn is not None:
                self.devices.nn.deployment_removed(dep_id)
            for watcher in self.watchers:
                watcher.removed(dep_id)
            await self.executor.run_blocking(lambda: self.store.remove(dep_id))
            log.info("deployment removed", extra={"deployment": dep_id})

    async def restore(self) -> None:
        """Bring back every deployment stored in the data directory (after a restart)."""
        for dep_id, directory, record in self.store.records():
            self._remember_descriptions(record)
            try:
                dep = await self.executor.run_blocking(
                    lambda d=directory, r=record: self._rebuild(d, r)  # type: ignore[misc]
                )
            except WasmfleetError as err:
                log.error(
                    "could not restore deployment", extra={"deployment": dep_id, "error": str(err)}
                )
                continue
            self.deployments[dep_id] = dep
            self._share_models(dep)
            for watcher in self.watchers:
                watcher.installed(dep)
            log.info("deployment restored", extra={"deployment": dep_id, "epoch": dep.spec.epoch})
        self.fences.raise_many({d: dep.spec.epoch for d, dep in self.deployments.items()})

    async def _verify(self, spec: DeploymentSpec, fetched: dict[str, Fetched]) -> None:
        """With trusted keys, refuse modules and data files that do not verify (before
        anything is compiled or stored); hashing downloaded bytes runs on a worker thread."""
        verifier = self.verifier
        if verifier is None:
            return
        if all(isinstance(parts.binary, CompiledModule) for parts in fetched.values()):
            verifier.check(spec, fetched)  # remembered signatures: no hashing of binaries
        else:
            await self.executor.run_blocking(lambda: verifier.check(spec, fetched))

    # -- building -----------------------------------------------------------------------

    def _build(
        self,
        spec: DeploymentSpec,
        fetched: dict[str, Fetched],
        stage: Path,
    ) -> Deployment:
        """Compile, check, lay out files and instantiate (runs on a worker thread)."""
        compiled: dict[str, CompiledModule] = {}
        for module in spec.modules:
            binary = fetched[module.name].binary
            if isinstance(binary, CompiledModule):  # known by its sha256 (see _binary)
                compiled[module.name] = binary
                continue
            compiled[module.name] = self.engine.compile(binary, name=module.name)
            self.store.save_binary(binary)
        self._check(spec, compiled)
        modules: dict[str, ModuleRuntime] = {}
        for module in spec.modules:
            parts = fetched[module.name]
            workdir = self.store.module_dir(stage, module.name)
            workdir.mkdir(parents=True, exist_ok=True)
            self.fetcher.lay_out(parts, workdir)
            modules[module.name] = self._instantiate(
                spec.id, module, compiled[module.name], workdir, parts.description
            )
        return self._assemble(spec, modules, stage, time.time())

    def _remember_descriptions(self, record: dict[str, Any]) -> None:
        """Seed the description cache from a stored deployment (verified when deployed)."""
        try:
            spec = parse_deployment(record["body"])
        except (KeyError, WasmfleetError):
            return
        stored = record.get("modules") or {}
        for module in spec.modules:
            info = stored.get(module.name) or {}
            if module.description_sha256 is not None and info.get("description") is not None:
                self.fetcher.remember_description(module.description_sha256, info["description"])

    def _rebuild(self, directory: Path, record: dict[str, Any]) -> Deployment:
        """Recreate a stored deployment from its record and stored binaries (worker thread)."""
        spec = parse_deployment(record["body"])
        stored = record.get("modules", {})
        for name, info in stored.items():
            if info.get("description") is not None:
                spec = complete_from_description(spec, name, info["description"])
        modules: dict[str, ModuleRuntime] = {}
        compiled: dict[str, CompiledModule] = {}
        for module in spec.modules:
            info = stored.get(module.name) or {}
            try:
                binary = self.store.load_binary(str(info.get("sha256")))
            except OSError:
                raise InvalidDocument(f"the binary of module {module.name!r} is missing") from None
            if self.verifier is not None:
                self.verifier.check_binary(binary, f"stored module {module.name!r}")
            compiled[module.name] = self.engine.compile(binary, name=module.name)
        self._check(spec, compiled, strict=False)
        for module in spec.modules:
            workdir = self.store.module_dir(directory, module.name)
            workdir.mkdir(parents=True, exist_ok=True)
            description = (stored.get(module.name) or {}).get("description")
            modules[module.name] = self._instantiate(
                spec.id, module, compiled[module.name], workdir, description
            )
        return self._assemble(
            spec, modules, directory, float(record.get("deployedAt", time.time()))
        )

    def _instantiate(
        self,
        dep_id: str,
        module: ModuleSpec,
        compiled: CompiledModule,
        workdir: Path,
        description: Any,
    ) -> ModuleRuntime:
        instance = WasmInstance(
            self.engine, compiled, workdir, self.devices, deployment=dep_id, module=module.name
        )
        return ModuleRuntime(module, compiled, instance, self.executor.lane(), workdir, description)

    def _check(
        self, spec: DeploymentSpec, compiled: dict[str, CompiledModule], *, strict: bool = True
    ) -> None:
        """Refuse modules this device cannot run (imports, reactor model, memory) and
        functions they do not export or that are described unlike their export
        (``core.module_check``: 422 naming each finding). Not ``strict`` (restoring what was
        deployed before), the checker's findings are logged instead."""
        for name, module in compiled.items():
            missing = missing_imports(module.imports, self.devices.lacking)
            if missing:
                raise MissingImports(
                    f"Module {name!r} needs imports this device does not offer: "
                    f"{'; '.join(missing)}. Deploy it to a device that has them.",
                    missing,
                )
        for fn in spec.functions:
            exports = compiled[fn.module].functions
            if fn.name not in exports:
                raise Unprocessable(
                    f"The deployment exposes {fn.module}.{fn.name}, but module {fn.module!r} "
                    f"does not export it (exports: {', '.join(sorted(exports)) or 'none'})."
                )
            owner = spec.module(fn.module)
            stage_files = {n for n, _ in owner.other} if owner is not None else set()
            for mount in fn.mounts_at("deployment"):
                if mount.name not in stage_files:
                    raise Unprocessable(
                        f"{fn.module}.{fn.name} needs the deployment-stage file {mount.name!r}, "
                        "but the module's urls.other does not provide it."
                    )
            if len([m for m in fn.mounts if m.stage == "output"]) > 1:
                raise Unprocessable(f"{fn.module}.{fn.name} declares more than one output mount.")
        limit = self.engine.limits.memory_limit_bytes
        for name, module in compiled.items():
            described = [from_spec(fn) for fn in spec.functions if fn.module == name]
            errors = [
                f
                for f in check_deployed(module.functions, module.memory_pages, described, limit)
                if f.level == "error"
            ]
            if errors and strict:
                raise ModuleCheckFailed(f"Module {name!r}", errors)
            for finding in errors:
                log.warning(
                    "restored module does not pass the checker",
                    extra={"deployment": spec.id, "wasm_module": name, "error": finding.message},
                )
        for watcher in self.watchers:
            watcher.check(spec, compiled)

    def _assemble(
        self, spec: DeploymentSpec, modules: dict[str, ModuleRuntime], directory: Path, at: float
    ) -> Deployment:
        dep = Deployment(spec=spec, modules=modules, directory=directory, deployed_at=at)
        if spec.lease_s > 0 and spec.stateful:
            dep.lease = Lease(spec.lease_s)  # expired until granted or renewed
        for fn in spec.functions:
            runtime = modules[fn.module]
            outputs = fn.mounts_at("output")
            dep.functions[(fn.module, fn.name)] = BoundFunction(
                spec=fn,
                runtime=runtime,
                signature=runtime.instance.signature(fn.name),
                execution_mounts=frozenset(m.name for m in fn.mounts_at("execution")),
                output_mount=outputs[0].name if outputs else None,
                epoch=spec.epoch,
                lease=dep.lease if (fn.module, fn.name) in spec.stateful else None,
                takes_body=fn.bytes_input is not None
                and takes_bytes(runtime.compiled.functions, fn.name),
            )
        return dep

    def _share_models(self, dep: Deployment) -> None:
        """Let the deployment's instances load its ``*.onnx``/``*.tflite`` data files by
        name through WASI-NN (``load_by_name``); no other deployment sees them."""
        if self.devices.nn is not None:
            self.devices.nn.deployment_installed(
                dep.spec.id,
                {
                    name: {file: m.workdir / file for file, _ in m.spec.other}
                    for name, m in dep.modules.items()
                },
            )

    def _relocate(self, dep: Deployment, final: Path) -> None:
        """After the staged directory was renamed into place, point paths at it.

        The WASI preopen holds the directory itself, so instances keep working."""
        dep.directory = final
        for name, runtime in dep.modules.items():
            runtime.workdir = self.store.module_dir(final, name)
            runtime.instance.workdir = runtime.workdir


def _builds_quickly(fetched: dict[str, Fetched]) -> bool:
    """True when building runs no guest code and does little I/O: every module compiled
    already, instantiating it runs none of its code, and its data files are stored ones
    totalling at most INLINE_COPY_BYTES. Such a build (about 1 ms) is done on the event
    loop: the hop to a worker thread cost 4-6 ms under load (waiting for the GIL)."""
    copied = 0
    for parts in fetched.values():
        binary = parts.binary
        if not isinstance(binary, CompiledModule) or not binary.instantiates_without_guest_code:
            return False
        for data in parts.files.values():
            if not isinstance(data, Path):
                return False  # downloaded: stored with fsync on the way
            try:
                copied += data.stat().st_size
            except OSError:
                return False
    return copied <= INLINE_COPY_BYTES
