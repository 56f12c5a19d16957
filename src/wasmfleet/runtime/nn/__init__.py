"""WASI-NN for the supervisor: the ``wasi_ephemeral_nn`` ABI constants (``abi``), the ONNX
Runtime and LiteRT backends (``backends``), the models offered by name (``models``) and each
instance's handles (``session``). The host functions themselves are in
``runtime/host/wasi_nn.py``; docs/wasi-nn.md describes it all for module authors.
"""

from wasmfleet.runtime.nn.models import ModelRegistry, bundled_face_model

__all__ = ["ModelRegistry", "bundled_face_model"]
