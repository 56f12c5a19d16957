"""One Wasm instance: its store, WASI sandbox, host functions, limits and calls.

An instance belongs to one (deployment, module) and lives as long as the deployment, so
module state persists across calls. Calls into one instance must be serialized by the
caller (the supervisor's executor does that); ``call`` also takes a lock so a mistake
there cannot corrupt the store.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime._bindings import (  # private API: pinned wasmtime major version (pyproject)
    _wasmtime_context_set_epoch_deadline,
    _wasmtime_memory_data,
    _wasmtime_memory_data_size,
)

from wasmfleet.core.errors import (
    CallTimeout,
    ExecutionFailed,
    InvalidWasm,
    MemoryLimitExceeded,
    NotFound,
    WasmTrap,
)
from wasmfleet.runtime.engine import CompiledModule, FuncSignature, WasmEngine
from wasmfleet.runtime.fastcall import RawCallError, can_fast_call, make_fast_call
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.guest import GuestContext, GuestMessage
from wasmfleet.runtime.host.registry import define_imports

_monotonic = time.monotonic
_thread_time = time.thread_time
_set_deadline = _wasmtime_context_set_epoch_deadline
_memory_data = _wasmtime_memory_data
_memory_size = _wasmtime_memory_data_size
_LINE_LIMIT = 4096
INLINE_MEMORY_LIMIT = 256 * 1024
"""Largest linear memory snapshotted for an inline call (a copy costs ~10 us at this size)."""
INLINE_TICKS = 2
"""Epoch ticks an inline call may run: at least one full tick, at most two (5-10 ms)."""
INLINE_DEMOTE_CPU_S = 0.001
"""CPU time an interrupted inline call must have used to be never inlined again (five times
the default inline threshold); less means the thread was preempted, not that it is slow."""
NOT_DONE = object()
RawCall = Callable[[str, "tuple[Any, ...] | list[Any]"], Any]
"""Calls an export by name: ``WasmInstance.call`` bound to a message, or a raw inline call."""
guest_log = logging.getLogger("wasmfleet.guest")


class WasmInstance:
    """A live instance of a compiled module, sandboxed in its own directory."""

    def __init__(
        self,
        engine: WasmEngine,
        compiled: CompiledModule,
        workdir: Path,
        devices: HostDevices,
        *,
        deployment: str,
        module: str,
    ) -> None:
        self.engine = engine
        self.compiled = compiled
        self.workdir = workdir
        self.limits = engine.limits
        self.guest = GuestContext(deployment=deployment, module=module)
        self.lock = threading.Lock()
        self.calls = 0
        self.failures = 0
        self._timeout_s = self.limits.call_timeout_s
        self._timeout_ticks = self.limits.timeout_ticks()
        self._store = wasmtime.Store(engine.engine)
        self._store.set_limits(memory_size=self.limits.memory_limit_bytes)
        self._context = self._store._context()
        wasi = wasmtime.WasiConfig()
        wasi.argv = [module]
        wasi.preopen_dir(str(workdir), ".")
        wasi.stdout_custom = _LineLogger(self.guest, "stdout")
        wasi.stderr_custom = _LineLogger(self.guest, "stderr")
        self._store.set_wasi(wasi)
        linker = wasmtime.Linker(engine.engine)
        define_imports(linker, compiled.imports, self.guest, devices)
        self._memory: wasmtime.Memory | None = None
        self._memory_ref: Any = None
        self._size_before = 0
        self._instance = self._instantiate(linker)
        exports = self._instance.exports(self._store)
        self._funcs: dict[str, wasmtime.Func] = {}
        for name in compiled.functions:
            item = exports.get(name)
            if isinstance(item, wasmtime.Func):
                self._funcs[name] = item
        memory = exports.get("memory")
        if isinstance(memory, wasmtime.Memory):
            self._memory = memory
            self._memory_ref = ctypes.byref(memory._memory)
        self._callers: dict[str, Callable[..., Any]] = {}
        self.inline_capable = (
            compiled.inline_safe
            and self._memory is not None
            and self.memory_bytes() <= INLINE_MEMORY_LIMIT
        )
        self.inline_demoted: set[str] = set()
        self.inline_rollbacks = 0
        self.inline_preempted = 0
        """Inline calls rolled back for wall time the machine took, not the function."""
        self._inline_cpu0 = 0.0
        self._snapshot = (ctypes.c_ubyte * INLINE_MEMORY_LIMIT)() if self.inline_capable else None
        if "_initialize" in self._funcs:  # WASI reactor convention: run constructors once
            try:
                self.call("_initialize", ())
            except ExecutionFailed as err:
                raise _failed_start(module, "_initialize", err) from None

    def _instantiate(self, linker: wasmtime.Linker) -> wasmtime.Instance:
        self._arm()
        try:
            return linker.instantiate(self._store, self.compiled.module)
        except wasmtime.Trap as trap:
            error = self._classify(RawCallError(trap, None), "start")
            raise _failed_start(self.guest.module, "its start function", error) from None
        except wasmtime.WasmtimeError as err:
            text = str(err).strip().splitlines()[0]
            if "memory" in text and ("limit" in text or "minimum" in text):
                raise InvalidWasm(
                    f"Module {self.guest.module!r} needs more memory at start than this device "
                    f"allows ({self.limits.memory_limit_bytes // (1024 * 1024)} MiB): {text}"
                ) from None
            raise InvalidWasm(
                f"Module {self.guest.module!r} could not be instantiated: {text}"
            ) from None

    @property
    def functions(self) -> dict[str, FuncSignature]:
        """Exported functions and their signatures."""
        return self.compiled.functions

    def signature(self, name: str) -> FuncSignature:
        """The signature of an exported function, or NotFound."""
        sig = self.compiled.functions.get(name)
        if sig is None or name not in self._funcs:
            raise NotFound(
                f"Module {self.guest.module!r} exports no function {name!r}; it exports: "
                f"{', '.join(sorted(self._funcs)) or 'none'}."
            )
        return sig

    def memory_bytes(self) -> int:
        """Current size of the exported linear memory (0 without one); call while idle."""
        return self._memory.data_len(self._store) if self._memory is not None else 0

    def memory_bytes_if_idle(self) -> int | None:
        """Memory size, or None while a call runs (the store is not safe to share)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            return self.memory_bytes()
        finally:
            self.lock.release()

    def call(
        self, name: str, args: tuple[Any, ...] | list[Any], message: GuestMessage | None = None
    ) -> Any:
        """Call an export with the wall-clock limit armed; raise ExecutionFailed on failure.

        ``message`` is the MQTT message a triggered call handles (``wasmfleet.message_topic``)."""
        caller = self._callers.get(name) or self._make_caller(name)
        guest = self.guest
        with self.lock:
            self.calls += 1
            if self._memory_ref is not None:
                self._size_before = _memory_size(self._context, self._memory_ref)
            guest.host_error = None
            guest.message = message
            guest.function = name
            guest.deadline = _monotonic() + self._timeout_s
            _set_deadline(self._context, self._timeout_ticks)
            try:
                return caller(*args)
            except RawCallError as err:
                self.failures += 1
                raise self._classify(err, name) from None

    def read_memory(self, ptr: int, length: int) -> bytes:
        """Copy bytes out of linear memory (between calls), bounds-checked."""
        base = self._checked_base(ptr, length)
        return ctypes.string_at(base + ptr, length)

    def write_memory(self, ptr: int, data: bytes) -> None:
        """Copy bytes into linear memory (between calls), bounds-checked."""
        base = self._checked_base(ptr, len(data))
        ctypes.memmove(base + ptr, data, len(data))

    def _checked_base(self, ptr: int, length: int) -> int:
        """The address of linear memory, once ``ptr..ptr+length`` is known to lie inside it.

        Raw pointers instead of ``Memory.read/write``: those look the memory up twice and
        copy through Python slices, which was a third of a bytes-ABI call's time. The
        address is fetched on every call because ``memory.grow`` may move the memory."""
        ref = self._memory_ref
        if ref is None:
            raise WasmTrap(f"Module {self.guest.module!r} exports no memory named 'memory'.")
        size = _memory_size(self._context, ref)
        if ptr < 0 or length < 0 or ptr + length > size:
            raise WasmTrap(
                f"Module {self.guest.module!r} gave the range {ptr}..{ptr + length}, outside "
                f"its {size}-byte memory."
            )
        return ctypes.cast(_memory_data(self._context, ref), ctypes.c_void_p).value or 0

    def try_inline(
        self,
        name: str,
        args: tuple[Any, ...] | list[Any],
        message: GuestMessage | None = None,
        via: Callable[[RawCall], Any] | None = None,
    ) -> Any:
        """Run a call on the current thread with a hard bound of INLINE_TICKS epoch ticks.

        For calls expected to take microseconds, this saves the thread hop (~100 us on a
        VM). Returns NOT_DONE, having changed nothing, when the instance is busy, its memory
        is too large to snapshot, or the call overran the bound: then linear memory is
        rolled back to its snapshot, the function is never inlined again, and the caller
        runs it normally. (Wasm globals cannot be read or restored from outside, so only
        modules with at most one mutable global are inlined (``CompiledModule.inline_safe``):
        the stack pointer of C and Rust, which a rollback can leave at most one frame of stack
        lower — once per function, since it is then demoted.)

        ``via`` runs instead of ``name(*args)`` when a call takes more than one export call
        (the bytes ABI: ``alloc``, a copy, then the function): it gets a ``raw(export,
        args)`` that calls exports without taking the lock again, and everything it does
        is rolled back together. ``message`` is what ``wasmfleet.message_topic`` reads.
        """
        if name in self.inline_demoted or not self.lock.acquire(blocking=False):
            return NOT_DONE
        try:
            context, ref = self._context, self._memory_ref
            size = _memory_size(context, ref)
            snapshot = self._snapshot
            if snapshot is None or size > INLINE_MEMORY_LIMIT:
                return NOT_DONE
            ctypes.memmove(snapshot, _memory_data(context, ref), size)
            self._size_before = size
            caller = self._callers.get(name) or self._make_caller(name)
            guest = self.guest
            guest.host_error = None
            guest.message = message
            guest.function = name
            guest.deadline = _monotonic() + self._timeout_s
            _set_deadline(context, INLINE_TICKS)
            self.calls += 1
            self._inline_cpu0 = cpu0 = _thread_time()
            try:
                return caller(*args) if via is None else via(self._raw_call)
            except RawCallError as err:
                if err.trap_code != wasmtime.TrapCode.INTERRUPT:
                    self.failures += 1
                    raise self._classify(err, name) from None
                ctypes.memmove(_memory_data(context, ref), snapshot, size)
                self.calls -= 1
                self.inline_rollbacks += 1
                # Inline-capable modules call no blocking host function, so an overrun
                # with little CPU time is the machine's (the thread was preempted on a
                # busy host): run this call on the lane, but do not give up inlining.
                if _thread_time() - cpu0 >= INLINE_DEMOTE_CPU_S:
                    self.inline_demoted.add(name)
                else:
                    self.inline_preempted += 1
                return NOT_DONE
        finally:
            self.lock.release()

    def inline_cpu_s(self) -> float:
        """CPU time this thread spent since the last inline call started (call it right
        after ``try_inline``: the call's own cost, whatever the wall clock says)."""
        return _thread_time() - self._inline_cpu0

    def _raw_call(self, name: str, args: tuple[Any, ...] | list[Any]) -> Any:
        """Call an export with the lock already held and the deadline already armed."""
        caller = self._callers.get(name) or self._make_caller(name)
        return caller(*args)

    def _arm(self) -> None:
        """Arm the call timeout before running guest code outside ``call`` (start functions)."""
        self.guest.host_error = None
        self.guest.deadline = _monotonic() + self._timeout_s
        _set_deadline(self._context, self._timeout_ticks)

    def _make_caller(self, name: str) -> Callable[..., Any]:
        sig = self.signature(name)
        func = self._funcs[name]
        if can_fast_call(sig):
            caller = make_fast_call(self._store, func, sig)
        else:
            caller = _stock_caller(self._store, func)
        self._callers[name] = caller
        return caller

    def _classify(self, err: RawCallError, function: str) -> ExecutionFailed:
        """Turn a trap into the error that says what happened, in a sentence."""
        where = f"{self.guest.module}.{function}"
        text = trap_summary(str(err))
        host_error = self.guest.host_error
        if err.trap_code == wasmtime.TrapCode.INTERRUPT or (
            host_error is not None and "time limit" in host_error
        ):
            return CallTimeout(
                f"{where} ran longer than its {self.limits.call_timeout_s:g} s limit and was "
                "stopped; other calls were not affected."
            )
        if host_error is not None:
            return WasmTrap(f"{where} trapped: {host_error}")
        limit = self.limits.memory_limit_bytes
        # wasmtime reports a refused memory.grow only as -1 to the guest, not as an event. A
        # call that grew memory past half the cap and then failed most likely ran out of it.
        used = self.memory_bytes()
        if self._memory is not None and used > self._size_before and used > limit // 2:
            return MemoryLimitExceeded(
                f"{where} failed after growing its memory to {used / (1024 * 1024):.1f} MiB of "
                f"the {limit // (1024 * 1024)} MiB limit, most likely because the next "
                f"memory.grow was refused: {text}"
            )
        if "exit status" in text:
            return WasmTrap(f"{where} exited instead of returning ({text}).")
        return WasmTrap(f"{where} trapped: {text}")


