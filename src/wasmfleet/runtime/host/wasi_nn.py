"""``wasi_ephemeral_nn``: WASI-NN preview1 (the witx ABI of wasmtime and WasmEdge).

    load(i32 builders_ptr, i32 builders_len, i32 encoding, i32 target, i32 graph_out) -> errno
    load_by_name(i32 name_ptr, i32 name_len, i32 graph_out) -> errno
    init_execution_context(i32 graph, i32 context_out) -> errno
    set_input(i32 context, i32 index, i32 tensor_ptr) -> errno
    compute(i32 context) -> errno
    get_output(i32 context, i32 index, i32 out_ptr, i32 out_max, i32 written_out) -> errno

Every function returns an ``Errno`` (0: success) and writes its result (a u32 handle, or
the number of bytes written) only on success. Bad arguments — unknown handles, a tensor
whose type, shape or size does not match the model, a too-small output buffer — are error
codes, never traps; pointers outside the guest's memory trap, like every host function.
Offered wherever an inference backend is installed (``HostDevices.nn``, need ``nn``); the
constants are in ``runtime/nn/abi.py``, the state in ``runtime/nn/``; see docs/wasi-nn.md.
Nothing heavy loads before a guest uses these functions: numpy comes with the first
tensor, a backend (ONNX Runtime, LiteRT) with the first model it parses.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

import wasmtime

from wasmfleet.runtime.host.guest import GuestContext, GuestMemory
from wasmfleet.runtime.nn import backends as nn_backends
from wasmfleet.runtime.nn.abi import (
    BACKEND_OF_ENCODING,
    BUILDER_SIZE,
    MAX_MODEL_BYTES,
    MAX_NAME_BYTES,
    TENSOR_STRUCT_SIZE,
    Errno,
    ExecutionTarget,
    GraphEncoding,
    NnError,
)

if TYPE_CHECKING:
    from wasmfleet.runtime.host.functions import HostDevices, HostImpl
    from wasmfleet.runtime.nn.session import NnSession

MODULE = "wasi_ephemeral_nn"
_U32 = 0xFFFFFFFF
_ENCODINGS = frozenset(int(e) for e in GraphEncoding)
_TARGETS = frozenset(int(t) for t in ExecutionTarget)


def _session(ctx: GuestContext, dev: HostDevices) -> NnSession:
    if dev.nn is None:  # never linked then (need "nn"); a guard for direct use
        raise ctx.fail(MODULE, "this device has no WASI-NN backend")
    return dev.nn.session(ctx)


def _answer(session: NnSession, function: str, work: Callable[[], None]) -> int:
    """Run ``work``; an ``NnError`` becomes its error code (counted and logged)."""
    try:
        work()
    except NnError as err:
        ctx = session.ctx
        session.registry.failed(f"{function}: {err.message}")
        ctx.log.info(
            f"{function} returned {err.errno.name.lower()}: {err.message}",
            extra=ctx.extra(stream=function, errno=int(err.errno)),
        )
        return int(err.errno)
    return int(Errno.SUCCESS)


def load(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasi_ephemeral_nn.load`` for one instance."""
    name = f"{MODULE}.load"
    session = _session(ctx, dev)

    def load_impl(
        caller: wasmtime.Caller,
        builders_ptr: int,
        builders_len: int,
        encoding: int,
        target: int,
        graph_out: int,
    ) -> int:
        memory = GuestMemory(caller, name, ctx)

        def work() -> None:
            backend = _backend(encoding & _U32, session)
            _check_target(target & _U32)
            count = builders_len & _U32
            if count != 1:
                raise NnError(
                    Errno.INVALID_ARGUMENT,
                    f"ONNX and TensorFlow Lite models are one graph builder, got {count}",
                )
            ptr, size = struct.unpack("<II", memory.read(builders_ptr, BUILDER_SIZE))
            if size > MAX_MODEL_BYTES:
                raise NnError(
                    Errno.TOO_LARGE,
                    f"the model is {size} bytes; load takes at most {MAX_MODEL_BYTES} "
                    "(give the device the file and use load_by_name)",
                )
            data = memory.read(ptr, size)
            if backend is None:
                backend = nn_backends.detect_backend(data)
                if backend not in session.registry.backends:
                    raise NnError(
                        Errno.INVALID_ENCODING,
                        f"the model looks like {backend}, which this device cannot run",
                    )
            memory.read(graph_out, 4)  # a bad out pointer traps before anything is loaded
            handle = session.load_bytes(backend, data)
            memory.write_u32(graph_out, handle)
            session.registry.count("loads")

        return _answer(session, name, work)

    return load_impl


