"""The inference backends behind ``wasi_ephemeral_nn``: ONNX Runtime and LiteRT.

A backend turns model bytes into a ``Graph`` (its inputs and outputs described as
``TensorSpec``) and a graph into ``Runner`` objects that compute. Each backend is optional:
it exists on a device only when its package is installed (``available_backends``; install
both with ``pip install 'wasmfleet[nn]'``).

Nothing heavy loads before it is needed: whether a backend is installed is found with
``importlib.util.find_spec`` (the package is not imported), and numpy, ONNX Runtime and
LiteRT are imported when the first model is parsed — a supervisor that never runs a WASI-NN
module never maps them (bench/footprint.py measures what they cost).

Thread-safety: an ONNX Runtime ``InferenceSession`` may run concurrently from several
threads, so one session serves every runner of a graph, across instances. A LiteRT
``Interpreter`` may not, so every runner (one per execution context) owns its interpreter,
with tensors allocated once. A runner is used by one instance at a time (its calls are
serialized), so runners need no lock of their own.

Errors: ``ModelError`` (the bytes are not a model this backend can load) and
``ComputeError`` (the backend failed while computing); both carry a sentence.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

BACKENDS = ("onnx", "tflite")
"""Every backend this supervisor knows, in the order they are listed."""
SUFFIXES = {".onnx": "onnx", ".tflite": "tflite"}
"""Model file suffix -> backend."""
_ONNX_TYPES = {
    "tensor(float16)": "float16",
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


class ModelError(Exception):
    """The bytes are not a model the backend can load."""


class ComputeError(Exception):
    """The backend failed while computing."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One input or output of a graph: name, numpy dtype name and shape (None = dynamic)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]

    def describe(self) -> dict[str, Any]:
        """JSON for /api/v1/status (a dynamic dimension is null)."""
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


class Runner(Protocol):
    """Computes a graph; one per execution context."""

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The outputs for ``inputs`` (one array per graph input, in order)."""


class Graph(ABC):
    """A loaded model: what it takes and gives, and how to make runners."""

    backend: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @abstractmethod
    def runner(self) -> Runner:
        """A new runner (ModelError when the backend cannot make one)."""

    def describe(self) -> dict[str, Any]:
        """Inputs and outputs for /api/v1/status."""
        return {
            "inputs": [spec.describe() for spec in self.inputs],
            "outputs": [spec.describe() for spec in self.outputs],
        }


PACKAGES = {"onnx": "onnxruntime", "tflite": "ai_edge_litert"}
"""The package behind each backend."""


@functools.cache
def _installed(package: str) -> bool:
    """Whether a top-level package is installed, without importing it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> tuple[str, ...]:
    """The backends whose package is installed here ("onnx": onnxruntime, "tflite": LiteRT).

    Found without importing them: a package that is installed but cannot be imported (a
    broken native library) is offered, and its first model fails to load with a sentence."""
    return tuple(name for name in BACKENDS if _installed(PACKAGES[name]))


def detect_backend(data: bytes) -> str:
    """The backend for model bytes of unknown encoding: TFLite flatbuffers say ``TFL3``."""
    return "tflite" if data[4:8] == b"TFL3" else "onnx"


def load_graph(backend: str, data: bytes) -> Graph:
    """Parse ``data`` with ``backend`` (ModelError when it is not such a model)."""
    if backend == "onnx":
        return OnnxGraph(data)
    if backend == "tflite":
        return LiteRtGraph(data)
    raise ModelError(f"there is no backend {backend!r}")


class OnnxGraph(Graph):
    """An ONNX model in an ONNX Runtime session (CPU), shared by all its runners."""

    backend = "onnx"

    def __init__(self, data: bytes) -> None:
        try:
            import onnxruntime as ort
        except Exception as err:  # ImportError, or a broken native library
            raise ModelError(f"ONNX Runtime cannot be imported here: {_first_line(err)}") from None
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: warnings would go to stderr
        try:
            self.session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # InvalidProtobuf, Fail, InvalidGraph, ...
            raise ModelError(f"ONNX Runtime cannot load it: {_first_line(err)}") from None
        self.inputs = tuple(_onnx_spec(arg) for arg in self.session.get_inputs())
        self.outputs = tuple(_onnx_spec(arg) for arg in self.session.get_outputs())
        self._names = [spec.name for spec in self.inputs]

    def runner(self) -> Runner:
        """A runner sharing this graph's session (sessions are thread-safe)."""
        return self

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Run the session once."""
        import numpy as np

        try:
            results = self.session.run(None, dict(zip(self._names, inputs, strict=True)))
        except Exception as err:
            raise ComputeError(f"ONNX Runtime failed: {_first_line(err)}") from None
        arrays = [np.asarray(value) for value in results]
        if any(array.dtype == object for array in arrays):
            raise ComputeError("the model gives a non-tensor output (a sequence or a map)")
        return arrays


def _onnx_spec(arg: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or ()))
    return TensorSpec(str(arg.name), _ONNX_TYPES.get(str(arg.type), str(arg.type)), shape)


class LiteRtGraph(Graph):
    """A TensorFlow Lite model for LiteRT: its bytes, and interpreters made from them."""

    backend = "tflite"

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        probe = self._interpreter()
        self.inputs = tuple(_litert_spec(d) for d in probe.get_input_details())
        self.outputs = tuple(_litert_spec(d) for d in probe.get_output_details())
        self._spare: list[Any] = [probe]
        self._lock = threading.Lock()

    def _interpreter(self) -> Any:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except Exception as err:  # ImportError, or a broken native library
            raise ModelError(f"LiteRT cannot be imported here: {_first_line(err)}") from None
        try:
            interpreter = Interpreter(model_content=self.data)
            interpreter.allocate_tensors()
        except Exception as err:  # ValueError for bytes that are not a TFLite model
            raise ModelError(f"LiteRT cannot load it: {_first_line(err)}") from None
        return interpreter

    def runner(self) -> Runner:
        """A runner with its own interpreter (interpreters are not thread-safe)."""
        with self._lock:
            spare = self._spare.pop() if self._spare else None
        return LiteRtRunner(spare if spare is not None else self._interpreter())


class LiteRtRunner:
    """One LiteRT interpreter, tensors allocated once (again only when a shape changes)."""

    def __init__(self, interpreter: Any) -> None:
        self.interpreter = interpreter
        self._inputs = [d["index"] for d in interpreter.get_input_details()]
        self._outputs = [d["index"] for d in interpreter.get_output_details()]

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Copy the inputs in, invoke, copy the outputs out."""
        interp = self.interpreter
        try:
            details = interp.get_input_details()
            resized = False
            for index, array, detail in zip(self._inputs, inputs, details, strict=True):
                if tuple(detail["shape"]) != array.shape:
                    interp.resize_tensor_input(index, list(array.shape))
                    resized = True
            if resized:
                interp.allocate_tensors()
            for index, array in zip(self._inputs, inputs, strict=True):
                interp.set_tensor(index, array)
            interp.invoke()
            return [interp.get_tensor(index) for index in self._outputs]
        except Exception as err:
            raise ComputeError(f"LiteRT failed: {_first_line(err)}") from None


def _litert_spec(detail: dict[str, Any]) -> TensorSpec:
    import numpy as np

    shape = [int(d) for d in detail["shape"]]
    signature = [int(d) for d in detail.get("shape_signature", shape)]
    if len(signature) != len(shape):
        signature = shape
    dims = tuple(None if sig < 0 else dim for dim, sig in zip(shape, signature, strict=True))
    return TensorSpec(str(detail["name"]), np.dtype(detail["dtype"]).name, dims)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]
