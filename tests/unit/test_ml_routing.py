"""wasmfleet.ml.routing: which generator compiles which estimator, and the refusals."""

from __future__ import annotations

import pytest

from wasmfleet.ml.errors import UnsupportedModel
from wasmfleet.ml.routing import (
    EMLEARN_TYPES,
    M2CGEN_TYPES,
    SUPPORTED_TYPES,
    WITH_PROBABILITIES,
    Generator,
    choose_generator,
    m2cgen_output,
)


@pytest.mark.parametrize(
    ("estimator", "generator"),
    [
        ("RandomForestClassifier", Generator.emlearn),
        ("ExtraTreesClassifier", Generator.emlearn),
        ("DecisionTreeClassifier", Generator.emlearn),
        ("MLPClassifier", Generator.emlearn),
        ("LogisticRegression", Generator.m2cgen),
        ("LinearSVC", Generator.m2cgen),
        ("SVC", Generator.m2cgen),
        ("ExtraTreeClassifier", Generator.m2cgen),
    ],
)
def test_auto_prefers_emlearn_then_m2cgen(estimator: str, generator: Generator) -> None:
    assert choose_generator(estimator, Generator.auto, is_classifier=True) is generator


def test_a_forced_generator_is_used_when_it_can() -> None:
    chosen = choose_generator("RandomForestClassifier", Generator.m2cgen, is_classifier=True)
    assert chosen is Generator.m2cgen


def test_a_forced_generator_that_cannot_says_which_types_it_handles() -> None:
    with pytest.raises(UnsupportedModel, match="emlearn does not handle LogisticRegression"):
        choose_generator("LogisticRegression", Generator.emlearn, is_classifier=True)
    with pytest.raises(UnsupportedModel, match="m2cgen does not handle MLPClassifier"):
        choose_generator("MLPClassifier", Generator.m2cgen, is_classifier=True)


@pytest.mark.parametrize("estimator", ["SVR", "KMeans", "RandomForestRegressor"])
def test_non_classifiers_are_refused_with_the_supported_list(estimator: str) -> None:
    with pytest.raises(UnsupportedModel) as info:
        choose_generator(estimator, Generator.auto, is_classifier=False)
    assert f"{estimator} is not a classifier" in info.value.message
    assert "RandomForestClassifier" in info.value.message
    assert info.value.message.endswith(".")


def test_unsupported_classifiers_get_a_hint() -> None:
    with pytest.raises(UnsupportedModel, match="RandomForestClassifier or ExtraTreesClassifier"):
        choose_generator("GradientBoostingClassifier", Generator.auto, is_classifier=True)
    with pytest.raises(UnsupportedModel, match="Supported classifiers"):
        choose_generator("KNeighborsClassifier", Generator.auto, is_classifier=True)


def test_tables_are_consistent() -> None:
    assert set(SUPPORTED_TYPES) == set(EMLEARN_TYPES) | set(M2CGEN_TYPES)
    assert set(WITH_PROBABILITIES) <= set(SUPPORTED_TYPES)
    assert m2cgen_output("SVC") == "ovo"
    assert m2cgen_output("RandomForestClassifier") == "proba"
    assert m2cgen_output("RidgeClassifier") == "decision"
