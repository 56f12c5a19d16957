"""One wasmtime engine per process, its epoch ticker, and compilation with a two-level cache.

Compiled modules are cached in memory by the binary's sha256, and on disk as wasmtime's
serialized artifacts keyed by (sha256, engine configuration). Deploying a binary that was
compiled before — in this process or an earlier one — does not recompile it.

The wasmtime engine and its ticker start with the first module compiled or instantiated,
not with the process: making an engine maps about 5 MB of wasmtime's code, and the ticker
wakes every ``epoch_tick_s``, which a device with nothing deployed should not pay for.
Compilation runs on the calling thread (no parallel compilation): see ``_start``;
bench/README.md has the figures.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import platform
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import wasmtime

from wasmfleet.core.errors import InvalidWasm, PayloadTooLarge
from wasmfleet.core.wasm_interface import FuncSignature as FuncSignature
from wasmfleet.core.wasm_interface import WasmImport
from wasmfleet.core.wasm_sections import has_start_section, mutable_globals
from wasmfleet.runtime.limits import RuntimeLimits

log = logging.getLogger("wasmfleet.runtime")

ImportSpec = WasmImport
"""One import of a module (``core.wasm_interface.WasmImport``: the pure parser reads the same)."""


# Imports that return in microseconds: no sleeping, disk, camera or network. Modules that
# import only these may be called inline on the event loop (see WasmInstance.try_inline).
NONBLOCKING_IMPORTS = frozenset(
    [
        *(
            f"wasi_snapshot_preview1.{name}"
            for name in (
                "args_get", "args_sizes_get", "environ_get", "environ_sizes_get",
                "clock_res_get", "clock_time_get", "random_get", "sched_yield", "proc_exit",
                "fd_write", "fd_fdstat_get", "fd_seek", "fd_close", "fd_prestat_get",
                "fd_prestat_dir_name",
            )
        ),
        "sys.millis", "sys.print", "sys.println", "sys.printInt",
        "dht.getTemperature", "dht.getHumidity",
        "wasmfleet.message_topic", "wasmfleet.qoa_report",
    ]
)  # fmt: skip


@dataclass(slots=True)
class CompiledModule:
    """A validated, compiled module and what it imports and exports."""

    sha256: str
    module: wasmtime.Module
    size: int
    imports: tuple[ImportSpec, ...]
    functions: dict[str, FuncSignature]
    """Exported functions by name."""
    exports_memory: bool
    source: str = "compiled"
    """Where this came from: 'compiled', 'disk-cache' or 'memory-cache'."""
    has_start: bool = True
    """The binary has a start section (unknown counts as yes)."""
    memory_pages: int = 0
    """Initial size of the exported memory in 64 KiB pages (0: none exported)."""
    mutable_globals: int | None = None
    """Mutable globals the module defines (None: unknown)."""

    @property
    def instantiates_without_guest_code(self) -> bool:
        """True when instantiating runs none of the module's code (no start function, no
        WASI ``_initialize``): quick enough, and safe, to do on the event loop."""
        return not self.has_start and "_initialize" not in self.functions

    @property
    def nonblocking_imports(self) -> bool:
        """True when no import can block (sleep, disk, camera, network)."""
        return all(imp.qualified in NONBLOCKING_IMPORTS for imp in self.imports)

    @property
    def inline_safe(self) -> bool:
        """True when a call may run inline and be rolled back (``WasmInstance.try_inline``):
        no import can block, and the module keeps its state in linear memory, which a
        rollback restores — at most one mutable global, the stack pointer of C and Rust.
        AssemblyScript keeps module variables and its allocator's state in globals, which
        cannot be read from outside; a rolled-back call would leave them changed."""
        return (
            self.nonblocking_imports
            and self.mutable_globals is not None
            and self.mutable_globals <= 1
        )


@dataclass(slots=True)
class EngineStats:
    """Counters that tests and /health use to show the cache works."""

    compiled: int = 0
    disk_hits: int = 0
    memory_hits: int = 0
    compile_seconds: float = 0.0
    disk_errors: int = 0


def signature_of(functype: wasmtime.FuncType) -> FuncSignature:
    """The signature of a wasmtime FuncType as type names."""
    return FuncSignature(
        params=tuple(str(p) for p in functype.params),
        results=tuple(str(r) for r in functype.results),
    )


class WasmEngine:
    """The process's wasmtime engine, shared by every instance, with a compile cache."""

    def __init__(self, limits: RuntimeLimits, cache_dir: Path | None = None) -> None:
        self.limits = limits
        self._engine: wasmtime.Engine | None = None
        self.cache_dir = cache_dir
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
        self.stats = EngineStats()
        self._memory: dict[str, CompiledModule] = {}
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def engine(self) -> wasmtime.Engine:
        """The wasmtime engine, made (and its epoch ticker started) on first use."""
        engine = self._engine
        if engine is None:
            engine = self._start()
        return engine

    def _start(self) -> wasmtime.Engine:
        with self._start_lock:
            if self._engine is None:
                config = wasmtime.Config()
                config.epoch_interruption = True
                config.max_wasm_stack = self.limits.max_wasm_stack_bytes
                config.cranelift_opt_level = "speed"
                # One thread compiles: a thread pool per core stays alive afterwards with
                # its own compiler state (~5 MB with ten small modules), and compiling is
                # once per binary per device (the disk cache): memory matters more there.
                config.parallel_compilation = False
                engine = wasmtime.Engine(config)
                self._ticker = threading.Thread(
                    target=self._tick, args=(engine,), name="wasm-epoch", daemon=True
                )
                self._ticker.start()
                self._engine = engine
            return self._engine

    @functools.cached_property
    def config_key(self) -> str:
        """What compiled artifacts depend on: wasmtime's version and the engine's settings."""
        from importlib.metadata import version  # ~1 MB of modules: only once something compiles

        key = "|".join(
            [
                f"wasmtime={version('wasmtime')}",
                "epoch=1",
                f"stack={self.limits.max_wasm_stack_bytes}",
                "opt=speed",
                f"arch={platform.machine()}",
            ]
        )
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def started(self) -> bool:
        """Whether the wasmtime engine exists yet (it is made on first use)."""
        return self._engine is not None

    def _tick(self, engine: wasmtime.Engine) -> None:
        """Advance the epoch so that deadlines set in ticks turn into wall-clock limits."""
        interval = self.limits.epoch_tick_s
        while not self._stop.wait(interval):
            engine.increment_epoch()

    @property
    def running(self) -> bool:
        """True until ``close``, while the epoch ticker that enforces call deadlines (made with
        the engine, on first use) is alive."""
        ticker = self._ticker
        return not self._stop.is_set() and (ticker is None or ticker.is_alive())

    def close(self) -> None:
        """Stop the epoch ticker (instances must not be called afterwards)."""
        self._stop.set()
        with self._start_lock:
            ticker = self._ticker
        if ticker is not None:
            ticker.join(timeout=1.0)

    def compile(self, wasm: bytes, *, name: str = "module") -> CompiledModule:
        """Validate and compile ``wasm``, reusing the memory or disk cache when possible."""
        if len(wasm) > self.limits.max_module_bytes:
            raise PayloadTooLarge(
                f"Module {name!r} is {len(wasm)} bytes; the limit is "
                f"{self.limits.max_module_bytes} bytes (raise it with --max-module-size)."
            )
        if not wasm.startswith(b"\0asm"):
            raise InvalidWasm(
                f"{name!r} is not a WebAssembly binary (it does not start with \\0asm); "
                "check that the URL points at the .wasm file itself."
            )
        sha = hashlib.sha256(wasm).hexdigest()
        with self._lock:
            cached = self._memory.get(sha)
            if cached is not None:
                self.stats.memory_hits += 1
                return replace(cached, source="memory-cache")
            module, source = self._load_or_compile(wasm, sha, name)
            compiled = describe_compiled(
                module,
                sha,
                len(wasm),
                source,
                has_start=has_start_section(wasm),
                mutable_globals=mutable_globals(wasm),
            )
            self._memory[sha] = compiled
            return compiled

    def cached(self, sha: str) -> CompiledModule | None:
        """The compiled module with that sha256 when the memory cache has it, else None."""
        with self._lock:
            found = self._memory.get(sha)
            if found is None:
                return None
            self.stats.memory_hits += 1
            return replace(found, source="memory-cache")

    def _cache_path(self, sha: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{sha}-{self.config_key}.cwasm"

    def _load_or_compile(self, wasm: bytes, sha: str, name: str) -> tuple[wasmtime.Module, str]:
        path = self._cache_path(sha)
        if path is not None and path.exists():
            try:
                # Read, not mmap (deserialize_file): a cache file truncated or rewritten in
                # place while we run must not be able to crash the process with SIGBUS.
                module = wasmtime.Module.deserialize(self.engine, path.read_bytes())
                self.stats.disk_hits += 1
                return module, "disk-cache"
            except (wasmtime.WasmtimeError, OSError) as err:  # stale or corrupt: rebuild it
                self.stats.disk_errors += 1
                log.warning(
                    "compile cache entry unusable, recompiling",
                    extra={"path": str(path), "error": str(err)},
                )
        started = time.perf_counter()
        try:
            module = wasmtime.Module(self.engine, wasm)
        except wasmtime.WasmtimeError as err:
            raise InvalidWasm(
                f"{name!r} is not a valid WebAssembly module: {_first_line(err)}"
            ) from None
        self.stats.compiled += 1
        self.stats.compile_seconds += time.perf_counter() - started
        if path is not None:
            self._store_artifact(path, module)
        return module, "compiled"

    def _store_artifact(self, path: Path, module: wasmtime.Module) -> None:
        tmp = path.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        try:
            tmp.write_bytes(bytes(module.serialize()))
            os.replace(tmp, path)
        except OSError as err:
            self.stats.disk_errors += 1
            log.warning(
                "could not write compile cache", extra={"path": str(path), "error": str(err)}
            )
            tmp.unlink(missing_ok=True)


def describe_compiled(
    module: wasmtime.Module,
    sha: str,
    size: int,
    source: str,
    *,
    has_start: bool = True,
    mutable_globals: int | None = None,
) -> CompiledModule:
    imports: list[ImportSpec] = []
    for imp in module.imports:
        ty = imp.type
        if isinstance(ty, wasmtime.FuncType):
            imports.append(ImportSpec(imp.module, imp.name or "", "func", signature_of(ty)))
        else:
            kind = type(ty).__name__.replace("Type", "").lower()
            imports.append(ImportSpec(imp.module, imp.name or "", kind))
    functions: dict[str, FuncSignature] = {}
    memory = False
    pages = 0
    for exp in module.exports:
        if isinstance(exp.type, wasmtime.FuncType):
            functions[exp.name] = signature_of(exp.type)
        elif isinstance(exp.type, wasmtime.MemoryType):
            memory = True
            pages = max(pages, int(exp.type.limits.min))
    return CompiledModule(
        sha256=sha,
        module=module,
        size=size,
        imports=tuple(imports),
        functions=functions,
        exports_memory=memory,
        source=source,
        has_start=has_start,
        memory_pages=pages,
        mutable_globals=mutable_globals,
    )


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
