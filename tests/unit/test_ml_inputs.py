"""wasmfleet ml build's inputs: model files, check data, the compiler flags and the CLI's lines."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from wasmfleet.cli.ml import check_lines, percent
from wasmfleet.ml import compile as ml_compile
from wasmfleet.ml.build import check_name
from wasmfleet.ml.check import CheckResult, digits_check_data, load_check_data
from wasmfleet.ml.errors import InvalidCheckData, NotAModel, ToolchainMissing
from wasmfleet.ml.model import integer_labels, load_model

REPO = Path(__file__).resolve().parents[2]


def build_sh_cflags() -> list[str]:
    """The cflags array of modules/build.sh, one flag per line."""
    text = (REPO / "modules/build.sh").read_text()
    block = re.search(r"^cflags=\(\n(.*?)^\)", text, re.S | re.M)
    assert block is not None
    return [flag for line in block.group(1).splitlines() for flag in line.split()]


def test_compile_flags_are_build_sh_flags_without_its_include_dir() -> None:
    flags = build_sh_cflags()
    include = flags.index("-I")
    assert flags[include + 1] == '"$here/include"'
    assert tuple(flags[:include] + flags[include + 2 :]) == ml_compile.CFLAGS


def test_debian_packages_are_build_sh_ones() -> None:
    text = (REPO / "modules/build.sh").read_text()
    assert f'debian_packages="{ml_compile.DEBIAN_PACKAGES}"' in text


def test_missing_clang_names_the_debian_packages() -> None:
    with pytest.raises(ToolchainMissing) as info:
        ml_compile.check_toolchain("clang-that-does-not-exist")
    assert "apt-get install clang lld wasi-libc libclang-rt-dev-wasm32" in info.value.message


def test_integer_labels() -> None:
    assert integer_labels([np.int64(3), 7]) == (3, 7)
    assert integer_labels(["a", "b"]) is None
    assert integer_labels([True, False]) is None
    assert integer_labels([1.0, 2.0]) is None


def test_a_pickle_of_something_else_is_not_a_model(tmp_path: Path) -> None:
    path = tmp_path / "list.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(NotAModel, match=r"holds a builtins\.list, not a scikit-learn model"):
        load_model(path)


def test_a_file_that_is_no_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_text("not a pickle")
    with pytest.raises(NotAModel, match="not a pickle or joblib file"):
        load_model(path)
    with pytest.raises(NotAModel, match="no such file"):
        load_model(tmp_path / "missing.pkl")


def test_an_unfitted_model_is_refused(tmp_path: Path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    path = tmp_path / "tree.pkl"
    path.write_bytes(pickle.dumps(DecisionTreeClassifier()))
    with pytest.raises(NotAModel, match="is not fitted"):
        load_model(path)


def test_check_data_npz_and_npy(tmp_path: Path) -> None:
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 0, 1])
    np.savez(tmp_path / "data.npz", X=X, y=y)
    data = load_check_data(tmp_path / "data.npz")
    assert data.X.dtype == np.float32 and data.X.shape == (4, 3)
    assert data.y is not None and list(data.y) == [0, 1, 0, 1]
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    data = load_check_data(tmp_path / "X.npy", tmp_path / "y.npy")
    assert data.X.shape == (4, 3) and data.y is not None
    assert load_check_data(tmp_path / "X.npy").y is None


def test_check_data_errors_say_what_is_expected(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", features=np.zeros((2, 2)))
    with pytest.raises(InvalidCheckData, match=r"expected X .*numpy\.savez"):
        load_check_data(tmp_path / "bad.npz")
    (tmp_path / "junk.npy").write_text("junk")
    with pytest.raises(InvalidCheckData, match="not a NumPy"):
        load_check_data(tmp_path / "junk.npy")
    np.save(tmp_path / "words.npy", np.array(["a", "b"]))
    with pytest.raises(InvalidCheckData, match="not numbers"):
        load_check_data(tmp_path / "words.npy")
    np.savez(tmp_path / "ok.npz", X=np.zeros((2, 2)))
    with pytest.raises(InvalidCheckData, match=r"--check-labels goes with an \.npy"):
        load_check_data(tmp_path / "ok.npz", tmp_path / "y.npy")


def test_digits_split_is_the_documented_one() -> None:
    data = digits_check_data()
    assert data.X.shape == (360, 64) and data.X.dtype == np.float32
    assert data.y is not None and np.bincount(data.y).min() >= 35  # stratified


@pytest.mark.parametrize("name", ["digits_rf", "m", "face-2"])
def test_module_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "2fast", "a b", "x/y", "a" * 65])
def test_bad_module_names(name: str) -> None:
    with pytest.raises(ValueError, match="cannot name a module"):
        check_name(name)


def test_percent_never_rounds_a_shortfall_up_to_100() -> None:
    assert percent(359, 360) == "99.7 %"
    assert percent(9999, 10000) == "99.9 %"
    assert percent(360, 360) == "100.0 %"
    assert percent(0, 0) == "0.0 %"


def test_check_lines() -> None:
    result = CheckResult(
        source="the digits held-out split (360 samples)",
        samples=360,
        agreed=359,
        sklearn_correct=343,
        wasm_correct=342,
        max_probability_diff=0.0031,
        single_calls=360,
        disagreements=(17,),
    )
    lines = check_lines(result)
    assert "agreement with scikit-learn: 359/360 = 99.7 %" in lines
    assert "accuracy: scikit-learn 343/360 = 95.3 %, Wasm 342/360 = 95.0 %" in lines
    assert "largest probability difference: 0.0031 (first 360 samples)" in lines
    assert "samples answered differently: 17" in lines
