"""W3C traceparent parsing and span ids (core/tracing.py)."""

from __future__ import annotations

import pytest

from wasmfleet.core.tracing import (
    ID_BYTES,
    TraceContext,
    child,
    from_properties,
    header,
    is_trace_id,
    new_root,
    parse,
)

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parse_the_w3c_example() -> None:
    ctx = parse(VALID)
    assert ctx == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)
    assert header(ctx) == VALID


def test_parse_bytes_and_unsampled() -> None:
    ctx = parse(VALID[:-2].encode() + b"00")
    assert ctx is not None and not ctx.sampled
    assert header(ctx).endswith("-00")


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # three fields
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has 4 fields
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",  # not hex
        b"\xff\xfe",
    ],
)
def test_invalid_values_are_none(text: str | bytes | None) -> None:
    assert parse(text) is None


def test_a_later_version_may_append_fields() -> None:
    ctx = parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever")
    assert ctx is not None and ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_new_root_and_child() -> None:
    root = new_root(bytes(range(1, ID_BYTES + 1)))
    assert is_trace_id(root.trace_id) and len(root.span_id) == 16
    assert parse(header(root)) == root
    kid = child(root, b"\x00" * 7 + b"\x05")
    assert kid.trace_id == root.trace_id and kid.span_id == "0000000000000005"
    assert kid.span_id != root.span_id


def test_all_zero_randomness_still_gives_valid_ids() -> None:
    root = new_root(bytes(ID_BYTES))
    assert parse(header(root)) == root
    assert parse(header(child(root, bytes(8)))) is not None


def test_too_few_random_bytes_is_refused() -> None:
    with pytest.raises(ValueError):
        new_root(b"123")
    with pytest.raises(ValueError):
        child(new_root(bytes(ID_BYTES)), b"1")


def test_from_properties() -> None:
    assert from_properties(None) is None
    assert from_properties({"other": "x"}) is None
    assert from_properties({"traceparent": VALID}) == parse(VALID)
    assert not is_trace_id("0" * 32) and not is_trace_id(3)