def _failed_start(module: str, phase: str, error: ExecutionFailed) -> InvalidWasm:
    """An error while a module starts means it cannot be deployed (a 4xx at deploy time)."""
    return InvalidWasm(f"Module {module!r} failed while starting ({phase}): {error.message}")


def trap_summary(message: str) -> str:
    """The cause line of a wasmtime trap message ('wasm trap: integer divide by zero')."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    causes = [line for line in lines if line.startswith(("wasm trap:", "error while"))]
    if "Caused by:" in lines:
        after = lines[lines.index("Caused by:") + 1 :]
        if after:
            return after[-1]
    return causes[0] if causes else lines[0]


def _stock_caller(store: wasmtime.Store, func: wasmtime.Func) -> Callable[..., Any]:
    """The slow, general path through wasmtime-py for signatures the fast path cannot take."""

    def call(*args: Any) -> Any:
        try:
            return func(store, *args)
        except wasmtime.Trap as trap:
            raise RawCallError(trap, None) from None
        except wasmtime.WasmtimeError as error:
            raise RawCallError(None, error) from None

    return call


class _LineLogger:
    """Collects a guest's stdout or stderr and logs it line by line."""

    def __init__(self, guest: GuestContext, stream: str) -> None:
        self._guest = guest
        self._stream = stream
        self._partial = b""

    def __call__(self, data: bytes) -> int:
        buffer = self._partial + data
        *lines, self._partial = buffer.split(b"\n")
        if len(self._partial) > _LINE_LIMIT:
            lines.append(self._partial)
            self._partial = b""
        for line in lines:
            guest_log.info(
                line[:_LINE_LIMIT].decode("utf-8", errors="replace"),
                extra=self._guest.extra(stream=self._stream),
            )
        return len(data)
