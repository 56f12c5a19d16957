"""Checking a built module against its scikit-learn model on held-out data.

Check data is float32 features ``X`` (n_samples x n_features) and, optionally, labels
``y``: an ``.npz`` file with arrays ``X`` and ``y``, or an ``.npy`` file of ``X`` with the
labels in a second ``.npy`` file. ``digits_split`` is the documented split of scikit-learn's
bundled digits. Without data, a fixed set of synthetic inputs still compares the two.

The module runs in wasmfleet's own runtime (``runtime.WasmInstance`` and the bytes ABI),
as a supervisor would run it: classes from batch calls, probabilities from single calls.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wasmfleet.core.errors import ExecutionFailed
from wasmfleet.ml.errors import InvalidCheckData
from wasmfleet.ml.model import LoadedModel

DIGITS_SPLIT = {"test_size": 0.2, "random_state": 0}
"""``train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)`` of load_digits()."""
BATCH = 1024
"""Samples per batch call."""
SINGLE_CALLS = 1000
"""At most this many samples are also sent one by one (probabilities, batch consistency)."""
SYNTHETIC_SAMPLES = 64


@dataclass(frozen=True, slots=True)
class CheckData:
    """Features (float32, 2-D) and optional labels, and where they came from."""

    X: np.ndarray[Any, Any]
    y: np.ndarray[Any, Any] | None
    source: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """How the module's answers compare with scikit-learn's."""

    source: str
    samples: int
    agreed: int
    sklearn_correct: int | None
    wasm_correct: int | None
    max_probability_diff: float | None
    single_calls: int
    disagreements: tuple[int, ...]
    """Indexes of the first samples where the two disagree (at most 10)."""

    @property
    def agreement(self) -> float:
        """The share of samples where the module answers scikit-learn's class."""
        return self.agreed / self.samples if self.samples else 0.0


def digits_split() -> tuple[np.ndarray[Any, Any], ...]:
    """X_train, X_test, y_train, y_test of scikit-learn's bundled digits (``DIGITS_SPLIT``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    parts = train_test_split(X, y, stratify=y, **DIGITS_SPLIT)
    return tuple(parts)


def digits_check_data() -> CheckData:
    """The held-out part of the digits split."""
    _, X_test, _, y_test = digits_split()
    return CheckData(
        X=np.asarray(X_test, dtype=np.float32),
        y=np.asarray(y_test),
        source=f"the digits held-out split ({len(X_test)} samples)",
    )


def synthetic_check_data(n_features: int, samples: int = SYNTHETIC_SAMPLES) -> CheckData:
    """Fixed pseudo-random inputs (standard normal, seed 0) plus an all-zero one."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((samples - 1, n_features)).astype(np.float32)
    X = np.vstack([np.zeros((1, n_features), dtype=np.float32), X])
    return CheckData(X=X, y=None, source=f"{samples} synthetic inputs (no --check-data)")


def _load_array(path: Path, what: str) -> np.ndarray[Any, Any]:
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except FileNotFoundError:
        raise InvalidCheckData(f"{what} {path}: no such file.") from None
    except (OSError, ValueError) as err:
        raise InvalidCheckData(
            f"{what} {path} is not a NumPy .npy/.npz file ({err}); save it with numpy.save."
        ) from None


def load_check_data(path: Path, labels: Path | None = None) -> CheckData:
    """Check data from ``path`` (.npz with X and y, or .npy of X) and ``labels`` (.npy)."""
    if path.suffix == ".npz":
        if labels is not None:
            raise InvalidCheckData(
                "--check-labels goes with an .npy file of features; an .npz file holds "
                "its labels as the array y."
            )
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if "X" not in names:
                    raise InvalidCheckData(
                        f"{path} holds the arrays {', '.join(names) or 'none'}; expected X "
                        "(features) and optionally y (labels): numpy.savez(FILE, X=X, y=y)."
                    )
                X = np.asarray(archive["X"])
                y = np.asarray(archive["y"]) if "y" in names else None
        except FileNotFoundError:
            raise InvalidCheckData(f"--check-data {path}: no such file.") from None
        except (OSError, ValueError) as err:
            raise InvalidCheckData(
                f"--check-data {path} is not a NumPy .npz file ({err}); "
                "write it with numpy.savez(FILE, X=X, y=y)."
            ) from None
    else:
        X = _load_array(path, "--check-data")
        y = _load_array(labels, "--check-labels") if labels is not None else None
    return CheckData(X=_features(X, path), y=y, source=f"{path.name} ({len(X)} samples)")


def _features(X: np.ndarray[Any, Any], path: Path) -> np.ndarray[Any, Any]:
    if X.dtype.kind not in "biuf":
        raise InvalidCheckData(f"the features in {path} are {X.dtype}, not numbers.")
    if X.ndim == 1:
        X = X.reshape(1, -1)
    if X.ndim != 2 or len(X) == 0:
        raise InvalidCheckData(
            f"the features in {path} have shape {X.shape}; expected (n_samples, n_features)."
        )
    return X.astype(np.float32)


