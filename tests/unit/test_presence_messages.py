"""supervisor.mqtt_presence without a broker: presence payloads, pings, conflict records."""

from __future__ import annotations

import json

import pytest

from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.supervisor.mqtt_presence import HoldOff, NameClaim, Presence, parse_presence

BROKER = parse_broker_url("mqtt://127.0.0.1:1883")


def test_presence_round_trips_and_describes_its_holder() -> None:
    me = Presence(True, "abc123", "gw-1", 42, 1_800_000_000.0)
    assert parse_presence(me.to_bytes()) == me
    assert json.loads(me.to_bytes())["state"] == "online"
    assert me.describe() == "pid 42 on gw-1, up since 2027-01-15T08:00:00Z, instance abc123"


@pytest.mark.parametrize(
    "payload",
    [b"", b"online", b"[]", b'{"state": "away", "instance": "x"}', b'{"state": "online"}',
     b'{"state": "online", "instance": ""}', b"\xff\xfe"],
)  # fmt: skip
def test_anything_else_is_not_a_presence(payload: bytes) -> None:
    assert parse_presence(payload) is None


def test_odd_fields_are_ignored_not_trusted() -> None:
    seen = parse_presence(b'{"state": "offline", "instance": "x", "pid": true, "since": "no"}')
    assert seen == Presence(False, "x", "", 0, 0.0)


def test_the_claim_names_its_topics_after_the_client_id() -> None:
    claim = NameClaim(BROKER, "wasmfleet-edge-1")
    assert claim.topic == "wasmfleet/presence/wasmfleet-edge-1"
    assert claim.ping_topic == "wasmfleet/presence/wasmfleet-edge-1/ping"
    online, offline = parse_presence(claim.online), parse_presence(claim.offline)
    assert online is not None and online.online and online.instance == claim.instance
    assert offline is not None and not offline.online and offline.instance == claim.instance


@pytest.mark.parametrize(
    ("payload", "reply"),
    [
        (b'{"probe": "3f2a-1"}', "wasmfleet/presence/wasmfleet-edge/pong/3f2a-1"),
        (b'{"probe": "a/#"}', None),  # a probe id never makes the answer go elsewhere
        (b'{"probe": "' + b"x" * 65 + b'"}', None),
        (b'{"probe": 7}', None),
        (b"ping", None),
    ],
)
def test_a_ping_is_answered_only_on_its_own_pong_topic(payload: bytes, reply: str | None) -> None:
    assert NameClaim(BROKER, "wasmfleet-edge").pong(payload) == reply


def test_a_conflict_is_news_once_per_holder_and_clears_on_connect() -> None:
    claim = NameClaim(BROKER, "wasmfleet-edge")
    a, b = Presence(True, "a" * 32, "h", 1, 1.0), Presence(True, "b" * 32, "h", 2, 2.0)
    assert claim.hold_off(HoldOff("held", 30, a, "in_use")) is True
    first = claim.conflict
    assert first is not None and first["kind"] == "in_use" and first["holder"]["pid"] == 1
    assert claim.hold_off(HoldOff("held again", 30, a, "silent")) is False
    assert claim.conflict is not None and claim.conflict["kind"] == "silent"
    assert claim.conflict["detected_at"] == first["detected_at"]
    assert claim.hold_off(HoldOff("someone else", 30, b, "in_use")) is True
    claim.connected()
    assert claim.conflict is None and not claim.held_off and claim.had_connection
