"""wasmfleet.ml.codegen: exact float literals and thresholds, m2cgen glue, the ABI wrapper's C."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmfleet.ml.codegen import (
    ERROR_LENGTH,
    ERROR_MEMORY,
    ERROR_NOT_FINITE,
    ModelCode,
    c_float,
    float32_below,
    inline_headers,
    m2cgen_classify,
    m2cgen_signature,
    module_source,
)


def literal_value(literal: str) -> np.float32:
    """What a C compiler makes of a float literal (decimal rounded to float32)."""
    assert literal.endswith("f")
    return np.float32(float(literal[:-1]))


@pytest.mark.parametrize(
    ("value", "literal"),
    [(3.0, "3.0f"), (2.6, "2.6f"), (0.5, "0.5f"), (1e-5, "1e-05f"), (-7.25, "-7.25f")],
)
def test_c_float_is_short_and_valid_c(value: float, literal: str) -> None:
    assert c_float(value) == literal


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_c_float_round_trips_every_float32(value: float) -> None:
    literal = c_float(value)
    assert "." in literal or "e" in literal  # never a bare integer before the f suffix
    assert literal_value(literal) == np.float32(value)


def test_c_float_keeps_precision_emlearn_would_lose() -> None:
    # emlearn's own constants have six decimals: 1.5e-7 would become 0.000000f
    assert literal_value(c_float(1.5e-7)) == np.float32(1.5e-7)


def test_c_float_refuses_what_float32_cannot_hold() -> None:
    for value in (float("nan"), float("inf"), 1e300):
        with pytest.raises(ValueError):
            c_float(value)


def neighbours(x: np.float32, steps: int = 3) -> list[np.float32]:
    """x and the float32 values a few ulps on either side."""
    found = [x]
    up = down = x
    for _ in range(steps):
        up = np.nextafter(up, np.float32(np.inf))
        down = np.nextafter(down, np.float32(-np.inf))
        found += [up, down]
    return found


@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False))
def test_float32_below_branches_like_scikit_learn(threshold: float) -> None:
    v = np.float32(float32_below(threshold))
    for x in neighbours(np.float32(threshold)):
        # emlearn: x < v (float32); scikit-learn: x <= threshold (float32 x, double threshold)
        assert bool(x < v) == bool(float(x) <= threshold), (x, v, threshold)


def test_float32_below_on_a_midpoint_between_pixels() -> None:
    # digits thresholds lie halfway between integers: every pixel value branches the same way
    v = np.float32(float32_below(3.5))
    assert [bool(np.float32(p) < v) for p in range(7)] == [p <= 3.5 for p in range(7)]
    assert np.float32(3.5) < v  # a pixel exactly at a float32 threshold goes left, as in sklearn


def test_inline_headers_drops_includes_of_each_other_only() -> None:
    headers = [
        ("a.h", "#include <stdint.h>\n#define A 1\n"),
        ("b.h", '#include "a.h"\n#include <a.h>\n#include <math.h>\nint b(void);\n'),
    ]
    text = inline_headers(headers)
    assert "#include <stdint.h>" in text and "#include <math.h>" in text
    assert '"a.h"' not in text and "<a.h>" not in text
    assert text.index("#define A 1") < text.index("int b(void);")


def test_m2cgen_signature() -> None:
    assert m2cgen_signature("double wf_model_score(double * input) {\n") == "scalar"
    assert m2cgen_signature("void wf_model_score(double * input, double * output) {") == "vector"
    with pytest.raises(ValueError):
        m2cgen_signature("void score(double * input, double * output) {")


def test_m2cgen_classify_counts_one_vs_one_votes() -> None:
    body = m2cgen_classify("ovo", "vector", 4, logistic=False)
    assert "double out[6];" in body  # 4 classes: 6 pairs
    assert "votes[out[k] > 0.0 ? i : j] += 1;" in body


def test_m2cgen_classify_logistic_probabilities() -> None:
    binary = m2cgen_classify("decision", "scalar", 2, logistic=True)
    assert "1.0 / (1.0 + exp(-score))" in binary and "return score > 0.0 ? 1 : 0;" in binary
    multi = m2cgen_classify("decision", "vector", 3, logistic=True)
    assert "exp(out[i] - top) / sum" in multi
    plain = m2cgen_classify("decision", "vector", 3, logistic=False)
    assert "exp(" not in plain and "(void)proba;" in plain
    with pytest.raises(ValueError):
        m2cgen_classify("proba", "scalar", 2, logistic=False)


def model(**changes: object) -> ModelCode:
    fields: dict[str, object] = {
        "generator": "test 1.0",
        "estimator": "TestClassifier",
        "n_features": 4,
        "n_classes": 3,
        "labels": (10, -20, 30),
        "code": "static int wf_model_dummy;",
        "classify": "    proba[0] = 1.0f;\n    return 0;\n",
        "probabilities": True,
    }
    fields.update(changes)
    return ModelCode(**fields)  # type: ignore[arg-type]


def test_module_source_exports_the_abi() -> None:
    source = module_source("m", model(), "wasmfleet ml build m.joblib")
    for export in ("alloc", "predict", "n_features", "n_classes"):
        assert f'WF_EXPORT("{export}")' in source
    assert "#define WF_N_FEATURES 4" in source and "#define WF_N_CLASSES 3" in source
    assert "INT64_C(10), INT64_C(-20), INT64_C(30)" in source
    assert '\\"probabilities\\"' in source
    assert f"return {ERROR_LENGTH};" in source
    assert f"return {ERROR_NOT_FINITE};" in source and f"return {ERROR_MEMORY};" in source
    assert "Rebuild: wasmfleet ml build m.joblib" in source
    assert "static int wf_model_dummy;" in source


def test_module_source_without_probabilities_or_integer_labels() -> None:
    source = module_source("m", model(labels=None, probabilities=False), "x")
    assert '\\"probabilities\\"' not in source and '\\"class\\"' in source
    assert "#define WF_LABEL(index) ((int64_t)(index))" in source


def test_module_source_keeps_a_license_notice_on_top() -> None:
    source = module_source("m", model(notice="MIT License\n\nCopyright X"), "x")
    assert source.index("MIT License") < source.index("---- model code")


@pytest.mark.parametrize(
    "changes", [{"n_classes": 1, "labels": (1,)}, {"n_features": 0}, {"labels": (1, 2)}]
)
def test_module_source_refuses_a_model_it_cannot_wrap(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        module_source("m", model(**changes), "x")