def validate(data: CheckData, model: LoadedModel) -> None:
    """InvalidCheckData unless the data fits the model."""
    if data.X.shape[1] != model.n_features:
        raise InvalidCheckData(
            f"the check data has {data.X.shape[1]} features per sample; the model takes "
            f"{model.n_features}."
        )
    if data.y is not None and (data.y.ndim != 1 or len(data.y) != len(data.X)):
        raise InvalidCheckData(
            f"the check labels have shape {data.y.shape}; expected one label per sample "
            f"({len(data.X)})."
        )


def predicted_indexes(model: LoadedModel, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """scikit-learn's predictions as indexes into ``classes_``."""
    index = {label: i for i, label in enumerate(model.classes)}
    return np.array([index[label] for label in model.estimator.predict(X)])


class ModuleRunner:
    """A built module in wasmfleet's runtime, called through the bytes ABI."""

    def __init__(self, wasm: bytes, name: str) -> None:
        from wasmfleet.runtime.engine import WasmEngine
        from wasmfleet.runtime.host.functions import HostDevices
        from wasmfleet.runtime.instance import WasmInstance
        from wasmfleet.runtime.limits import RuntimeLimits

        self._dir = tempfile.TemporaryDirectory(prefix="wasmfleet-ml-")
        self.engine = WasmEngine(RuntimeLimits(call_timeout_s=60.0))
        compiled = self.engine.compile(wasm, name=name)
        devices = HostDevices(None, None, images=False)
        self.instance = WasmInstance(
            self.engine, compiled, Path(self._dir.name), devices, deployment="check", module=name
        )

    def call(self, function: str) -> Any:
        """A scalar export such as ``n_features``."""
        return self.instance.call(function, ())

    def predict(self, X: np.ndarray[Any, Any]) -> dict[str, Any]:
        """The JSON answer of ``predict`` for float32 samples X."""
        from wasmfleet.runtime.bytes_abi import call_with_bytes

        payload = np.ascontiguousarray(X, dtype="<f4").tobytes()
        out = call_with_bytes(self.instance, "predict", payload, None)
        if not isinstance(out, bytes):
            raise ExecutionFailed(f"predict answered {out!r} instead of JSON.")
        answer = json.loads(out)
        assert isinstance(answer, dict)
        return answer

    def close(self) -> None:
        """Stop the engine's ticker and remove the sandbox directory."""
        self.engine.close()
        self._dir.cleanup()


def run_check(wasm: bytes, name: str, model: LoadedModel, data: CheckData) -> CheckResult:
    """Run the module on ``data`` and compare with the model's predictions."""
    validate(data, model)
    X = data.X
    expected = predicted_indexes(model, X)
    labels = model.labels
    to_index = {label: i for i, label in enumerate(labels)} if labels is not None else None
    runner = ModuleRunner(wasm, name)
    try:
        if runner.call("n_features") != model.n_features:
            raise ExecutionFailed("the module's n_features() differs from the model's.")
        if runner.call("n_classes") != len(model.classes):
            raise ExecutionFailed("the module's n_classes() differs from the model's.")
        answered: list[int] = []
        for start in range(0, len(X), BATCH):
            chunk = X[start : start + BATCH]
            if len(chunk) == 1:
                answered.append(runner.predict(chunk)["class"])
            else:
                answered.extend(runner.predict(chunk)["classes"])
        got = np.array([to_index.get(c, -1) if to_index else c for c in answered])
        diff = None
        proba = getattr(model.estimator, "predict_proba", None)
        singles = min(len(X), SINGLE_CALLS)
        for i in range(singles):
            answer = runner.predict(X[i : i + 1])
            if answer["class"] != answered[i]:
                raise ExecutionFailed(
                    f"sample {i}: one call answers class {answer['class']}, a batch call "
                    f"{answered[i]}; the module is inconsistent."
                )
            if "probabilities" in answer and proba is not None:
                reference = proba(X[i : i + 1])[0]
                gap = float(np.max(np.abs(np.asarray(answer["probabilities"]) - reference)))
                diff = gap if diff is None else max(diff, gap)
    finally:
        runner.close()
    agree = got == expected
    sklearn_correct = wasm_correct = None
    if data.y is not None:
        classes = np.asarray(model.classes, dtype=object)
        truth = np.asarray(data.y, dtype=object)
        sklearn_correct = int(np.sum(classes[expected] == truth))
        wasm_correct = int(np.sum((got >= 0) & (classes[np.maximum(got, 0)] == truth)))
    return CheckResult(
        source=data.source,
        samples=len(X),
        agreed=int(np.sum(agree)),
        sklearn_correct=sklearn_correct,
        wasm_correct=wasm_correct,
        max_probability_diff=diff,
        single_calls=singles,
        disagreements=tuple(int(i) for i in np.flatnonzero(~agree)[:10]),
    )
