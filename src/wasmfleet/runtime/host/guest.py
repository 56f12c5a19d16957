"""What host functions know about the guest that called them.

``GuestContext`` is per instance: which deployment and module it serves, the function and
the deadline of the call in progress, and the first error a host function hit (wasmtime-py
reports host exceptions through a process-global, which is not safe with parallel instances,
so the message is kept here instead). ``GuestMemory`` reads and writes the caller's linear memory
with explicit bounds checks — guest pointers are unsigned 32-bit.
"""

from __future__ import annotations

import ctypes
import logging
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import wasmtime


class HostCallError(Exception):
    """A host function failed; the call traps with this message."""


@dataclass(slots=True)
class GuestMessage:
    """The MQTT message a triggered call is handling (``wasmfleet.message_topic`` reads it)."""

    topic: str
    message_id: str
    publishes: list[Any] = field(default_factory=list)
    """What ``wasmfleet.publish`` sent during the call: the supervisor waits until the
    broker has them before it acknowledges the message."""


@dataclass(slots=True)
class GuestContext:
    """Per-instance state shared by that instance's host functions."""

    deployment: str
    module: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("wasmfleet.guest"))
    deadline: float = 0.0
    """time.monotonic() by which the current call must finish."""
    host_error: str | None = None
    message: GuestMessage | None = None
    """The message the current call handles; None for calls not triggered by a message."""
    function: str = ""
    """The export being called (``wasmfleet.qoa_report`` attributes reports to it)."""

    def fail(self, function: str, message: str) -> HostCallError:
        """Remember the first host failure of this call and return the exception to raise."""
        text = f"host function {function} failed: {message}"
        if self.host_error is None:
            self.host_error = text
        return HostCallError(text)

    def remaining(self) -> float:
        """Seconds left before the current call's deadline (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def extra(self, **fields: Any) -> dict[str, Any]:
        """Logging extras naming this guest."""
        return {"deployment": self.deployment, "wasm_module": self.module, **fields}


class GuestMemory:
    """Bounds-checked access to the exported ``memory`` of the calling instance."""

    def __init__(self, caller: wasmtime.Caller, function: str, ctx: GuestContext) -> None:
        memory = caller.get("memory")
        if not isinstance(memory, wasmtime.Memory):
            raise ctx.fail(function, "the module does not export a memory named 'memory'")
        self._caller = caller
        self._memory = memory
        self._function = function
        self._ctx = ctx

    def _span(self, ptr: int, length: int) -> tuple[int, int]:
        ptr &= 0xFFFFFFFF
        length &= 0xFFFFFFFF
        size = self._memory.data_len(self._caller)
        if ptr + length > size:
            raise self._ctx.fail(
                self._function,
                f"guest range {ptr}..{ptr + length} is outside its {size}-byte memory",
            )
        return ptr, length

    def read(self, ptr: int, length: int) -> bytes:
        """Copy ``length`` bytes at ``ptr`` out of guest memory."""
        ptr, length = self._span(ptr, length)
        if length == 0:
            return b""
        base = ctypes.addressof(self._memory.data_ptr(self._caller).contents)
        return ctypes.string_at(base + ptr, length)

    def write(self, ptr: int, data: bytes) -> None:
        """Copy ``data`` into guest memory at ``ptr``."""
        ptr, length = self._span(ptr, len(data))
        if length:
            base = ctypes.addressof(self._memory.data_ptr(self._caller).contents)
            ctypes.memmove(base + ptr, data, length)

    def read_u32(self, ptr: int) -> int:
        """A little-endian u32 at ``ptr``."""
        value: int = struct.unpack("<I", self.read(ptr, 4))[0]
        return value

    def write_u32(self, ptr: int, value: int) -> None:
        """Store a little-endian u32 at ``ptr``."""
        self.write(ptr, struct.pack("<I", value & 0xFFFFFFFF))

    def read_cstring(self, ptr: int, limit: int = 64 * 1024) -> bytes:
        """A NUL-terminated string at ``ptr`` (at most ``limit`` bytes)."""
        ptr &= 0xFFFFFFFF
        size = self._memory.data_len(self._caller)
        chunk = self.read(ptr, min(limit, max(0, size - ptr)))
        end = chunk.find(b"\0")
        return chunk if end < 0 else chunk[:end]

    def alloc(self, length: int) -> int:
        """Call the guest's exported ``alloc(len) -> ptr``."""
        alloc = self._caller.get("alloc")
        if not isinstance(alloc, wasmtime.Func):
            raise self._ctx.fail(self._function, "the module does not export alloc(len) -> ptr")
        ptr = alloc(self._caller, length)
        if not isinstance(ptr, int) or ptr == 0:
            raise self._ctx.fail(self._function, f"the module's alloc({length}) returned {ptr!r}")
        return ptr & 0xFFFFFFFF
