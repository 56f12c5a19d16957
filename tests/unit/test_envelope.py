"""The wasmfleet envelope and message ids (messaging/envelope.py)."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wasmfleet.messaging.envelope import (
    MAGIC,
    carried_id,
    content_id,
    envelope_id,
    is_valid_id,
    new_id,
    unwrap,
    wrap,
)


def test_new_ids_are_uuid7_unique_and_time_ordered() -> None:
    ids = [new_id(now=1_700_000_000.0 + i) for i in range(50)]
    assert len(set(ids)) == 50
    assert ids == sorted(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert is_valid_id(text)


def test_the_header_is_one_ascii_json_line_with_the_id_first() -> None:
    data = wrap("abc-1", b"payload", topic="faces/cam\u00e91", ts=1.23456)
    header, _, payload = data.partition(b"\n")
    assert data.startswith(MAGIC)
    assert header.isascii()
    assert json.loads(header) == {
        "wasmfleet-id": "abc-1",
        "v": 1,
        "topic": "faces/cam\u00e91",
        "ts": 1.235,
    }
    assert payload == b"payload"
    # What a C reader does: the id runs from after the magic to the next quote.
    assert data[len(MAGIC) : data.index(b'"', len(MAGIC))] == b"abc-1"


@given(payload=st.binary(max_size=4096), topic=st.text(max_size=50))
def test_arbitrary_bytes_round_trip(payload: bytes, topic: str) -> None:
    message_id = new_id()
    found = unwrap(wrap(message_id, payload, topic=topic, ts=5.0))
    assert found is not None
    assert (found.id, found.payload, found.topic, found.ts) == (message_id, payload, topic, 5.0)


def test_an_image_with_newlines_and_nuls_round_trips() -> None:
    image = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\n\n\r\n" + bytes(range(256)) * 4
    found = unwrap(wrap("img", image))
    assert found is not None and found.payload == image and found.topic is None


def test_an_envelope_inside_an_envelope_keeps_the_inner_bytes() -> None:
    inner = wrap("inner", b"x")
    found = unwrap(wrap("outer", inner))
    assert found is not None and found.id == "outer" and found.payload == inner


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"plain payload",
        b'{"temperature": 21}',
        b'{"wasmfleet-id":"abc"}',  # no newline: not an envelope
        b'{"wasmfleet-id":"abc"\n',  # not JSON
        b'{"wasmfleet-id":"../etc"}\nx',  # unsafe id
        b'{"wasmfleet-id":""}\nx',
        b'{"wasmfleet-id":".hidden"}\nx',
        b'{"wasmfleet-id":"a/b"}\nx',
        b'{"wasmfleet-id":"\xff"}\nx',
        b'{"wasmfleet-id":"a","x":' + b"[" * 100_000 + b"\nx",
    ],
)
def test_what_is_not_an_envelope(data: bytes) -> None:
    assert unwrap(data) is None
    assert envelope_id(data) is None


def test_envelope_id_reads_only_the_header() -> None:
    assert envelope_id(wrap("m-1", b"\n" * 10)) == "m-1"
    assert envelope_id(bytearray(wrap("m-2", b""))) == "m-2"


def test_unknown_header_keys_and_versions_are_tolerated() -> None:
    data = b'{"wasmfleet-id":"x1","v":2,"content-type":"image/jpeg","ts":"soon"}\nJPEG'
    found = unwrap(data)
    assert found is not None and found.id == "x1" and found.payload == b"JPEG" and found.ts is None


@pytest.mark.parametrize("bad", ["", ".", "..", ".x", "a/b", "a b", "é", "x" * 129, None, 7])
def test_invalid_ids(bad: object) -> None:
    assert not is_valid_id(bad)
    if isinstance(bad, str):
        with pytest.raises(ValueError):
            wrap(bad, b"")


def test_content_id_is_stable_and_a_valid_id() -> None:
    assert content_id(b"abc") == content_id(b"abc") != content_id(b"abd")
    assert content_id(b"abc").startswith("sha256-") and is_valid_id(content_id(b"abc"))


class _Props:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.UserProperty = pairs


def test_carried_id_prefers_the_envelope_then_the_user_property() -> None:
    props = _Props([("other", "x"), ("wasmfleet-id", "from-prop")])
    assert carried_id(wrap("from-env", b"p"), props) == "from-env"
    assert carried_id(b"raw", props) == "from-prop"
    assert carried_id(b"raw", _Props([("wasmfleet-id", "../bad")])) is None
    assert carried_id(b"raw", None) is None
    assert carried_id(b"raw", _Props([])) is None
