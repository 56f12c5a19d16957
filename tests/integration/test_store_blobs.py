"""Module bytes in the database (migration 11): the ``blobs`` queries on both backends, and the
file store in front of them — a second data directory reads what the first one put, checks
its digest and keeps it; deletes remove both copies; files from before are uploaded once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import update

from wasmfleet.core.errors import NotFound
from wasmfleet.orchestrator.blobs import BlobStore
from wasmfleet.orchestrator.store import Store, open_store
from wasmfleet.orchestrator.store.migrations import MIGRATIONS, latest_version
from wasmfleet.orchestrator.store.schema import blobs

DATA = b"\0asm-not-really" * 1000
SHA = hashlib.sha256(DATA).hexdigest()


def test_blob_rows_are_stored_once_read_and_deleted(orchestrator_store: Store) -> None:
    store = orchestrator_store
    assert store.shares_blobs is (store.engine.dialect.name == "postgresql")
    assert store.get_blob(SHA) is None and not store.has_blob(SHA)
    assert store.put_blob(SHA, DATA) is True
    assert store.put_blob(SHA, DATA) is False  # the same content twice: one row
    assert store.get_blob(SHA) == DATA
    assert store.has_blob(SHA)
    other = hashlib.sha256(b"other").hexdigest()
    store.put_blob(other, b"other")
    assert store.blob_digests() == {SHA, other}
    assert store.blob_digests([other, "f" * 64]) == {other}
    assert store.blob_digests([]) == set()
    assert store.delete_blob(SHA) is True
    assert store.delete_blob(SHA) is False
    assert store.get_blob(SHA) is None and store.blob_digests() == {other}


def test_a_version_10_database_gains_an_empty_blobs_table(database_url: str) -> None:
    old = open_store(database_url, migrations=MIGRATIONS[:10])
    try:
        assert old.schema_version == 10
    finally:
        old.close()
    new = open_store(database_url)
    try:
        assert new.schema_version == latest_version() == 11
        assert new.blob_digests() == set()
        assert new.put_blob(SHA, DATA) and new.get_blob(SHA) == DATA
    finally:
        new.close()


def test_without_a_shared_store_the_files_are_the_only_copy(tmp_path: Path) -> None:
    here = BlobStore(tmp_path / "a")
    assert here.put(DATA) == SHA and here.read(SHA) == DATA and here.exists(SHA)
    elsewhere = BlobStore(tmp_path / "b")
    assert not elsewhere.exists(SHA)
    with pytest.raises(NotFound, match="missing from the store"):
        elsewhere.read(SHA)
    assert here.share_missing([SHA]) == 0


@pytest.fixture
def shared_store(orchestrator_store: Store) -> Store:
    """The store class works on both backends; the orchestrator passes it only on PostgreSQL."""
    return orchestrator_store


def test_a_second_data_directory_reads_through_the_shared_store(
    tmp_path: Path, shared_store: Store
) -> None:
    a = BlobStore(tmp_path / "a", shared_store)
    b = BlobStore(tmp_path / "b", shared_store)
    assert a.put(DATA) == SHA
    assert a.path(SHA).read_bytes() == DATA  # the file, and the committed row
    assert shared_store.get_blob(SHA) == DATA
    assert not b.path(SHA).exists()
    assert b.exists(SHA)  # known to the shared store, not fetched for that
    assert not b.path(SHA).exists() and b.fetched == 0
    assert b.read(SHA) == DATA
    assert b.path(SHA).read_bytes() == DATA and b.fetched == 1  # kept as a file
    assert b.read(SHA) == DATA and b.fetched == 1  # the second read is a file hit
    assert not list(b.root.rglob(".*.tmp"))

    assert b.delete(SHA) is True  # the file here and the row
    assert not b.path(SHA).exists() and shared_store.get_blob(SHA) is None
    assert a.path(SHA).exists()  # another's cached file: nothing refers to it any more
    assert a.put(DATA) == SHA  # pushed again where the file is still cached: shared again
    assert shared_store.get_blob(SHA) == DATA


def test_a_missing_or_damaged_shared_copy_is_refused(tmp_path: Path, shared_store: Store) -> None:
    b = BlobStore(tmp_path / "b", shared_store)
    with pytest.raises(NotFound, match="database the orchestrators share"):
        b.read(SHA)
    assert not b.exists(SHA)
    shared_store.put_blob(SHA, DATA)
    with shared_store.engine.begin() as conn:
        conn.execute(update(blobs).where(blobs.c.sha256 == SHA).values(data=DATA + b"!"))
    with pytest.raises(NotFound, match="does not match that digest"):
        b.read(SHA)
    assert not b.path(SHA).exists()  # nothing damaged is kept


def test_files_the_shared_store_lacks_are_uploaded_once(
    tmp_path: Path, shared_store: Store
) -> None:
    files_only = BlobStore(tmp_path / "a")  # as before migration 11
    kept = files_only.put(DATA)
    unreferenced = files_only.put(b"deleted elsewhere")
    damaged = files_only.put(b"will be damaged")
    files_only.path(damaged).write_bytes(b"something else")
    shared_already = files_only.put(b"shared already")
    shared_store.put_blob(shared_already, b"shared already")

    a = BlobStore(tmp_path / "a", shared_store)
    referenced = [kept, damaged, shared_already, "0" * 64]  # "0"*64: no file here
    assert a.share_missing(referenced) == 1
    assert shared_store.blob_digests() == {kept, shared_already}
    assert unreferenced not in shared_store.blob_digests()  # not resurrected
    assert a.share_missing(referenced) == 0  # nothing left to do
    assert BlobStore(tmp_path / "b", shared_store).read(kept) == DATA


def test_the_blob_guard_excludes_another_orchestrator_and_gives_up_with_a_sentence(
    orchestrator_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wasmfleet.core.errors import Unavailable
    from wasmfleet.orchestrator.store import blobs as blob_queries

    first = orchestrator_store
    if not first.shares_blobs:
        with first.blob_guard(), first.blob_guard():  # SQLite: one process, nothing held
            return
    second = open_store(first.url)  # another orchestrator: its own pool, its own sessions
    monkeypatch.setattr(blob_queries, "BLOB_LOCK_WAIT_S", 0.3)
    try:
        with (
            first.blob_guard(),
            pytest.raises(Unavailable, match="storing or deleting module bytes"),
            second.blob_guard(),
        ):
            pytest.fail("two orchestrators held the blob guard at once")
        with second.blob_guard():  # released: the other one gets it
            pass
    finally:
        second.close()
