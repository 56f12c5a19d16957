"""The bridge's durable outbox (messaging/outbox.py) on a real SQLite file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.messaging.outbox import RECENT_KEYS, Outbox


def test_pending_is_in_storage_order_so_in_order_per_topic(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        for i in range(30):
            box.put(f"faces/cam{i % 3}", b"%d" % i, message_id=f"m{i}")
        got = box.pending(limit=100)
    assert [m.id for m in got] == [f"m{i}" for i in range(30)]
    for cam in range(3):
        per_topic = [int(m.payload) for m in got if m.topic == f"faces/cam{cam}"]
        assert per_topic == sorted(per_topic) and len(per_topic) == 10
    assert [m.seq for m in got] == sorted(m.seq for m in got)


def test_pending_pages_after_a_cursor(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        for i in range(10):
            box.put("t", b"x", message_id=f"m{i}")
        first = box.pending(limit=4)
        second = box.pending(after=first[-1].seq, limit=100)
    assert [m.id for m in first + second] == [f"m{i}" for i in range(10)]


def test_messages_survive_reopen_with_their_fields(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    payload = bytes(range(256)) * 40
    with Outbox(path) as box:
        box.put("a/b", payload, message_id="id-1", qos=1, retain=True, now=123.5)
        box.put("a/c", b"", message_id="id-2", qos=0)
    with Outbox(path) as box:
        got = box.pending()
        assert box.count() == 2
    assert (got[0].id, got[0].topic, got[0].payload, got[0].retain, got[0].stored_at) == (
        "id-1", "a/b", payload, True, 123.5,
    )  # fmt: skip
    assert (got[1].id, got[1].payload, got[1].qos, got[1].retain) == ("id-2", b"", 0, False)


def test_a_committed_message_survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    script = (
        "import os, sys; from wasmfleet.messaging.outbox import Outbox;"
        "box = Outbox(sys.argv[1]); box.put('t', b'kept', message_id='k1');"
        "os.kill(os.getpid(), 9)"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path)], timeout=60)
    assert proc.returncode == -9
    with Outbox(path) as box:  # the dead process's lock went with it
        assert [(m.id, m.payload) for m in box.pending()] == [("k1", b"kept")]


def test_delete_after_ack_removes_only_those(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        for i in range(5):
            box.put("t", b"%d" % i, message_id=f"m{i}")
        seqs = [m.seq for m in box.pending()]
        assert box.delete([seqs[0], seqs[2]]) == 2
        assert box.delete([seqs[0]]) == 0  # a late second ack is harmless
        assert box.delete([]) == 0
    with Outbox(path) as box:
        assert [m.id for m in box.pending()] == ["m1", "m3", "m4"]


def test_seq_never_goes_back_after_deleting_everything(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        box.put("t", b"", message_id="a")
        last = box.pending()[-1].seq
        box.delete([last])
    with Outbox(path) as box:
        box.put("t", b"", message_id="b")
        assert box.pending()[0].seq > last


def test_a_redelivered_source_message_is_stored_once(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        assert box.put("t", b"x", message_id="first", key="mid:7", digest="d1") == ("first", True)
    with Outbox(path) as box:  # e.g. the bridge crashed before its PUBACK left
        again = box.put("t", b"x", message_id="second", key="mid:7", digest="d1", dedupe=True)
        assert again == ("first", False)
        assert [m.id for m in box.pending()] == ["first"]


def test_an_envelope_id_is_stored_once_even_after_delivery(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        box.put("t", b"x", message_id="env-1", key="id:env-1")
        box.delete([m.seq for m in box.pending()])
        assert box.put("t", b"x", message_id="env-1", key="id:env-1") == ("env-1", False)
        assert box.count() == 0


def test_same_key_with_other_content_or_without_dedupe_is_a_new_message(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        box.put("t", b"x", message_id="a", key="mid:1", digest="d1")
        assert box.put("t", b"y", message_id="b", key="mid:1", digest="d2") == ("b", True)
        # A first delivery (no DUP flag) reusing a packet id is new, whatever it contains.
        assert box.put("t", b"y", message_id="c", key="mid:1", digest="d2", dedupe=False) == (
            "c", True,
        )  # fmt: skip
        # ... and from now on the key means that message.
        assert box.put("t", b"y", message_id="d", key="mid:1", digest="d2") == ("c", False)
        assert [m.id for m in box.pending()] == ["a", "b", "c"]


def test_only_recent_keys_count_as_redeliveries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wasmfleet.messaging.outbox.RECENT_KEYS", 5)
    with Outbox(tmp_path / "o.sqlite") as box:
        box.put("t", b"x", message_id="old", key="mid:1", digest="d")
        for i in range(5):
            box.put("t", b"", message_id=f"f{i}", key=f"mid:{i + 2}", digest="e")
        assert box.put("t", b"x", message_id="new", key="mid:1", digest="d") == ("new", True)
    assert RECENT_KEYS >= 1000


def test_wal_and_full_sync_are_on(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    Outbox(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    with Outbox(path) as box:
        assert box._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_meta_values_persist(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        assert box.get_meta("subscriptions") is None
        box.set_meta("subscriptions", "a/#\nb")
    with Outbox(path) as box:
        assert box.get_meta("subscriptions") == "a/#\nb"


def test_a_second_opener_is_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path), pytest.raises(ConfigurationError, match="in use by another process"):
        Outbox(path)
    Outbox(path).close()  # free again once closed


def test_a_file_that_is_not_an_outbox_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigurationError, match="not a usable outbox"):
        Outbox(path)
