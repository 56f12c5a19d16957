"""``env.abort``: AssemblyScript's default abort, so its modules deploy without ``--use abort=``.

    env.abort(i32 message, i32 file_name, i32 line, i32 column)

AssemblyScript calls it when an assertion fails or a ``throw`` is not caught. ``message`` and
``file_name`` point at AssemblyScript strings: UTF-16LE code units whose length in bytes is
the u32 stored just before them (at ``ptr - 4``); 0 means no string. The call traps with
``abort: <message> at <file>:<line>:<column>``, which the caller of the function sees. Every
device offers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import wasmtime

from wasmfleet.runtime.host.guest import GuestContext, GuestMemory, HostCallError

if TYPE_CHECKING:
    from wasmfleet.runtime.host.functions import HostDevices, HostImpl

MAX_TEXT_BYTES = 4096
"""Longest message or file name read; a longer one is cut (an abort is no place for more)."""


def read_as_string(memory: GuestMemory, ptr: int) -> str:
    """The AssemblyScript string at ``ptr`` ('' for 0; cut at MAX_TEXT_BYTES)."""
    ptr &= 0xFFFFFFFF
    if ptr < 4:
        return ""
    length = memory.read_u32(ptr - 4)
    raw = memory.read(ptr, min(length, MAX_TEXT_BYTES) & ~1)
    text = raw.decode("utf-16-le", errors="replace")
    return text + ("…" if length > MAX_TEXT_BYTES else "")


def abort(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``env.abort`` for one instance."""

    def abort_impl(
        caller: wasmtime.Caller, message: int, file_name: int, line: int, col: int
    ) -> None:
        memory = GuestMemory(caller, "env.abort", ctx)
        text = read_as_string(memory, message) or "(no message)"
        where = read_as_string(memory, file_name) or "(unknown file)"
        failure = f"abort: {text} at {where}:{line & 0xFFFFFFFF}:{col & 0xFFFFFFFF}"
        if ctx.host_error is None:
            ctx.host_error = failure
        raise HostCallError(failure)

    return abort_impl
