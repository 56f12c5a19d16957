"""The C text of a model module: generated model code wrapped in the wasmfleet bytes ABI.

Pure: strings and numbers in, C text out. A generator (``generators.py``) supplies the
model's code and the body of ``wf_classify(const float *x, float *proba)``, which returns
a class index and, for models with probabilities, fills ``proba``; this module adds the
exports ``alloc``, ``predict``, ``n_features`` and ``n_classes`` and the JSON writer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

MODEL_PREFIX = "wf_model"
"""Prefix of every C name the generated model code defines (``wf_model_predict_proba``...)."""
M2CGEN_FUNCTION = "wf_model_score"

ERROR_LENGTH = -1
"""predict's result when the input is not a whole number of samples."""
ERROR_NOT_FINITE = -2
"""predict's result when a feature is NaN or infinite (scikit-learn refuses those too)."""
ERROR_MEMORY = -3
"""predict's result when the output buffer cannot be allocated."""


@dataclass(frozen=True, slots=True)
class ModelCode:
    """A model's C code from a generator, and how the ABI wrapper classifies with it."""

    generator: str
    """Name and version of the generator, e.g. ``emlearn 0.23.2``."""
    estimator: str
    """The scikit-learn class name, e.g. ``RandomForestClassifier``."""
    n_features: int
    n_classes: int
    labels: tuple[int, ...] | None
    """The class labels when they are integers (``predict`` answers them), else None
    (``predict`` answers the index into ``classes_``)."""
    code: str
    """C that defines what ``classify`` calls; every name starts with ``wf_model``."""
    classify: str
    """C body of ``static int32_t wf_classify(const float *x, float *proba)``."""
    probabilities: bool
    """True when ``classify`` fills ``proba`` (the output then has ``probabilities``)."""
    notice: str = ""
    """A license notice to keep at the top of the file (C comment text, no delimiters)."""


def c_float(value: float) -> str:
    """The shortest C float literal that reads back as ``value`` rounded to float32."""
    with np.errstate(over="ignore"):
        single = np.float32(value)
    if not math.isfinite(float(single)):
        raise ValueError(f"{value!r} does not fit a finite float32")
    text = str(single)
    if "." not in text and "e" not in text:
        text += ".0"
    return text + "f"


def float32_below(threshold: float) -> float:
    """The float32 ``v`` such that ``x < v`` exactly when ``x <= threshold``, for float32 x.

    scikit-learn sends a sample left when ``x <= threshold`` (float32 features, a double
    threshold); emlearn's trees test ``x < v`` in float32. With ``v`` the next float32 above
    the largest float32 not over the threshold, both take the same branch for every input.
    """
    below = np.float32(threshold)
    if float(below) > threshold:
        below = np.nextafter(below, np.float32(-np.inf))
    return float(np.nextafter(below, np.float32(np.inf)))


def inline_headers(headers: list[tuple[str, str]]) -> str:
    """Concatenate C headers into one block, dropping their includes of each other."""
    local = {name for name, _ in headers}
    parts = []
    for name, text in headers:
        kept = [
            line
            for line in text.splitlines()
            if not (
                (m := re.match(r"\s*#\s*include\s*[<\"]([^>\"]+)[>\"]", line))
                and m.group(1) in local
            )
        ]
        parts.append(f"/* ---- {name} ---- */\n" + "\n".join(kept).strip() + "\n")
    return "\n".join(parts)


def classify_by_proba(call: str) -> str:
    """``wf_classify`` for code that fills class probabilities: the argmax, first on ties."""
    return f"    {call};\n    return wf_argmax(proba, WF_N_CLASSES);\n"


def m2cgen_signature(code: str, function: str = M2CGEN_FUNCTION) -> str:
    """'scalar' when m2cgen wrote ``double f(double *input)``, 'vector' for
    ``void f(double *input, double *output)``."""
    if re.search(rf"\bdouble\s+{function}\s*\(\s*double\s*\*\s*input\s*\)", code):
        return "scalar"
    if re.search(rf"\bvoid\s+{function}\s*\(\s*double\s*\*\s*input\s*,", code):
        return "vector"
    raise ValueError(f"cannot find {function}() in m2cgen's output")


