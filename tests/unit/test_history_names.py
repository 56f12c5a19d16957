"""Bounded history and safe names."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import InvalidDocument, InvalidMount
from wasmfleet.core.history import RequestHistory
from wasmfleet.core.names import check_file_name, check_identifier, is_safe_name


def test_history_drops_the_oldest_beyond_capacity() -> None:
    history = RequestHistory(capacity=3)
    ids = [history.next_id("d", "m", "f") for _ in range(5)]
    for request_id in ids:
        history.add({"request_id": request_id})
    assert len(history) == 3
    assert [e["request_id"] for e in history] == ids[2:]
    assert history.get(ids[0]) is None
    assert history.get(ids[4]) == {"request_id": "d:m:f:5"}


def test_request_ids_count_per_function() -> None:
    history = RequestHistory(capacity=10)
    assert history.next_id("0", "fiboMod", "fibo") == "0:fiboMod:fibo:1"
    assert history.next_id("0", "fiboMod", "other") == "0:fiboMod:other:1"
    assert history.next_id("0", "fiboMod", "fibo") == "0:fiboMod:fibo:2"


@pytest.mark.parametrize("name", ["a.txt", "image.jpeg", "fiboMod", "0", "x_y-z.1"])
def test_safe_names(name: str) -> None:
    assert is_safe_name(name)
    assert check_file_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "../x", "a/b", "/etc/passwd", ".hidden", "..", "a..b", "x" * 200, "a\\b"]
)
def test_unsafe_names(name: str) -> None:
    assert not is_safe_name(name)
    with pytest.raises(InvalidMount):
        check_file_name(name)
    with pytest.raises(InvalidDocument):
        check_identifier("deploymentId", name)
