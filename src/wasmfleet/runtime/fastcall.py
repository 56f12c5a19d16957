"""The typed fast path for calling scalar exports.

wasmtime-py's ``Func.__call__`` re-derives the function type, allocates value arrays and
converts every value on each call (~20-35 µs here). A ``FastCall`` checks the signature
once, pre-binds a ``wasmtime_val_raw_t`` buffer, the store context and the function, and
then each call is one store per argument, one ctypes call into
``wasmtime_func_call_unchecked`` (which releases the GIL while Wasm runs) and one load:
about 1.5 µs. Signatures with non-scalar types use the stock path instead.

The per-signature call function is generated once from a small template, so the hot path
has no loops or branches on types.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi  # private API: pinned wasmtime major version (pyproject)
from wasmtime import _func as wasmtime_func
from wasmtime._bindings import _wasmtime_func_call_unchecked

from wasmfleet.runtime.engine import FuncSignature

_FIELD = {"i32": "i32", "i64": "i64", "f32": "f32", "f64": "f64"}
_TRAP_PTR = ctypes.POINTER(ctypes.POINTER(ffi.wasm_trap_t))


class RawCallError(Exception):
    """A fast call ended in a trap or an error; carries wasmtime's own objects."""

    def __init__(self, trap: wasmtime.Trap | None, error: wasmtime.WasmtimeError | None) -> None:
        self.trap = trap
        self.error = error
        text = trap.message if trap is not None else str(error)
        super().__init__(text)

    @property
    def trap_code(self) -> wasmtime.TrapCode | None:
        """The trap's code (e.g. INTERRUPT after an epoch deadline), if it was a trap."""
        if self.trap is not None:
            return self.trap.trap_code
        return None


def can_fast_call(signature: FuncSignature) -> bool:
    """True when every parameter and result is a plain number type."""
    return all(t in _FIELD for t in (*signature.params, *signature.results))


def make_fast_call(
    store: wasmtime.Store, func: wasmtime.Func, signature: FuncSignature
) -> Callable[..., Any]:
    """A callable ``f(*args)`` equivalent to ``func(store, *args)`` for scalar signatures.

    Returns None for no results, the value for one result, a tuple for several.
    Not thread-safe: the caller serializes calls into one instance (as it must anyway).
    """
    if not can_fast_call(signature):
        raise ValueError(f"signature {signature} has non-scalar types")
    params, results = signature.params, signature.results
    size = max(len(params), len(results), 1)
    buf = (ffi.wasmtime_val_raw_t * size)()
    trap_slot = (ctypes.c_void_p * 1)()
    namespace: dict[str, Any] = {
        # The store and func are referenced so that they live as long as the call function:
        # the raw context pointer alone would dangle once the Store is garbage-collected.
        "store": store,
        "func": func,
        "raw": _wasmtime_func_call_unchecked,
        "ctx": store._context(),
        "fn": ctypes.byref(func._func),
        "buf": buf,
        "size": size,
        "trap_slot": trap_slot,
        "trap_arg": ctypes.cast(trap_slot, _TRAP_PTR),
        "failed": _failed,
    }
    for i in range(size):
        namespace[f"s{i}"] = buf[i]  # element views share the buffer's memory
    args = ", ".join(f"a{i}" for i in range(len(params)))
    lines = [f"def call({args}):"]
    lines += [f"    s{i}.{_FIELD[t]} = a{i}" for i, t in enumerate(params)]
    lines.append("    err = raw(ctx, fn, buf, size, trap_arg)")
    lines.append("    if err or trap_slot[0]:")
    lines.append("        failed(err, trap_slot)")
    if not results:
        lines.append("    return None")
    elif len(results) == 1:
        lines.append(f"    return s0.{_FIELD[results[0]]}")
    else:
        values = ", ".join(f"s{i}.{_FIELD[t]}" for i, t in enumerate(results))
        lines.append(f"    return ({values},)")
    exec("\n".join(lines), namespace)
    call: Callable[..., Any] = namespace["call"]
    return call


def _failed(err: Any, trap_slot: Any) -> None:
    """Turn the raw error or trap pointer into a RawCallError (and reset the trap slot)."""
    trap = None
    error = None
    if trap_slot[0]:
        pointer = ctypes.cast(trap_slot[0], ctypes.POINTER(ffi.wasm_trap_t))
        trap_slot[0] = None
        trap = wasmtime.Trap._from_ptr(pointer)
    if err:
        error = wasmtime.WasmtimeError._from_ptr(err)
    # A host function that raised left its exception in wasmtime-py's module global; the
    # library's own call wrapper clears it, this raw path must too, or the next unrelated
    # trap anywhere in the process would re-raise it. The host error is already recorded
    # on the guest context, so it is dropped here.
    wasmtime_func.LAST_EXCEPTION = None
    raise RawCallError(trap, error)