def m2cgen_classify(kind: str, signature: str, n_classes: int, *, logistic: bool) -> str:
    """``wf_classify`` over m2cgen's ``wf_model_score``.

    ``kind``: 'decision' (linear models: one score per class, or one for two classes,
    positive meaning the second), 'ovo' (SVMs: one-vs-one decisions, positive meaning the
    first class of the pair; the most votes wins) or 'proba' (trees: probabilities).
    ``logistic`` adds probabilities as LogisticRegression computes them (softmax, or the
    logistic function for two classes).
    """
    lines = [
        "    static double in[WF_N_FEATURES];",
        "    for (int32_t i = 0; i < WF_N_FEATURES; i++) {",
        "        in[i] = (double)x[i];",
        "    }",
    ]
    if signature == "scalar":
        if kind == "proba":
            raise ValueError("m2cgen wrote a single score for a model that gives probabilities")
        lines.append(f"    const double score = {M2CGEN_FUNCTION}(in);")
        if logistic:
            lines += [
                "    const double p1 = 1.0 / (1.0 + exp(-score));",
                "    proba[0] = (float)(1.0 - p1);",
                "    proba[1] = (float)p1;",
            ]
        else:
            lines.append("    (void)proba;")
        lines.append("    return score > 0.0 ? 1 : 0;")
        return "\n".join(lines) + "\n"
    if kind == "ovo":
        pairs = n_classes * (n_classes - 1) // 2
        lines += [
            f"    double out[{pairs}];",
            f"    {M2CGEN_FUNCTION}(in, out);",
            "    int32_t votes[WF_N_CLASSES] = {0};",
            "    int32_t k = 0;",
            "    for (int32_t i = 0; i < WF_N_CLASSES; i++) {",
            "        for (int32_t j = i + 1; j < WF_N_CLASSES; j++, k++) {",
            "            votes[out[k] > 0.0 ? i : j] += 1;",
            "        }",
            "    }",
            "    (void)proba;",
            "    int32_t best = 0;",
            "    for (int32_t i = 1; i < WF_N_CLASSES; i++) {",
            "        if (votes[i] > votes[best]) {",
            "            best = i;",
            "        }",
            "    }",
            "    return best;",
        ]
        return "\n".join(lines) + "\n"
    lines += ["    double out[WF_N_CLASSES];", f"    {M2CGEN_FUNCTION}(in, out);"]
    if kind == "proba":
        lines += [
            "    for (int32_t i = 0; i < WF_N_CLASSES; i++) {",
            "        proba[i] = (float)out[i];",
            "    }",
        ]
    elif logistic:
        lines += [
            "    double top = out[0], sum = 0.0;",
            "    for (int32_t i = 1; i < WF_N_CLASSES; i++) {",
            "        top = out[i] > top ? out[i] : top;",
            "    }",
            "    for (int32_t i = 0; i < WF_N_CLASSES; i++) {",
            "        sum += exp(out[i] - top);",
            "    }",
            "    for (int32_t i = 0; i < WF_N_CLASSES; i++) {",
            "        proba[i] = (float)(exp(out[i] - top) / sum);",
            "    }",
        ]
    else:
        lines.append("    (void)proba;")
    lines += [
        "    int32_t best = 0;",
        "    for (int32_t i = 1; i < WF_N_CLASSES; i++) {",
        "        if (out[i] > out[best]) {",
        "            best = i;",
        "        }",
        "    }",
        "    return best;",
    ]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    """Text as the lines of a C block comment."""
    return "\n".join(f" * {line}".rstrip() for line in text.strip().splitlines())


