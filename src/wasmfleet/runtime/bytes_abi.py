"""The wasmfleet bytes ABI: a message's payload in through ``alloc``, bytes out as a packed i64.

A function ``f(i32 ptr, i32 len) -> R`` of a module that exports ``alloc(i32 len) -> i32``
takes bytes: the host calls ``alloc(len)``, copies the payload there and calls
``f(ptr, len)`` (an empty payload is ``f(0, 0)``, without ``alloc``). The module owns the
buffer (``free`` it). ``R`` decides the output:

- ``i64``: a packed output buffer, ``(ptr << 32) | len``, that the host copies out (the
  module keeps owning it: a static buffer is simplest). ``0`` or a zero length means no
  output; a negative value is an error code — the input is rejected and the call fails.
- anything else (``i32``, ``f32``, ``f64``, nothing): a scalar result, as in the wasmiot ABI.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.errors import ExecutionFailed, InputRejected
from wasmfleet.runtime.engine import FuncSignature
from wasmfleet.runtime.host.guest import GuestMessage
from wasmfleet.runtime.instance import RawCall, WasmInstance

BYTES_PARAMS = ("i32", "i32")
ALLOC = FuncSignature(("i32",), ("i32",))


def takes_bytes(functions: dict[str, FuncSignature], name: str) -> bool:
    """True when ``name`` follows the bytes ABI: (i32 ptr, i32 len) and an exported alloc."""
    sig = functions.get(name)
    return sig is not None and sig.params == BYTES_PARAMS and functions.get("alloc") == ALLOC


def call_with_bytes(
    instance: WasmInstance, name: str, payload: bytes, message: GuestMessage | None
) -> Any:
    """Run ``name`` on ``payload``; bytes (or None: no output) for an i64 result, else the
    scalar. A negative i64 fails the call with code ``rejected``."""

    def call(export: str, args: tuple[Any, ...] | list[Any]) -> Any:
        return instance.call(export, args, message)

    return run_bytes(instance, call, name, payload)


def run_bytes(instance: WasmInstance, call: RawCall, name: str, payload: bytes) -> Any:
    """``call_with_bytes`` over any way of calling exports (``WasmInstance.try_inline``
    passes one that runs inline, rolled back as a whole if it overruns)."""
    ptr = 0
    if payload:
        ptr = call("alloc", [len(payload)]) & 0xFFFFFFFF
        if ptr == 0:
            raise ExecutionFailed(
                f"{instance.guest.module}.alloc({len(payload)}) returned 0: the module could "
                "not allocate a buffer for the message."
            )
        instance.write_memory(ptr, payload)
    as_i32 = ptr - 2**32 if ptr >= 2**31 else ptr
    value = call(name, [as_i32, len(payload)])
    if instance.functions[name].results != ("i64",):
        return value
    return unpack_output(instance, name, int(value))


def unpack_output(instance: WasmInstance, name: str, packed: int) -> bytes | None:
    """The output buffer a packed i64 names (None for no output)."""
    if packed < 0:
        raise InputRejected(
            f"{instance.guest.module}.{name} rejected its input (error code {packed})."
        )
    ptr, length = packed >> 32, packed & 0xFFFFFFFF
    if length == 0:
        return None
    return instance.read_memory(ptr, length)
