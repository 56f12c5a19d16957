"""Fixtures for integration tests: real supervisors and a real module file server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import FileServer, SupervisorProcess, module_file_server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    """The example modules served over HTTP on loopback."""
    with module_file_server(tmp_path_factory.mktemp("files")) as server:
        yield server


@pytest.fixture
def start_supervisor(tmp_path: Path) -> Iterator[Callable[..., SupervisorProcess]]:
    """Start supervisors for one test; all are stopped afterwards."""
    started: list[SupervisorProcess] = []

    def start(name: str = "sv", **kw: Any) -> SupervisorProcess:
        data_dir = kw.pop("data_dir", None) or tmp_path / f"data-{name}"
        sup = SupervisorProcess(data_dir, name=name, **kw).start()
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.stop()


@pytest.fixture(scope="module")
def shared_supervisor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupervisorProcess]:
    """One supervisor shared by the tests of a module (tests must not depend on order)."""
    sup = SupervisorProcess(tmp_path_factory.mktemp("shared") / "data", name="shared")
    sup.start()
    yield sup
    sup.stop()


# --------------------------------------------------------------------------------------
# Orchestrator store: one throw-away PostgreSQL server per session (tests/postgres.py),
# a fresh database per test, and ``database_url`` parametrized over SQLite and PostgreSQL.
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server on 127.0.0.1 for the session; skipped when it is not installed."""
    from tests.postgres import INSTALL_HINT, PostgresServer, find_bin_dir

    if find_bin_dir() is None:
        pytest.skip(INSTALL_HINT)
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: Any) -> str:
    """The URL of one PostgreSQL database shared by the session."""
    url: str = postgres_server.create_database("wasmfleet")
    return url


@pytest.fixture
def fresh_postgres_url(postgres_server: Any) -> Iterator[str]:
    """The URL of an empty PostgreSQL database, dropped after the test."""
    url: str = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        from wasmfleet.orchestrator.store import sqlite_url

        return sqlite_url(tmp_path / "orchestrator-data")
    url: str = request.getfixturevalue("fresh_postgres_url")
    return url


@pytest.fixture
def orchestrator_store(database_url: str) -> Iterator[Any]:
    """An open ``Store`` on an empty database (both backends), closed afterwards."""
    from wasmfleet.orchestrator.store import open_store

    store = open_store(database_url)
    yield store
    store.close()
