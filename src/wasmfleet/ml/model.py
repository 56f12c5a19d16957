"""Loading a scikit-learn model from a pickle or joblib file, and what it looks like.

Unpickling runs code from the file: build only models you trust.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wasmfleet.ml.errors import NotAModel, UnsupportedModel, missing


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A fitted classifier and the facts the build needs about it."""

    estimator: Any
    path: Path
    kind: str
    """The class name, e.g. ``RandomForestClassifier``."""
    is_classifier: bool
    n_features: int
    classes: tuple[Any, ...]
    warnings: tuple[str, ...] = ()
    """What scikit-learn warned about while loading (e.g. another scikit-learn version)."""

    @property
    def labels(self) -> tuple[int, ...] | None:
        """The class labels as ints when they all are integers, else None."""
        return integer_labels(self.classes)


def integer_labels(classes: tuple[Any, ...] | list[Any]) -> tuple[int, ...] | None:
    """Integer class labels as Python ints (None when any label is not an integer)."""
    found = []
    for label in classes:
        if isinstance(label, bool | np.bool_) or not isinstance(label, int | np.integer):
            return None
        if not -(2**63) <= int(label) < 2**63:
            return None
        found.append(int(label))
    return tuple(found)


def read_model_file(path: Path) -> tuple[Any, tuple[str, ...]]:
    """The object in a pickle or joblib file, and the warnings loading it raised."""
    try:
        import joblib
        import sklearn  # noqa: F401  (unpickling a model needs it)
    except ImportError as err:
        raise missing(err.name or "joblib") from None
    if not path.is_file():
        raise NotAModel(f"{path}: no such file.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            obj = joblib.load(path)
        except ModuleNotFoundError as err:
            raise NotAModel(
                f"{path} needs the Python module {err.name!r} to load; install it "
                "(the model was saved with a library that is missing here)."
            ) from None
        except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as err:
            raise NotAModel(
                f"{path} is not a pickle or joblib file ({type(err).__name__}: {err}); "
                "save the model with joblib.dump(model, FILE) or pickle.dump."
            ) from None
        except Exception as err:  # unpickling can raise anything the file's code raises
            raise NotAModel(
                f"{path} could not be loaded ({type(err).__name__}: {err}); save the model "
                "with joblib.dump(model, FILE) using the same scikit-learn version as here."
            ) from None
    seen = tuple(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))
    return obj, seen


def inspect_model(obj: Any, path: Path, loaded_warnings: tuple[str, ...] = ()) -> LoadedModel:
    """Check that ``obj`` is a fitted scikit-learn classifier and describe it."""
    from sklearn.base import BaseEstimator, is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    kind = type(obj).__name__
    if not isinstance(obj, BaseEstimator):
        raise NotAModel(
            f"{path} holds a {type(obj).__module__}.{kind}, not a scikit-learn model; "
            "pass a file written with joblib.dump(model, FILE) for a fitted estimator."
        )
    try:
        check_is_fitted(obj)
    except NotFittedError:
        raise NotAModel(
            f"the {kind} in {path} is not fitted; call fit() before saving it."
        ) from None
    classifier = bool(is_classifier(obj))
    n_features = getattr(obj, "n_features_in_", None)
    classes = getattr(obj, "classes_", None)
    if classifier:
        multi = classes is None or isinstance(classes, list) or np.ndim(classes) != 1
        if kind != "MLPClassifier" and getattr(obj, "n_outputs_", 1) != 1:
            multi = True  # (an MLP's n_outputs_ counts its output units)
        binarizer = getattr(obj, "_label_binarizer", None)
        if getattr(binarizer, "y_type_", "") == "multilabel-indicator":
            multi = True
        if multi:
            raise UnsupportedModel(
                f"the {kind} in {path} predicts several outputs at once; "
                "`wasmfleet ml build` compiles single-output classifiers."
            )
        if n_features is None:
            raise NotAModel(f"the {kind} in {path} does not say how many features it takes.")
    return LoadedModel(
        estimator=obj,
        path=path,
        kind=kind,
        is_classifier=classifier,
        n_features=int(n_features or 0),
        classes=tuple(classes) if classes is not None else (),
        warnings=loaded_warnings,
    )


def load_model(path: Path) -> LoadedModel:
    """Load and inspect the model in ``path`` (pickle or joblib)."""
    obj, seen = read_model_file(path)
    return inspect_model(obj, path, seen)
