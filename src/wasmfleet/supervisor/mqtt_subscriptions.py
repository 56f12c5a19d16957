"""What the supervisor's MQTT session subscribes to: wanted, held by the broker, confirmed.

Triggers ask for filters (``want``; overlapping ones merged by ``core.subscriptions``). The
session is persistent, so the broker keeps what was subscribed across restarts: the filters
it holds are remembered in ``<data dir>/mqtt-subscriptions.json`` (with the client id), and
a restart that finds its session (CONNACK ``session present``) subscribes nothing again —
subscribing again would make the broker send every retained message once more. ``sync``
subscribes what is missing and unsubscribes what is no longer wanted; a SUBACK confirms a
filter (``active``) or refuses it (``refused``, e.g. by an ACL). ``solicited`` tells a
message on a filter the session asked for from one the broker sent on its own: amqtt sends a
connecting client the retained messages of every *other* client's subscriptions too.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import paho.mqtt.client as mqtt

from wasmfleet.core.subscriptions import plan_subscriptions
from wasmfleet.core.topics import matches
from wasmfleet.service.files import write_atomic

log = logging.getLogger("wasmfleet.supervisor.mqtt")


SOLICITED_CACHE = 1024
"""Topics whose answer ``solicited`` remembers, at most."""


class SubscriptionBook:
    """The filters one client id wants, has asked the broker for, and had confirmed."""

    def __init__(self, client_id: str, state_path: Path) -> None:
        self.client_id = client_id
        self.state_path = state_path
        self.wanted: dict[str, int] = {}
        self.subscribed = self._load()
        """Filter -> QoS the broker holds (or was asked for) in the session."""
        self.confirmed: set[str] = set()
        """Filters the broker confirmed (SUBACK), or kept in a session it still had."""
        self.refused: dict[str, str] = {}
        """Filter -> why the broker refused it."""
        self._mids: dict[int, list[str]] = {}
        self._solicited: dict[str, bool] = {}
        """Topic -> whether a filter of ``subscribed`` matches it (cleared when that changes)."""

    @property
    def active(self) -> list[str]:
        """The wanted filters the broker confirmed: messages on them reach this device."""
        return sorted(f for f in self.confirmed if f in self.wanted)

    def solicited(self, topic: str) -> bool:
        """Whether a message on ``topic`` matches a filter this session asked the broker for."""
        known = self._solicited.get(topic)
        if known is None:
            known = any(matches(topic_filter, topic) for topic_filter in self.subscribed)
            if len(self._solicited) >= SOLICITED_CACHE:
                self._solicited.clear()
            self._solicited[topic] = known
        return known

    def want(self, wanted: dict[str, int]) -> None:
        """What triggers need now (overlaps merged on the way)."""
        self.wanted = plan_subscriptions(wanted)

    def connected(self, session_present: bool) -> None:
        """A new connection: without its session the broker holds nothing."""
        if not session_present:
            self.subscribed = {}
            self._solicited.clear()
        self.confirmed = set(self.subscribed)

    def sync(self, client: mqtt.Client) -> None:
        """Subscribe what is wanted and missing, unsubscribe what is held and not wanted."""
        stale = sorted(f for f in self.subscribed if f not in self.wanted)
        new = [(f, q) for f, q in self.wanted.items() if self.subscribed.get(f) != q]
        if stale:
            rc, _mid = client.unsubscribe(stale)
            if rc == mqtt.MQTT_ERR_SUCCESS:
                for topic_filter in stale:
                    self.subscribed.pop(topic_filter, None)
                    self.confirmed.discard(topic_filter)
        if new:
            rc, mid = client.subscribe(new)
            if rc == mqtt.MQTT_ERR_SUCCESS and mid is not None:
                self.subscribed.update(new)
                self._mids[mid] = [f for f, _ in new]
        if stale or new:
            self._solicited.clear()
            log.info(
                "MQTT subscriptions changed",
                extra={"subscribed": ",".join(f for f, _ in new), "unsubscribed": ",".join(stale)},
            )
            self._save()

    def suback(self, mid: int, results: list[tuple[bool, str]]) -> None:
        """The broker answered a subscription of ``sync``: (failed, reason) per filter."""
        filters = self._mids.pop(mid, [])
        for topic_filter, (failed, reason) in zip(filters, results, strict=False):
            if failed:
                self._solicited.clear()
                self.subscribed.pop(topic_filter, None)
                self.confirmed.discard(topic_filter)
                self.refused[topic_filter] = reason
                log.error(
                    "the MQTT broker refused a subscription",
                    extra={"filter": topic_filter, "reason": reason},
                )
            else:
                self.refused.pop(topic_filter, None)
                self.confirmed.add(topic_filter)

    def _load(self) -> dict[str, int]:
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(state, dict) or state.get("client_id") != self.client_id:
            return {}
        subs = state.get("subscriptions")
        return {str(k): int(v) for k, v in subs.items()} if isinstance(subs, dict) else {}

    def _save(self) -> None:
        state = {"client_id": self.client_id, "subscriptions": self.subscribed}
        try:
            write_atomic(self.state_path, json.dumps(state, sort_keys=True).encode())
        except OSError as err:
            log.warning("could not save MQTT subscriptions", extra={"error": str(err)})
