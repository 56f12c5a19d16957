"""Which code generator turns which scikit-learn estimator into C (pure: names in, names out).

emlearn writes compact C for trees, forests and multi-layer perceptrons; m2cgen covers the
linear models and support vector machines emlearn lacks (and trees too, on request). Only
classifiers are supported: the module's ``predict`` answers a class.
"""

from __future__ import annotations

from enum import StrEnum

from wasmfleet.ml.errors import UnsupportedModel


class Generator(StrEnum):
    """A code generator, or ``auto`` to let the estimator type choose."""

    auto = "auto"
    emlearn = "emlearn"
    m2cgen = "m2cgen"


EMLEARN_TYPES = (
    "DecisionTreeClassifier",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "MLPClassifier",
)
"""emlearn's inline trees (float features, 8-bit leaf probabilities) and its MLP code."""

M2CGEN_LINEAR = (
    "LogisticRegression",
    "LogisticRegressionCV",
    "RidgeClassifier",
    "RidgeClassifierCV",
    "SGDClassifier",
    "Perceptron",
    "PassiveAggressiveClassifier",
    "LinearSVC",
)
"""Linear classifiers: m2cgen gives the decision function; the wrapper takes the argmax."""

M2CGEN_SVM = ("SVC", "NuSVC")
"""Kernel SVMs: m2cgen gives the one-vs-one decisions; the wrapper counts the votes."""

M2CGEN_TREES = (
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
)
"""Trees m2cgen writes as nested ifs with exact double probabilities (bigger code)."""

M2CGEN_TYPES = M2CGEN_LINEAR + M2CGEN_SVM + M2CGEN_TREES

WITH_PROBABILITIES = frozenset(
    [*EMLEARN_TYPES, *M2CGEN_TREES, "LogisticRegression", "LogisticRegressionCV"]
)
"""Estimators whose module answers probabilities (sklearn's ``predict_proba``, recomputed
in C: leaf proportions, the network's output layer, or the logistic function)."""

SUPPORTED_TYPES = tuple(sorted(set(EMLEARN_TYPES) | set(M2CGEN_TYPES)))

HINTS = {
    "GradientBoostingClassifier": "neither emlearn nor m2cgen 0.10 reads scikit-learn's "
    "gradient boosting; a RandomForestClassifier or ExtraTreesClassifier usually does as well",
    "HistGradientBoostingClassifier": "neither emlearn nor m2cgen 0.10 reads it; try a "
    "RandomForestClassifier or ExtraTreesClassifier",
    "Pipeline": "build the final estimator alone and scale the features before sending them "
    "(a Pipeline's preprocessing steps are not compiled)",
    "GridSearchCV": "pass its best_estimator_ (joblib.dump(search.best_estimator_, FILE))",
    "RandomizedSearchCV": "pass its best_estimator_ (joblib.dump(search.best_estimator_, FILE))",
}


def choose_generator(estimator: str, requested: Generator, *, is_classifier: bool) -> Generator:
    """The generator for an estimator type name; UnsupportedModel says why there is none."""
    if not is_classifier:
        raise UnsupportedModel(
            f"{estimator} is not a classifier; `wasmfleet ml build` compiles classifiers "
            f"only ({', '.join(SUPPORTED_TYPES)})."
        )
    if requested is Generator.emlearn and estimator not in EMLEARN_TYPES:
        raise UnsupportedModel(
            f"emlearn does not handle {estimator} here; it handles "
            f"{', '.join(EMLEARN_TYPES)} (try --generator auto)."
        )
    if requested is Generator.m2cgen and estimator not in M2CGEN_TYPES:
        raise UnsupportedModel(
            f"m2cgen does not handle {estimator} here; it handles "
            f"{', '.join(M2CGEN_TYPES)} (try --generator auto)."
        )
    if requested is not Generator.auto:
        return requested
    if estimator in EMLEARN_TYPES:
        return Generator.emlearn
    if estimator in M2CGEN_TYPES:
        return Generator.m2cgen
    hint = HINTS.get(estimator)
    raise UnsupportedModel(
        f"{estimator} is not supported by `wasmfleet ml build`"
        + (f": {hint}." if hint else ".")
        + f" Supported classifiers: {', '.join(SUPPORTED_TYPES)}."
    )


def m2cgen_output(estimator: str) -> str:
    """How the wrapper reads m2cgen's output: 'decision', 'ovo' or 'proba'."""
    if estimator in M2CGEN_SVM:
        return "ovo"
    if estimator in M2CGEN_TREES:
        return "proba"
    return "decision"
