"""The SQLite default: WAL, durable commits (SIGKILL right after a write), URLs."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.orchestrator.store import ModuleRecord, open_store, sqlite_url
from wasmfleet.orchestrator.store.engine import driver_url, masked

WRITER = textwrap.dedent(
    """
    import sys, time
    from wasmfleet.orchestrator.store import ModuleRecord, open_store

    store = open_store(sys.argv[1])
    stored = store.add_module(ModuleRecord(name="durable", sha256="ab" * 32, size=7))
    print("ok", stored.id, flush=True)
    time.sleep(60)  # killed long before this ends
    """
)


def test_sqlite_is_configured_for_durability(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path / "data"))
    try:
        with store.engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
            }
    finally:
        store.close()
    assert pragma["journal_mode"] == "wal"
    assert pragma["synchronous"] == 2  # FULL
    assert pragma["foreign_keys"] == 1
    assert isinstance(pragma["busy_timeout"], int) and pragma["busy_timeout"] >= 1000


def test_default_url_is_a_file_in_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    url = sqlite_url(data_dir)
    assert url == f"sqlite:///{data_dir}/orchestrator.db"
    store = open_store(url)
    store.close()
    assert (data_dir / "orchestrator.db").is_file()
    assert store.url == url


def test_an_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=60)
        line = proc.stdout.readline() if ready else ""
        os.kill(proc.pid, signal.SIGKILL)  # right after the acknowledgement
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert line.startswith("ok "), (
        f"writer said {line!r}; stderr: {proc.stderr and proc.stderr.read()}"
    )
    assert proc.returncode == -signal.SIGKILL
    wal = tmp_path / "orchestrator.db-wal"
    assert wal.exists() and wal.stat().st_size > 0  # the commit was in the WAL only
    store = open_store(url)
    try:
        found = store.get_module("durable")
        assert found is not None and found.id == line.split()[1] and found.size == 7
    finally:
        store.close()


def test_postgresql_urls_use_psycopg_and_passwords_are_masked() -> None:
    assert driver_url("postgresql://u:secret@db:5432/fleet").drivername == "postgresql+psycopg"
    assert driver_url("postgres://u@db/fleet").drivername == "postgresql+psycopg"
    assert driver_url("postgresql+psycopg://u@db/fleet").drivername == "postgresql+psycopg"
    assert masked("postgresql://u:secret@db:5432/fleet") == "postgresql://u:***@db:5432/fleet"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("mysql://u@db/fleet", "SQLite (sqlite:///path/to/file.db) or PostgreSQL"),
        ("postgresql+asyncpg://u@db/fleet", "psycopg 3"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("not a url", "Cannot read the database URL"),
    ],
)
def test_unusable_urls_are_configuration_errors(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says.replace("(", r"\(").replace(")", r"\)")):
        open_store(url)


def test_a_store_is_usable_from_the_record_it_returns(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path))
    try:
        given = ModuleRecord(name="m", sha256="00" * 32, size=1)
        stored = store.add_module(given)
        assert given.id == "" and stored.id  # the caller's object is left alone
        stored.exports.append({"name": "f"})
        fetched = store.get_module("m")
        assert fetched is not None and fetched.exports == []  # records are copies
    finally:
        store.close()