def load_by_name(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasi_ephemeral_nn.load_by_name`` for one instance."""
    name = f"{MODULE}.load_by_name"
    session = _session(ctx, dev)

    def load_by_name_impl(
        caller: wasmtime.Caller, name_ptr: int, name_len: int, graph_out: int
    ) -> int:
        memory = GuestMemory(caller, name, ctx)

        def work() -> None:
            length = name_len & _U32
            if not 0 < length <= MAX_NAME_BYTES:
                raise NnError(
                    Errno.INVALID_ARGUMENT,
                    f"a model name is 1 to {MAX_NAME_BYTES} bytes, got {length}",
                )
            try:
                model = memory.read(name_ptr, length).decode("utf-8")
            except UnicodeDecodeError:
                raise NnError(Errno.INVALID_ARGUMENT, "the model name is not UTF-8") from None
            memory.read(graph_out, 4)
            handle = session.load_by_name(model)
            memory.write_u32(graph_out, handle)
            session.registry.count("loads")

        return _answer(session, name, work)

    return load_by_name_impl


def init_execution_context(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasi_ephemeral_nn.init_execution_context`` for one instance."""
    name = f"{MODULE}.init_execution_context"
    session = _session(ctx, dev)

    def init_impl(caller: wasmtime.Caller, graph: int, context_out: int) -> int:
        memory = GuestMemory(caller, name, ctx)

        def work() -> None:
            memory.read(context_out, 4)
            handle = session.new_context(graph & _U32)
            memory.write_u32(context_out, handle)
            session.registry.count("contexts")

        return _answer(session, name, work)

    return init_impl


def set_input(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasi_ephemeral_nn.set_input`` for one instance."""
    name = f"{MODULE}.set_input"
    session = _session(ctx, dev)

    def set_input_impl(caller: wasmtime.Caller, context: int, index: int, tensor_ptr: int) -> int:
        memory = GuestMemory(caller, name, ctx)

        def work() -> None:
            raw = memory.read(tensor_ptr, TENSOR_STRUCT_SIZE)
            dims_ptr, rank, kind, data_ptr, data_len = struct.unpack("<IIB3xII", raw)
            execution = session.context(context & _U32)
            position = index & _U32
            spec = execution.input_spec(position, kind, rank)  # checked before reading dims
            dims = struct.unpack(f"<{rank}I", memory.read(dims_ptr, 4 * rank))
            wanted = execution.expected_bytes(position, spec, dims)
            if data_len != wanted:
                raise NnError(
                    Errno.INVALID_ARGUMENT,
                    f"input {position} ({spec.name}) of shape {list(dims)} is {wanted} bytes "
                    f"of {spec.dtype}, got {data_len}",
                )
            execution.set_input(position, spec, dims, memory.read(data_ptr, data_len))

        return _answer(session, name, work)

    return set_input_impl


def compute(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasi_ephemeral_nn.compute`` for one instance."""
    name = f"{MODULE}.compute"
    session = _session(ctx, dev)

    def compute_impl(caller: wasmtime.Caller, context: int) -> int:
        def work() -> None:
            session.context(context & _U32).compute()
            session.registry.count("computes")

        return _answer(session, name, work)

    return compute_impl


def get_output(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasi_ephemeral_nn.get_output`` for one instance."""
    name = f"{MODULE}.get_output"
    session = _session(ctx, dev)

    def get_output_impl(
        caller: wasmtime.Caller,
        context: int,
        index: int,
        out_ptr: int,
        out_max: int,
        written_out: int,
    ) -> int:
        memory = GuestMemory(caller, name, ctx)

        def work() -> None:
            data = session.context(context & _U32).output(index & _U32)
            if len(data) > out_max & _U32:
                raise NnError(
                    Errno.TOO_LARGE,
                    f"output {index & _U32} is {len(data)} bytes; the buffer holds "
                    f"{out_max & _U32}",
                )
            memory.read(written_out, 4)
            memory.write(out_ptr, data)
            memory.write_u32(written_out, len(data))

        return _answer(session, name, work)

    return get_output_impl


def _backend(encoding: int, session: NnSession) -> str | None:
    """The backend for an encoding (None: autodetect), or invalid_encoding."""
    if encoding == GraphEncoding.AUTODETECT:
        return None
    known = encoding in _ENCODINGS
    backend = BACKEND_OF_ENCODING.get(GraphEncoding(encoding)) if known else None
    if backend is None or backend not in session.registry.backends:
        label = GraphEncoding(encoding).name.lower() if known else str(encoding)
        offered = ", ".join(session.registry.backends) or "none"
        raise NnError(
            Errno.INVALID_ENCODING,
            f"graph encoding {label} cannot be loaded here (backends: {offered})",
        )
    return backend


def _check_target(target: int) -> None:
    if target not in _TARGETS:
        raise NnError(Errno.INVALID_ARGUMENT, f"execution target {target} is not cpu, gpu or tpu")
    if target != ExecutionTarget.CPU:
        raise NnError(
            Errno.UNSUPPORTED_OPERATION,
            f"this device runs graphs on the cpu only, not the {ExecutionTarget(target).name}",
        )
