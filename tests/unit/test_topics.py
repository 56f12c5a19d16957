"""MQTT topic names and filters: what is valid, what matches (MQTT 3.1.1/5.0 section 4.7)."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.topics import check_filter, check_topic, matches


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("site/+/temperature", "site/lab/temperature", True),
        ("site/+/temperature", "site/lab/humidity", False),
        ("site/+/temperature", "site/lab/x/temperature", False),
        ("site/#", "site", True),  # '#' also matches the parent level
        ("site/#", "site/a/b/c", True),
        ("site/#", "sites/a", False),
        ("#", "anything/at/all", True),
        ("+", "one", True),
        ("+", "one/two", False),
        ("+/+", "/finance", True),  # an empty level is a level
        ("/+", "/finance", True),
        ("+", "/finance", False),
        ("faces", "faces", True),
        ("faces", "Faces", False),  # case-sensitive
        ("#", "$SYS/broker/load", False),  # wildcards never match $ topics at level one
        ("+/broker/load", "$SYS/broker/load", False),
        ("$SYS/#", "$SYS/broker/load", True),
        ("$share/workers/site/+", "site/a", True),
        ("a/+/#", "a/b", True),
        ("a/+/#", "a", False),
    ],
)
def test_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert check_filter(topic_filter) == topic_filter
    assert matches(topic_filter, topic) is expected


@pytest.mark.parametrize(
    ("topic_filter", "message"),
    [
        ("site/#/x", "'#' must be the last level"),
        ("site#", "'#' must be a whole level"),
        ("site/te+mp", "'+' must be a whole level"),
        ("", "must be a non-empty string"),
        (None, "must be a non-empty string"),
        (3, "must be a non-empty string"),
        ("a\x00b", "NUL"),
        ("x" * 65536, "MQTT allows 65535"),
        ("$share/g", "$share/<group>/<filter>"),
        ("$share/+/a", "$share/<group>/<filter>"),
    ],
)
def test_bad_filters_say_why(topic_filter: object, message: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        check_filter(topic_filter, "steps[0].trigger.topic")
    assert message in str(err.value)
    assert err.value.status == 400


@pytest.mark.parametrize("topic", ["faces/+", "faces/#", "#"])
def test_published_topics_cannot_hold_wildcards(topic: str) -> None:
    with pytest.raises(InvalidDocument) as err:
        check_topic(topic, "steps[0].publish.topic")
    assert "wildcard" in str(err.value) and "steps[0].publish.topic" in str(err.value)


def test_a_lone_surrogate_is_not_utf8() -> None:
    with pytest.raises(InvalidDocument, match="UTF-8"):
        check_topic("a\udc80b")
    assert check_topic("sensors/café/temperature") == "sensors/café/temperature"
