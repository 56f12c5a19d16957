"""`wasmfleet ml build` end to end: scikit-learn models -> C -> clang -> Wasm, run in wasmtime.

Needs Debian's wasm32-wasi toolchain (clang lld wasi-libc libclang-rt-dev-wasm32) and the ml
extra (scikit-learn, emlearn, m2cgen, joblib). The built modules are run here with plain
wasmtime-py, independently of the build's own check, and compared with scikit-learn.
"""

from __future__ import annotations

import json
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import wasmtime
from typer.testing import CliRunner

from wasmfleet.cli.main import app
from wasmfleet.ml import build as ml_build
from wasmfleet.ml.check import CheckResult, digits_split
from wasmfleet.ml.compile import DEBIAN_PACKAGES, check_toolchain
from wasmfleet.ml.errors import ToolchainMissing


def toolchain_missing() -> str:
    """Why the toolchain is unusable ('' when it is usable)."""
    try:
        check_toolchain("clang")
    except ToolchainMissing as err:
        return err.message
    return ""


MISSING = toolchain_missing()
pytestmark = [
    pytest.mark.clang,
    pytest.mark.skipif(bool(MISSING), reason=MISSING),
]
AGREEMENT = re.compile(r"agreement with scikit-learn: (\d+)/(\d+) = [\d.]+ %")

Array = np.ndarray[Any, Any]
Arrays = tuple[Array, Array, Array, Array]


@pytest.fixture(scope="module")
def digits() -> Arrays:
    """X_train, X_test (float32), y_train, y_test of the documented digits split."""
    X_train, X_test, y_train, y_test = digits_split()
    return X_train.astype(np.float32), X_test.astype(np.float32), y_train, y_test


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, digits: Arrays) -> dict[str, Any]:
    """Fitted models by name (small, so the suite stays fast)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X_train, _, y_train, _ = digits
    return {
        "rf": RandomForestClassifier(n_estimators=10, max_depth=8, random_state=0).fit(
            X_train, y_train
        ),
        "lr": LogisticRegression(max_iter=2000).fit(X_train, y_train),
    }


def save(model: Any, path: Path) -> Path:
    """Write a model as a pickle (.pkl) or a joblib file (.joblib)."""
    if path.suffix == ".pkl":
        path.write_bytes(pickle.dumps(model))
    else:
        joblib.dump(model, path)
    return path


def ml_build_cli(*args: str | Path) -> Any:
    """Run `wasmfleet ml build ARGS` in-process."""
    return CliRunner().invoke(app, ["ml", "build", *map(str, args)])


def agreement(output: str) -> float:
    """The share the CLI printed on its agreement line."""
    found = AGREEMENT.search(output)
    assert found is not None, output
    return int(found.group(1)) / int(found.group(2))


class Module:
    """A built module in plain wasmtime: WASI, _initialize, the bytes ABI by hand."""

    def __init__(self, wasm: Path) -> None:
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        self.store.set_wasi(wasmtime.WasiConfig())
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        module = wasmtime.Module(engine, wasm.read_bytes())
        assert not [i for i in module.imports if i.module != "wasi_snapshot_preview1"]
        self.exports = linker.instantiate(self.store, module).exports(self.store)
        self.call("_initialize")

    def call(self, name: str, *args: Any) -> Any:
        func = self.exports[name]
        assert isinstance(func, wasmtime.Func)
        return func(self.store, *args)

    def predict_raw(self, payload: bytes) -> int | bytes:
        """predict's output bytes, or its result when that is not an output buffer."""
        memory = self.exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        ptr = self.call("alloc", len(payload)) if payload else 0
        memory.write(self.store, payload, ptr)
        packed = int(self.call("predict", ptr, len(payload)))
        if packed <= 0:
            return packed
        start, length = packed >> 32, packed & 0xFFFFFFFF
        return bytes(memory.read(self.store, start, start + length))

    def predict(self, X: np.ndarray[Any, Any]) -> dict[str, Any]:
        out = self.predict_raw(np.ascontiguousarray(X, dtype="<f4").tobytes())
        assert isinstance(out, bytes), out
        answer = json.loads(out)
        assert isinstance(answer, dict)
        return answer


