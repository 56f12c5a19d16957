"""Train the digits_rf model and build it into this directory with `wasmfleet ml build`.

    .venv/bin/python modules/digits_rf/train.py

A RandomForestClassifier (30 trees, max_depth 6, random_state 0) on scikit-learn's bundled
digits (8x8 images, 64 features of 0..16, 10 classes), trained on the split
train_test_split(X, y, test_size=0.2, random_state=0, stratify=y) and checked on its 360
held-out samples. Rewrites digits_rf.c, digits_rf.wasm and description.json; the same
scikit-learn, emlearn and clang versions give the same files.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import joblib
from sklearn.ensemble import RandomForestClassifier

from wasmfleet.cli.ml import CliProgress, check_lines
from wasmfleet.ml.build import BuildOptions, build
from wasmfleet.ml.check import digits_check_data, digits_split

HERE = Path(__file__).resolve().parent
NAME = "digits_rf"
PARAMS = {"n_estimators": 30, "max_depth": 6, "random_state": 0}


def main() -> int:
    """Train, dump to a temporary joblib file, build and check; 1 if the check fails."""
    X_train, _, y_train, _ = digits_split()
    model = RandomForestClassifier(**PARAMS).fit(X_train, y_train)
    print(f"trained RandomForestClassifier({PARAMS}) on {len(X_train)} digits")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{NAME}.joblib"
        joblib.dump(model, path)
        result = build(
            BuildOptions(
                model_path=path,
                name=NAME,
                wasm_path=HERE / f"{NAME}.wasm",
                check=digits_check_data(),
                rebuild=f".venv/bin/python modules/{NAME}/train.py",
            ),
            CliProgress(),
        )
    for line in check_lines(result.check):
        print(line)
    print(f"{NAME}.wasm: {result.wasm_size} bytes")
    return 0 if result.check.agreement >= 0.99 else 1


if __name__ == "__main__":
    sys.exit(main())
