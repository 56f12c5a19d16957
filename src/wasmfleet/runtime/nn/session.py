"""One instance's WASI-NN state: its graph and execution-context handles.

Handles are small integers counted from 0 per instance and never reused, so a stale handle
is refused (invalid_argument) instead of reaching another graph. Loading the same model
again (``load_by_name`` of the same name, ``load`` of the same bytes) returns the handle
the instance already has. Execution contexts are kept up to ``MAX_CONTEXTS`` per instance;
beyond, the least recently used one is dropped (a module that makes a context per call
keeps working; its old handles become invalid).

An instance's calls are serialized, so a session needs no lock. Refusals raise ``NnError``
with the ``Errno`` the guest gets and a sentence for the log and the status page.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import TYPE_CHECKING

from wasmfleet.runtime.nn.abi import MAX_RANK, TENSOR_TYPES, Errno, NnError, TensorType
from wasmfleet.runtime.nn.backends import ComputeError, Graph, ModelError, Runner, TensorSpec

if TYPE_CHECKING:
    import numpy as np

    from wasmfleet.runtime.host.guest import GuestContext
    from wasmfleet.runtime.nn.models import ModelRegistry

MAX_CONTEXTS = 8
"""Execution contexts an instance keeps; the least recently used goes beyond."""
MAX_GRAPHS = 64
"""Distinct graphs an instance may load (busy beyond)."""
_KINDS = frozenset(int(kind) for kind in TensorType)
__all__ = ["MAX_CONTEXTS", "MAX_GRAPHS", "ExecutionContext", "NnError", "NnSession"]


class ExecutionContext:
    """Inputs, a runner and the outputs of the last compute, for one graph."""

    def __init__(self, graph: Graph, runner: Runner) -> None:
        self.graph = graph
        self.runner = runner
        self.inputs: list[np.ndarray | None] = [None] * len(graph.inputs)
        self.outputs: list[bytes] | None = None

    def input_spec(self, index: int, kind: int, rank: int) -> TensorSpec:
        """The spec of input ``index`` once its index, type and rank are known to fit."""
        specs = self.graph.inputs
        if not 0 <= index < len(specs):
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"input index {index} is out of range: the model has {len(specs)} input(s)",
            )
        spec = specs[index]
        if kind not in _KINDS:
            raise NnError(Errno.INVALID_ARGUMENT, f"tensor type {kind} is not a tensor_type")
        wanted = TENSOR_TYPES.get(spec.dtype)
        if wanted is None or wanted != kind:
            expected = wanted.name.lower() if wanted is not None else f"{spec.dtype} (none)"
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"input {index} ({spec.name}) takes {expected}, "
                f"got {TensorType(kind).name.lower()}",
            )
        if rank != len(spec.shape) or rank > MAX_RANK:
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"input {index} ({spec.name}) has {len(spec.shape)} dimension(s) "
                f"{_shape(spec.shape)}, got {rank}",
            )
        return spec

    def expected_bytes(self, index: int, spec: TensorSpec, dims: tuple[int, ...]) -> int:
        """The byte size of a tensor of ``dims``, once ``dims`` are known to fit ``spec``."""
        fits = all(
            (want is None and got >= 1) or got == want
            for got, want in zip(dims, spec.shape, strict=True)
        )
        if not fits:
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"input {index} ({spec.name}) has the shape {_shape(spec.shape)}, got {list(dims)}",
            )
        import numpy as np  # loaded by the first tensor, not when a module is linked

        return math.prod(dims) * np.dtype(spec.dtype).itemsize

    def set_input(self, index: int, spec: TensorSpec, dims: tuple[int, ...], data: bytes) -> None:
        """Keep ``data`` (already checked) as input ``index``."""
        import numpy as np

        array = np.frombuffer(data, dtype=np.dtype(spec.dtype).newbyteorder("<"))
        self.inputs[index] = array.astype(spec.dtype, copy=False).reshape(dims)

    def compute(self) -> None:
        """Run the graph on the inputs set."""
        missing = [i for i, array in enumerate(self.inputs) if array is None]
        if missing:
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"input(s) {', '.join(map(str, missing))} not set: call set_input first",
            )
        try:
            results = self.runner.run([a for a in self.inputs if a is not None])
        except ComputeError as err:
            raise NnError(Errno.RUNTIME_ERROR, str(err)) from None
        import numpy as np

        self.outputs = [
            np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes() for a in results
        ]

    def output(self, index: int) -> bytes:
        """The bytes of output ``index`` of the last compute."""
        if self.outputs is None:
            raise NnError(Errno.INVALID_ARGUMENT, "no output yet: call compute first")
        if not 0 <= index < len(self.outputs):
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"output index {index} is out of range: the model has "
                f"{len(self.outputs)} output(s)",
            )
        return self.outputs[index]


class NnSession:
    """The graphs and execution contexts of one instance."""

    def __init__(self, registry: ModelRegistry, ctx: GuestContext) -> None:
        self.registry = registry
        self.ctx = ctx
        self.graphs: dict[int, Graph] = {}
        self._graph_keys: dict[object, int] = {}
        self.contexts: OrderedDict[int, ExecutionContext] = OrderedDict()
        self._next_graph = 0
        self._next_context = 0

    def add_graph(self, key: object, graph: Graph) -> int:
        """The handle of ``graph`` (the same handle for the same ``key``)."""
        handle = self._graph_keys.get(key)
        if handle is not None and self.graphs.get(handle) is graph:
            return handle
        if len(self.graphs) >= MAX_GRAPHS:
            raise NnError(
                Errno.BUSY, f"this instance already loaded {MAX_GRAPHS} graphs, the most it may"
            )
        handle = self._next_graph
        self._next_graph += 1
        self.graphs[handle] = graph
        self._graph_keys[key] = handle
        return handle

    def load_bytes(self, backend: str, data: bytes) -> int:
        """``load``: parse (or find cached) model bytes; the graph handle."""
        try:
            graph = self.registry.graph_from_bytes(backend, data)
        except ModelError as err:
            raise NnError(Errno.INVALID_ARGUMENT, f"the model cannot be loaded: {err}") from None
        return self.add_graph(("bytes", id(graph)), graph)

    def load_by_name(self, name: str) -> int:
        """``load_by_name``: a model of the device or of this deployment; the graph handle."""
        model = self.registry.find(name, self.ctx.deployment, self.ctx.module)
        if model is None:
            offered = ", ".join(self.registry.offered()) or "none"
            raise NnError(
                Errno.NOT_FOUND,
                f"no model named {name!r} here (device models: {offered}; a deployment "
                "adds its NAME.onnx and NAME.tflite data files)",
            )
        try:
            graph = self.registry.graph_of(model)
        except ModelError as err:
            raise NnError(Errno.RUNTIME_ERROR, f"model {name!r}: {err}") from None
        return self.add_graph(("name", name, id(graph)), graph)

    def new_context(self, graph_handle: int) -> int:
        """``init_execution_context``: a context for a loaded graph; its handle."""
        graph = self.graphs.get(graph_handle)
        if graph is None:
            raise NnError(Errno.INVALID_ARGUMENT, f"no graph {graph_handle}: load it first")
        try:
            runner = graph.runner()
        except ModelError as err:
            raise NnError(Errno.RUNTIME_ERROR, str(err)) from None
        handle = self._next_context
        self._next_context += 1
        self.contexts[handle] = ExecutionContext(graph, runner)
        while len(self.contexts) > MAX_CONTEXTS:
            self.contexts.popitem(last=False)
        return handle

    def context(self, handle: int) -> ExecutionContext:
        """The execution context ``handle`` (invalid_argument when there is none)."""
        found = self.contexts.get(handle)
        if found is None:
            raise NnError(
                Errno.INVALID_ARGUMENT,
                f"no execution context {handle}: make one with init_execution_context",
            )
        self.contexts.move_to_end(handle)
        return found


def _shape(shape: tuple[int | None, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
