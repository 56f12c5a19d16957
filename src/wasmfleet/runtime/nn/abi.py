"""The constants of ``wasi_ephemeral_nn`` (WASI-NN preview1, the witx ABI), in one place,
and ``NnError``, the refusal every function turns into its error code.

Matched against wasmtime's ``crates/wasi-nn/witx/wasi-nn.witx`` (the copy that carries
``f64``, ``i64``, ``autodetect`` and the errors up to ``not_found``); the bytecodealliance
``wasi-nn`` Rust bindings number tensor types the same way (f16, f32, f64, u8, i32, i64).
Older copies — the first witx, older bindings and older WasmEdge releases — number them
f16 0, f32 1, u8 2, i32 3: only f16 and f32 agree everywhere. WasmEdge adds encodings from
``ggml`` = 6 on, which no backend here loads. See docs/wasi-nn.md for the table.
"""

from __future__ import annotations

from enum import IntEnum


class Errno(IntEnum):
    """``nn_errno``: what every ``wasi_ephemeral_nn`` function returns (0 = success)."""

    SUCCESS = 0
    INVALID_ARGUMENT = 1
    INVALID_ENCODING = 2
    MISSING_MEMORY = 3
    BUSY = 4
    RUNTIME_ERROR = 5
    UNSUPPORTED_OPERATION = 6
    TOO_LARGE = 7
    NOT_FOUND = 8


class TensorType(IntEnum):
    """``tensor_type`` (a u8 in the tensor struct)."""

    F16 = 0
    F32 = 1
    F64 = 2
    U8 = 3
    I32 = 4
    I64 = 5


class GraphEncoding(IntEnum):
    """``graph_encoding``; only ONNX, TensorFlow Lite and autodetect load here."""

    OPENVINO = 0
    ONNX = 1
    TENSORFLOW = 2
    PYTORCH = 3
    TENSORFLOWLITE = 4
    AUTODETECT = 5
    GGML = 6
    """A WasmEdge extension, listed so that it is refused by name."""


class ExecutionTarget(IntEnum):
    """``execution_target``; only the CPU runs graphs here."""

    CPU = 0
    GPU = 1
    TPU = 2


DTYPES: dict[TensorType, str] = {
    TensorType.F16: "float16",
    TensorType.F32: "float32",
    TensorType.F64: "float64",
    TensorType.U8: "uint8",
    TensorType.I32: "int32",
    TensorType.I64: "int64",
}
"""The numpy dtype name of each tensor type (little-endian in guest memory)."""
TENSOR_TYPES: dict[str, TensorType] = {dtype: kind for kind, dtype in DTYPES.items()}

BACKEND_OF_ENCODING: dict[GraphEncoding, str] = {
    GraphEncoding.ONNX: "onnx",
    GraphEncoding.TENSORFLOWLITE: "tflite",
}
"""The backend that loads each encoding (autodetect picks one from the model's bytes)."""

TENSOR_STRUCT_SIZE = 20
"""``tensor``: u32 dims_ptr, u32 dims_len, u8 type + 3 bytes padding, u32 data_ptr,
u32 data_len (little-endian)."""
BUILDER_SIZE = 8
"""One ``graph_builder`` of a builder array: u32 ptr, u32 len."""
MAX_MODEL_BYTES = 64 * 1024 * 1024
"""The largest model ``load`` takes through guest memory (too_large above)."""
MAX_NAME_BYTES = 1024
"""The longest model name ``load_by_name`` reads (invalid_argument above)."""
MAX_RANK = 16
"""Tensors of more dimensions are refused (invalid_argument)."""


class NnError(Exception):
    """A call refused with ``errno``; ``message`` says why."""

    def __init__(self, errno: Errno, message: str) -> None:
        super().__init__(message)
        self.errno = errno
        self.message = message