def module_source(name: str, model: ModelCode, rebuild: str) -> str:
    """The complete C file of module ``name``: header comment, model code, ABI wrapper.

    ``rebuild`` is the command that regenerates the file (recorded in its header).
    """
    if model.n_features < 1 or model.n_classes < 2:
        raise ValueError("a classifier needs at least one feature and two classes")
    if model.labels is not None and len(model.labels) != model.n_classes:
        raise ValueError("one label per class")
    if model.labels is None:
        labels_text = "classes answered as indexes into the model's classes_"
        label_table = "#define WF_LABEL(index) ((int64_t)(index))"
    else:
        shown = ", ".join(str(label) for label in model.labels)
        labels_text = f"labels {shown}" if len(shown) < 60 else "integer labels"
        label_table = (
            "static const int64_t wf_labels[WF_N_CLASSES] = {"
            + ", ".join(f"INT64_C({label})" for label in model.labels)
            + "};\n#define WF_LABEL(index) (wf_labels[(index)])"
        )
    single = '{"class": C, "probabilities": [P1, ...]}' if model.probabilities else '{"class": C}'
    header = f"""\
{name}: a scikit-learn {model.estimator} compiled into WebAssembly by `wasmfleet ml build`.
Model code by {model.generator}; {model.n_features} float32 features, {model.n_classes} classes \
({labels_text}).

wasmfleet bytes ABI (docs/ml.md):
  predict(ptr, len) -> i64   the input is little-endian float32 features:
                             n_features of them: {single}
                             k * n_features (k > 1): {{"classes": [C1, ..., Ck]}}
                             other lengths: error code {ERROR_LENGTH}
                             NaN or infinite features: {ERROR_NOT_FINITE}; no memory: {ERROR_MEMORY}
  n_features() -> i32        features per sample ({model.n_features})
  n_classes() -> i32         number of classes ({model.n_classes})
  alloc(i32 len) -> i32      a buffer for the input (predict frees it)

Generated file, do not edit. Rebuild: {rebuild}"""
    notice = f"/*\n{_comment(model.notice)}\n */\n\n" if model.notice else ""
    return f"""\
/*
{_comment(header)}
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WF_N_FEATURES {model.n_features}
#define WF_N_CLASSES {model.n_classes}
#define WF_EXPORT(name) __attribute__((export_name(name)))

{notice}/* ---- model code ({model.generator}) ---- */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wunused-parameter"
#pragma clang diagnostic ignored "-Wunused-function"
#pragma clang diagnostic ignored "-Wunused-variable"
#pragma clang diagnostic ignored "-Wunused-const-variable"
#pragma clang diagnostic ignored "-Wsign-compare"
#pragma clang diagnostic ignored "-Wmissing-field-initializers"

{model.code.strip()}

#pragma clang diagnostic pop

/* ---- wasmfleet bytes ABI ---- */

{label_table}

__attribute__((unused)) static int32_t wf_argmax(const float *values, int32_t n) {{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++) {{
        if (values[i] > values[best]) {{
            best = i;
        }}
    }}
    return best;
}}

/* The class index of one sample; fills proba when the model gives probabilities. */
static int32_t wf_classify(const float *x, float *proba) {{
{model.classify.rstrip()}
}}

static char *wf_put_text(char *p, const char *text) {{
    while (*text) {{
        *p++ = *text++;
    }}
    return p;
}}

static char *wf_put_int(char *p, int64_t value) {{
    char digits[20];
    int n = 0;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    if (value < 0) {{
        *p++ = '-';
    }}
    do {{
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    }} while (magnitude);
    while (n) {{
        *p++ = digits[--n];
    }}
    return p;
}}

/* A probability with six decimals, trailing zeros dropped: 0.25, 1, 0. */
static char *wf_put_probability(char *p, float value) {{
    if (!(value > 0.0f)) {{
        value = 0.0f; /* and NaN */
    }}
    uint32_t micro = (uint32_t)((double)value * 1e6 + 0.5);
    if (micro >= 1000000u) {{
        *p++ = '1';
        return p;
    }}
    *p++ = '0';
    if (micro == 0) {{
        return p;
    }}
    char digits[6];
    for (int i = 5; i >= 0; i--) {{
        digits[i] = (char)('0' + micro % 10);
        micro /= 10;
    }}
    int n = 6;
    while (digits[n - 1] == '0') {{
        n--;
    }}
    *p++ = '.';
    memcpy(p, digits, (size_t)n);
    return p + n;
}}

static float wf_x[WF_N_FEATURES];
static float wf_proba[WF_N_CLASSES];
static char *wf_output = NULL; /* the last answer, freed at the next call */

WF_EXPORT("alloc")
int32_t alloc(int32_t len) {{
    return (int32_t)(uintptr_t)malloc((size_t)(len > 0 ? len : 1));
}}

WF_EXPORT("predict")
int64_t predict(int32_t ptr, int32_t len) {{
    uint8_t *input = (uint8_t *)(uintptr_t)(uint32_t)ptr;
    const size_t sample = sizeof(float) * WF_N_FEATURES;
    free(wf_output);
    wf_output = NULL;
    if (len <= 0 || (size_t)len % sample != 0) {{
        free(input);
        return {ERROR_LENGTH};
    }}
    for (size_t i = 0; i < (size_t)len / sizeof(float); i++) {{
        float value;
        memcpy(&value, input + i * sizeof(float), sizeof(float));
        if (!isfinite(value)) {{
            free(input);
            return {ERROR_NOT_FINITE};
        }}
    }}
    const size_t k = (size_t)len / sample;
    char *out = malloc(k == 1 ? 64 + 12 * (size_t)WF_N_CLASSES : 16 + 22 * k);
    if (out == NULL) {{
        free(input);
        return {ERROR_MEMORY};
    }}
    char *p = out;
    if (k == 1) {{
        memcpy(wf_x, input, sample);
        const int32_t index = wf_classify(wf_x, wf_proba);
        p = wf_put_text(p, "{{\\"class\\":");
        p = wf_put_int(p, WF_LABEL(index));
{_probabilities_json() if model.probabilities else ""}        *p++ = '}}';
    }} else {{
        p = wf_put_text(p, "{{\\"classes\\":[");
        for (size_t j = 0; j < k; j++) {{
            memcpy(wf_x, input + j * sample, sample);
            if (j > 0) {{
                *p++ = ',';
            }}
            p = wf_put_int(p, WF_LABEL(wf_classify(wf_x, wf_proba)));
        }}
        p = wf_put_text(p, "]}}");
    }}
    free(input);
    wf_output = out;
    return (int64_t)(((uint64_t)(uintptr_t)out << 32) | (uint64_t)(p - out));
}}

WF_EXPORT("n_features")
int32_t n_features(void) {{
    return WF_N_FEATURES;
}}

WF_EXPORT("n_classes")
int32_t n_classes(void) {{
    return WF_N_CLASSES;
}}
"""


def _probabilities_json() -> str:
    return """\
        p = wf_put_text(p, ",\\"probabilities\\":[");
        for (int32_t i = 0; i < WF_N_CLASSES; i++) {
            if (i > 0) {
                *p++ = ',';
            }
            p = wf_put_probability(p, wf_proba[i]);
        }
        *p++ = ']';
"""
