"""core.subscriptions: overlapping trigger filters become one broker subscription."""

from __future__ import annotations

import itertools

import pytest

from wasmfleet.core.subscriptions import generalize, overlap, plan_subscriptions
from wasmfleet.core.topics import matches


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("site/+/temperature", "site/#", True),
        ("site/+/temperature", "site/+/humidity", False),
        ("a/+/c", "a/b/+", True),
        ("a/b", "a/b/c", False),
        ("a/#", "a", True),
        ("a/+", "a/b/c", False),
        ("#", "$SYS/broker", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/broker/load", True),
        ("x", "x", True),
    ],
)
def test_overlap(a: str, b: str, expected: bool) -> None:
    assert overlap(a, b) is expected
    assert overlap(b, a) is expected


@pytest.mark.parametrize(
    ("a", "b", "merged"),
    [
        ("site/+/temperature", "site/#", "site/#"),
        ("a/+/c", "a/b/+", "a/+/+"),
        ("a/#", "a", "a/#"),
        ("a/b/c", "a/b/c", "a/b/c"),
    ],
)
def test_generalize_covers_both(a: str, b: str, merged: str) -> None:
    assert generalize(a, b) == merged


TOPICS = ["a", "a/b", "a/b/c", "a/x/c", "a/b/z", "site/1/temperature", "site/1/humidity", "b/c"]


@pytest.mark.parametrize(
    "wanted",
    [
        {"site/+/temperature": 1, "site/#": 0},
        {"a/+/c": 1, "a/b/+": 2, "b/c": 0},
        {"a/#": 1, "a": 0, "b/+": 1},
        {"site/+/temperature": 1, "site/+/humidity": 1},
        {"+/+": 0, "a/b/c": 1, "a/#": 2},
    ],
)
def test_plan_covers_every_filter_and_no_two_overlap(wanted: dict[str, int]) -> None:
    planned = plan_subscriptions(wanted)
    for x, y in itertools.combinations(planned, 2):
        assert not overlap(x, y), (x, y)
    for topic in TOPICS:
        wanted_by = [f for f in wanted if matches(f, topic)]
        covering = [f for f in planned if matches(f, topic)]
        if wanted_by:
            assert len(covering) == 1, (topic, planned)
            assert planned[covering[0]] >= max(wanted[f] for f in wanted_by)


def test_plan_examples() -> None:
    assert plan_subscriptions({"site/+/temperature": 1, "site/#": 0}) == {"site/#": 1}
    assert plan_subscriptions({"a/+/c": 0, "a/b/+": 2}) == {"a/+/+": 2}
    assert plan_subscriptions({"x/1": 1, "x/2": 1}) == {"x/1": 1, "x/2": 1}
    assert plan_subscriptions({"$share/g/a/#": 1, "a/b": 2}) == {"$share/g/a/#": 1, "a/b": 2}
    assert plan_subscriptions({}) == {}