def built(tmp_path: Path, model_file: Path, *args: str) -> tuple[Any, Path]:
    """Build a model file into tmp_path/out/; the CLI's result and the .wasm path."""
    wasm = tmp_path / "out" / f"{model_file.stem}.wasm"
    result = ml_build_cli(model_file, "-o", wasm, *args)
    return result, wasm


@pytest.mark.parametrize("kind", [".pkl", ".joblib"])
def test_random_forest_goes_through_emlearn_and_agrees(
    tmp_path: Path, models: dict[str, Any], digits: Arrays, kind: str
) -> None:
    rf = models["rf"]
    result, wasm = built(tmp_path, save(rf, tmp_path / f"forest{kind}"), "--digits")
    assert result.exit_code == 0, result.output
    assert "C generated by emlearn" in result.output
    assert agreement(result.output) >= 0.99
    assert re.search(r"accuracy: scikit-learn \d+/360 = [\d.]+ %, Wasm \d+/360", result.output)
    for name in ("forest.wasm", "forest.c", "description.json"):
        assert (wasm.parent / name).is_file(), name
    described = json.loads((wasm.parent / "description.json").read_text())
    assert described["info"]["title"] == "forest"

    _, X_test, _, _ = digits
    module = Module(wasm)
    assert (module.call("n_features"), module.call("n_classes")) == (64, 10)
    sample = X_test[:1]
    answer = module.predict(sample)
    assert answer["class"] == int(rf.predict(sample)[0])
    assert answer["probabilities"] == pytest.approx(list(rf.predict_proba(sample)[0]), abs=0.01)
    batch = module.predict(X_test[:60])
    agreed = np.sum(np.array(batch["classes"]) == rf.predict(X_test[:60]))
    assert agreed >= 59


@pytest.mark.parametrize("kind", [".joblib", ".pkl"])
def test_logistic_regression_goes_through_m2cgen_and_agrees(
    tmp_path: Path, models: dict[str, Any], digits: Arrays, kind: str
) -> None:
    lr = models["lr"]
    result, wasm = built(tmp_path, save(lr, tmp_path / f"linear{kind}"), "--digits")
    assert result.exit_code == 0, result.output
    assert "C generated by m2cgen" in result.output
    assert agreement(result.output) >= 0.99
    _, X_test, _, _ = digits
    module = Module(wasm)
    sample = X_test[5:6]
    answer = module.predict(sample)
    assert answer["class"] == int(lr.predict(sample)[0])
    assert answer["probabilities"] == pytest.approx(list(lr.predict_proba(sample)[0]), abs=1e-4)
    assert module.predict(X_test)["classes"] == [int(c) for c in lr.predict(X_test)]


def test_wrong_input_is_rejected_through_the_bytes_abi(
    tmp_path: Path, models: dict[str, Any], digits: Arrays
) -> None:
    from wasmfleet.core.errors import ExecutionFailed
    from wasmfleet.ml.check import ModuleRunner

    result, wasm = built(tmp_path, save(models["rf"], tmp_path / "forest.joblib"), "--digits")
    assert result.exit_code == 0, result.output
    module = Module(wasm)
    one = digits[1][0].tobytes()
    assert len(one) == 256
    for payload in (b"", one[:-4], one + one[:4], b"\x00" * 3):
        assert module.predict_raw(payload) == -1, len(payload)
    assert module.predict_raw(struct.pack("<f", float("nan")) + one[4:]) == -2
    assert isinstance(module.predict_raw(one), bytes)  # the instance still works
    # ... and the same through wasmfleet's runtime, as a supervisor calls it
    runner = ModuleRunner(wasm.read_bytes(), "forest")
    try:
        with pytest.raises(ExecutionFailed, match=r"rejected its input \(error code -1\)"):
            runner.predict(digits[1][:1, :63])
    finally:
        runner.close()


