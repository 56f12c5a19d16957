"""SubscriptionBook.solicited: a topic matches a filter the session asked for, or it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from wasmfleet.supervisor.mqtt_subscriptions import SubscriptionBook


class Recorder:
    """Stands in for paho's client: records (un)subscriptions and answers success."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def subscribe(self, topics: Any) -> tuple[int, int]:
        self.calls.append(("subscribe", topics))
        return mqtt.MQTT_ERR_SUCCESS, len(self.calls)

    def unsubscribe(self, topics: Any) -> tuple[int, int]:
        self.calls.append(("unsubscribe", topics))
        return mqtt.MQTT_ERR_SUCCESS, len(self.calls)


def test_only_topics_of_subscribed_filters_are_solicited(tmp_path: Path) -> None:
    book = SubscriptionBook("c", tmp_path / "subs.json")
    client: Any = Recorder()
    book.want({"site/+/temperature": 1})
    book.sync(client)

    assert book.solicited("site/lab/temperature")
    assert not book.solicited("elsewhere/reading")
    assert not book.solicited("site/lab/humidity")


def test_the_answer_follows_the_subscriptions(tmp_path: Path) -> None:
    book = SubscriptionBook("c", tmp_path / "subs.json")
    client: Any = Recorder()
    book.want({"a/#": 0})
    book.sync(client)
    assert book.solicited("a/1") and not book.solicited("b/1")

    book.want({"b/#": 0})
    book.sync(client)  # a/# unsubscribed, b/# subscribed: the remembered answers are stale
    assert not book.solicited("a/1") and book.solicited("b/1")

    book.connected(session_present=False)  # a new session holds nothing
    assert not book.solicited("b/1")


def test_a_refused_filter_no_longer_solicits(tmp_path: Path) -> None:
    book = SubscriptionBook("c", tmp_path / "subs.json")
    client: Any = Recorder()
    book.want({"secret/#": 1})
    book.sync(client)
    assert book.solicited("secret/x")

    book.suback(1, [(True, "Not authorized")])
    assert not book.solicited("secret/x")
