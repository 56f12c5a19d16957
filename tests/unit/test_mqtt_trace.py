"""traceparent on MQTT messages: the envelope key, what a bridge sends, the link's version."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from wasmfleet.core.tracing import TRACEPARENT, parse
from wasmfleet.messaging.envelope import carried_trace, unwrap, wrap
from wasmfleet.messaging.outbox import Outbox, StoredMessage
from wasmfleet.messaging.wire import outgoing
from wasmfleet.supervisor.mqtt_version import MQTT_5, MQTT_311, ProtocolChoice, message_trace

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_envelope_carries_a_valid_traceparent_and_drops_an_invalid_one() -> None:
    data = wrap("m1", b"\x00raw\n", topic="t/1", ts=1.0, traceparent=TP)
    header = json.loads(data.split(b"\n", 1)[0])
    assert next(iter(header)) == "wasmfleet-id"  # the id still comes first (C readers)
    assert header[TRACEPARENT] == TP
    envelope = unwrap(data)
    assert envelope is not None and envelope.traceparent == TP and envelope.payload == b"\x00raw\n"
    plain = wrap("m1", b"x", traceparent="00-bad-01")
    assert TRACEPARENT not in json.loads(plain.split(b"\n", 1)[0])
    # An envelope written by hand with a broken trace: read as having none.
    forged = b'{"wasmfleet-id":"m2","v":1,"traceparent":"00-zz"}\nx'
    read = unwrap(forged)
    assert read is not None and read.traceparent is None


def test_carried_trace_prefers_the_user_property_and_ignores_invalid_ones() -> None:
    props = SimpleNamespace(UserProperty=[("wasmfleet-id", "a"), (TRACEPARENT, TP)])
    assert carried_trace(b"payload", props) == TP
    other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert carried_trace(wrap("m", b"p", traceparent=other), props) == TP
    assert carried_trace(wrap("m", b"p", traceparent=other), None) == other
    bad = SimpleNamespace(UserProperty=[(TRACEPARENT, "nonsense")])
    assert carried_trace(b"payload", bad) is None
    assert carried_trace(b"plain payload", None) is None


def message(traceparent: str | None, payload: bytes = b"55") -> StoredMessage:
    return StoredMessage(1, "id-1", "t/1", payload, 1, False, 2.0, traceparent)


def test_a_bridge_sends_the_trace_as_a_user_property_or_in_the_envelope() -> None:
    payload, props = outgoing(message(TP), 5)
    assert payload == b"55" and props is not None
    assert props.UserProperty == [("wasmfleet-id", "id-1"), (TRACEPARENT, TP)]
    payload, props = outgoing(message(None), 5)
    assert props is not None and props.UserProperty == [("wasmfleet-id", "id-1")]
    payload, props = outgoing(message(TP), 4)
    envelope = unwrap(payload)
    assert props is None and envelope is not None
    assert (envelope.id, envelope.payload, envelope.traceparent) == ("id-1", b"55", TP)
    payload, _ = outgoing(message(None), 4)
    assert TRACEPARENT not in json.loads(payload.split(b"\n", 1)[0])
    # An envelope already around the payload goes on as it is (it carries id and trace).
    wrapped = wrap("id-1", b"55", traceparent=TP)
    assert outgoing(message(TP, wrapped), 4) == (wrapped, None)


def test_the_outbox_keeps_the_trace_and_opens_an_outbox_from_before_it(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.executescript(
        "CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, "
        "topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL, retain INTEGER "
        "NOT NULL, stored_at REAL NOT NULL);"
        "INSERT INTO messages (id, topic, payload, qos, retain, stored_at) "
        "VALUES ('m0', 't', x'00', 1, 0, 1.0); PRAGMA user_version=1;"
    )
    db.commit()
    db.close()
    with Outbox(old) as box:
        box.put("t", b"1", message_id="m1", traceparent=TP)
        got = box.pending()
    assert [(m.id, m.traceparent) for m in got] == [("m0", None), ("m1", TP)]


def test_auto_falls_back_once_the_broker_refuses_mqtt_5() -> None:
    choice = ProtocolChoice("auto", capacity=256)
    assert choice.version == MQTT_5 and choice.name == "auto"  # tries 5, not known yet
    options = choice.connect_options()
    assert options["clean_start"] is False
    assert options["properties"].SessionExpiryInterval == 0xFFFFFFFF
    assert options["properties"].ReceiveMaximum == 256
    assert not choice.refused(SimpleNamespace(value=0x87))  # not authorized: no fallback
    assert not choice.take_fall_back()
    assert choice.refused(SimpleNamespace(value=0x84))  # unsupported protocol version
    assert choice.take_fall_back() and not choice.take_fall_back()
    assert choice.version == MQTT_311 and choice.connect_options() == {}
    assert choice.name == "3.1.1"
    accepted = ProtocolChoice("auto", capacity=20)
    accepted.connected()  # the broker took the MQTT 5 CONNECT
    assert accepted.name == "5"
    assert ProtocolChoice("5", 1).refused(SimpleNamespace(value=0x84)) is False  # told 5: stays
    with pytest.raises(ValueError):
        ProtocolChoice("4", 1)


def test_only_mqtt_5_messages_with_a_trace_get_properties() -> None:
    ctx = parse(TP)
    v5, v311 = ProtocolChoice("5", 20), ProtocolChoice("3.1.1", 20)
    assert v5.publish_properties(None) is None
    assert v311.publish_properties(ctx) is None
    props = v5.publish_properties(ctx)
    assert props is not None and props.UserProperty == [(TRACEPARENT, TP)]
    assert message_trace(SimpleNamespace(properties=props)) == ctx  # type: ignore[arg-type]
    bad = SimpleNamespace(properties=SimpleNamespace(UserProperty=[(TRACEPARENT, "x")]))
    assert message_trace(bad) is None  # type: ignore[arg-type]
    assert message_trace(SimpleNamespace(properties=None)) is None  # type: ignore[arg-type]


def test_the_hand_packed_trace_property_is_what_paho_packs_and_reads() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = ProtocolChoice("5", 20).publish_properties(parse(TP))
    reference = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    reference.UserProperty = [(TRACEPARENT, TP)]
    assert props is not None and props.pack() == reference.pack()
    read = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    read.unpack(props.pack())
    assert read.UserProperty == [(TRACEPARENT, TP)]