def test_tiny_feature_values_keep_their_thresholds(tmp_path: Path, digits: Arrays) -> None:
    # emlearn alone writes thresholds with six decimals: at this scale all would be 0.000000
    from sklearn.tree import DecisionTreeClassifier

    X_train, X_test, y_train, y_test = digits
    scale = np.float32(1e-7)
    tree = DecisionTreeClassifier(max_depth=8, random_state=0).fit(X_train * scale, y_train)
    np.savez(tmp_path / "tiny.npz", X=X_test * scale, y=y_test)
    result, _ = built(
        tmp_path, save(tree, tmp_path / "tiny.joblib"), "--check-data", tmp_path / "tiny.npz"
    )
    assert result.exit_code == 0, result.output
    assert agreement(result.output) == 1.0


def test_string_labels_and_an_mlp(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier

    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    X = X.astype(np.float32)
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=2000, random_state=0).fit(X, names)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", names)
    result, wasm = built(
        tmp_path,
        save(mlp, tmp_path / "iris.joblib"),
        *("--check-data", str(tmp_path / "X.npy"), "--check-labels", str(tmp_path / "y.npy")),
    )
    assert result.exit_code == 0, result.output
    assert "C generated by emlearn" in result.output and "accuracy: scikit-learn" in result.output
    assert agreement(result.output) >= 0.99
    facts = json.loads((wasm.parent / "description.json").read_text())["info"]["x-wasmfleet-model"]
    assert facts["class_is_index"] is True and facts["classes"] == [0, 1, 2]
    answer = Module(wasm).predict(X[:1])
    assert mlp.classes_[answer["class"]] == mlp.predict(X[:1])[0]


def write_not_a_model(path: Path) -> Path:
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    return path


def write_kmeans(path: Path) -> Path:
    from sklearn.cluster import KMeans

    return save(KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.eye(4)), path)


def write_svr(path: Path) -> Path:
    from sklearn.svm import SVR

    return save(SVR().fit(np.eye(4), [0.0, 1.0, 2.0, 3.0]), path)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (write_not_a_model, "holds a builtins.dict, not a scikit-learn model"),
        (write_kmeans, "KMeans is not a classifier"),
        (write_svr, "SVR is not a classifier"),
    ],
)
def test_bad_models_exit_2_with_a_sentence(
    tmp_path: Path, write: Callable[[Path], Path], message: str
) -> None:
    result, wasm = built(tmp_path, write(tmp_path / "model.pkl"))
    assert result.exit_code == 2, result.output
    error = result.output.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error and error.endswith(".")
    assert not wasm.parent.exists()


def test_missing_clang_names_the_debian_packages(tmp_path: Path, models: dict[str, Any]) -> None:
    model_file = save(models["lr"], tmp_path / "linear.joblib")
    result, wasm = built(tmp_path, model_file, "--clang", "clang-does-not-exist")
    assert result.exit_code == 2, result.output
    assert DEBIAN_PACKAGES in result.output
    assert not wasm.parent.exists()


def test_low_agreement_exits_1_and_keeps_the_files(
    tmp_path: Path, models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def poor_check(wasm: bytes, name: str, model: Any, data: Any) -> CheckResult:
        return CheckResult(data.source, 360, 350, None, None, None, 0, (3, 9))

    monkeypatch.setattr(ml_build, "run_check", poor_check)
    result, wasm = built(tmp_path, save(models["lr"], tmp_path / "linear.joblib"), "--digits")
    assert result.exit_code == 1, result.output
    assert "agreement with scikit-learn: 350/360 = 97.2 %" in result.output
    assert "only 97.2 % of the answers agree" in result.output
    assert wasm.is_file()
