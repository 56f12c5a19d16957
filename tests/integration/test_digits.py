"""modules/digits in the wasmfleet runtime (real wasmtime) on the held-out split of load_digits.

The reference is a float32 numpy forward pass over ``modules/digits/digits_weights.npz``, the
arrays ``train.py`` also wrote into ``digits_weights.h`` (checked here to be the same numbers).
"""

from __future__ import annotations

import importlib.util
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from wasmfleet.core.errors import ExecutionFailed
from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

pytest.importorskip("sklearn", reason="the held-out split needs scikit-learn (pip install .[ml])")

DIGITS = Path(__file__).resolve().parents[2] / "modules" / "digits"


def load_train() -> ModuleType:
    """modules/digits/train.py as a module (its split() and forward())."""
    spec = importlib.util.spec_from_file_location("digits_train", DIGITS / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRAIN = load_train()
_, X_TEST, _, Y_TEST = TRAIN.split()
SAMPLES = np.ascontiguousarray(X_TEST, dtype="<f4")  # (360, 64) pixels 0..16
WEIGHTS = dict(np.load(DIGITS / "digits_weights.npz"))


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=5.0, memory_limit_bytes=64 * MiB))
    yield eng
    eng.close()


@pytest.fixture
def digits(engine: WasmEngine, tmp_path: Path) -> WasmInstance:
    compiled = engine.compile((DIGITS / "digits.wasm").read_bytes())
    return WasmInstance(
        engine, compiled, tmp_path, HostDevices(None, None), deployment="d", module="digits"
    )


def predict(digits: WasmInstance, payload: bytes) -> Any:
    """predict through the bytes ABI, as a triggered call would run it; the parsed JSON."""
    out = call_with_bytes(digits, "predict", payload, None)
    assert out is not None
    return json.loads(out)


def test_the_split_is_the_shared_one() -> None:
    assert SAMPLES.shape == (360, 64) and len(Y_TEST) == 360
    assert np.bincount(Y_TEST).tolist() == [36, 36, 35, 37, 36, 37, 36, 36, 35, 36]
    assert Y_TEST[:10].tolist() == [7, 6, 3, 7, 7, 3, 2, 8, 9, 3]


def test_header_and_npz_hold_the_same_weights() -> None:
    text = (DIGITS / "digits_weights.h").read_text(encoding="utf-8")
    for name, array in WEIGHTS.items():
        match = re.search(rf"DIGITS_{name.upper()}\[(\d+)\] = \{{(.*?)\}};", text, re.S)
        assert match is not None, name
        values = [float(v.rstrip("f")) for v in match.group(2).split(",") if v.strip()]
        assert int(match.group(1)) == array.size == len(values)
        assert np.array_equal(np.asarray(values, dtype=np.float32), array.ravel()), name


def test_held_out_accuracy_in_wasm(digits: WasmInstance) -> None:
    classes = predict(digits, SAMPLES.tobytes())["classes"]
    assert len(classes) == 360
    accuracy = float(np.mean(np.asarray(classes) == Y_TEST))
    assert accuracy >= 0.97, accuracy
    # the same classes as the float32 reference
    assert classes == TRAIN.forward(WEIGHTS, SAMPLES).argmax(axis=1).tolist()


@pytest.mark.parametrize("index", [0, 1, 7, 100, 359])
def test_single_sample_matches_numpy(digits: WasmInstance, index: int) -> None:
    answer = predict(digits, SAMPLES[index].tobytes())
    assert set(answer) == {"class", "probabilities"}
    expected = TRAIN.forward(WEIGHTS, SAMPLES[index : index + 1])[0]
    assert answer["class"] == int(expected.argmax())
    assert len(answer["probabilities"]) == 10
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-4, atol=1e-7)
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_batch_json_and_raw_batch_agree(digits: WasmInstance) -> None:
    assert predict(digits, SAMPLES[:2].tobytes()) == {
        "classes": TRAIN.forward(WEIGHTS, SAMPLES[:2]).argmax(axis=1).tolist()
    }
    n = len(SAMPLES)
    in_ptr = digits.call("alloc", (SAMPLES.nbytes,))
    out_ptr = digits.call("alloc", (n,))
    digits.write_memory(in_ptr, SAMPLES.tobytes())
    assert digits.call("predict_batch_into", (in_ptr, n, out_ptr)) == n
    raw = list(digits.read_memory(out_ptr, n))
    assert raw == predict(digits, SAMPLES.tobytes())["classes"]
    assert digits.call("predict_batch_into", (in_ptr + 1, n, out_ptr)) == -1  # unaligned
    assert digits.call("predict_batch_into", (in_ptr, -1, out_ptr)) == -1
    assert digits.call("predict_batch_into", (in_ptr, 0, out_ptr)) == 0


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", -1),
        (bytes(4), -1),
        (bytes(255), -1),
        (bytes(257), -1),
        (bytes(256 * 3 - 4), -1),
        (struct.pack("<64f", *([0.0] * 63 + [float("nan")])), -2),
        (bytes(256) + struct.pack("<64f", *([float("inf")] + [0.0] * 63)), -2),
    ],
)
def test_bad_input_is_rejected(digits: WasmInstance, payload: bytes, code: int) -> None:
    with pytest.raises(ExecutionFailed) as info:
        call_with_bytes(digits, "predict", payload, None)
    assert info.value.code == "rejected" and f"error code {code})" in info.value.message
    assert predict(digits, SAMPLES[0].tobytes())["class"] == Y_TEST[0]  # still works


def test_sizes_and_no_leak_over_many_calls(digits: WasmInstance) -> None:
    assert digits.call("n_features", ()) == 64
    assert digits.call("n_classes", ()) == 10
    predict(digits, SAMPLES.tobytes())
    before = digits.memory_bytes()
    for i in range(500):  # every input buffer is freed by predict
        predict(digits, SAMPLES[i % 360].tobytes() if i % 2 else SAMPLES[:50].tobytes())
    assert digits.memory_bytes() == before
