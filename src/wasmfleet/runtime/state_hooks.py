"""Carrying a module's state across a hot swap: the optional snapshot / restore hooks.

A new version of a module starts from its initial state, like a restarted one, unless
the old version exports ``wasmfleet_snapshot`` and the new one ``wasmfleet_restore``
(both over the bytes ABI of runtime/bytes_abi.py, see docs/module-authors.md):

- ``wasmfleet_snapshot() -> i64``: the state as a packed output buffer ``(ptr << 32) | len``
  (``0`` is an empty state; a negative value refuses the swap);
- ``wasmfleet_restore(i32 ptr, i32 len) -> i32``: takes those bytes (written into a buffer
  from the module's ``alloc``) and answers ``0``; anything else refuses the swap.

The supervisor calls both on the old instance's lane, so no call runs in between.
"""

from __future__ import annotations

from wasmfleet.core.errors import ExecutionFailed, Unprocessable
from wasmfleet.runtime.bytes_abi import ALLOC, unpack_output
from wasmfleet.runtime.engine import FuncSignature
from wasmfleet.runtime.instance import WasmInstance

SNAPSHOT = "wasmfleet_snapshot"
RESTORE = "wasmfleet_restore"
SNAPSHOT_SIGNATURE = FuncSignature((), ("i64",))
RESTORE_SIGNATURE = FuncSignature(("i32", "i32"), ("i32",))


def can_snapshot(functions: dict[str, FuncSignature]) -> bool:
    """True when a module exports ``wasmfleet_snapshot() -> i64``."""
    return functions.get(SNAPSHOT) == SNAPSHOT_SIGNATURE


def can_restore(functions: dict[str, FuncSignature]) -> bool:
    """True when a module exports ``wasmfleet_restore(i32, i32) -> i32`` and ``alloc``."""
    return functions.get(RESTORE) == RESTORE_SIGNATURE and functions.get("alloc") == ALLOC


def carry_state(old: WasmInstance, new: WasmInstance) -> int:
    """Snapshot ``old`` and restore that state into ``new``; the number of bytes carried.

    Runs on a worker thread while no other call can reach either instance. Raises
    Unprocessable (the swap is refused, the old version keeps running) when either hook
    fails or refuses."""
    module = old.guest.module
    try:
        state = unpack_output(old, SNAPSHOT, int(old.call(SNAPSHOT, ())))
    except ExecutionFailed as err:
        raise Unprocessable(
            f"The running version of module {module!r} failed in {SNAPSHOT}, so its state "
            f"could not be carried over; the old version keeps running. ({err.message})"
        ) from None
    state = state or b""
    try:
        ptr = 0
        if state:
            ptr = new.call("alloc", [len(state)]) & 0xFFFFFFFF
            if ptr == 0:
                raise ExecutionFailed(f"alloc({len(state)}) returned 0")
            new.write_memory(ptr, state)
        as_i32 = ptr - 2**32 if ptr >= 2**31 else ptr
        code = int(new.call(RESTORE, [as_i32, len(state)]))
    except ExecutionFailed as err:
        raise Unprocessable(
            f"The new version of module {module!r} failed in {RESTORE} with the "
            f"{len(state)}-byte state of the running version; the old version keeps running. "
            f"({err.message})"
        ) from None
    if code != 0:
        raise Unprocessable(
            f"The new version of module {module!r} refused the {len(state)}-byte state of the "
            f"running version ({RESTORE} answered {code}); the old version keeps running."
        )
    return len(state)
