"""Module bytes with several orchestrators: on PostgreSQL a module pushed to one orchestrator
is served, deployed and deleted through another (each with its own data directory); an
upgraded database gets the bytes only one orchestrator's files held; SQLite keeps files only."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from tests.support import (
    MODULES,
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
    wait_until,
)
from wasmfleet.core.errors import NotFound
from wasmfleet.orchestrator.modules import DataFile
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store.schema import blobs

STAMP = (MODULES / "stamp" / "stamp.wasm").read_bytes()
PREFIX = (MODULES / "stamp" / "prefix.txt").read_bytes()
FIBO = (MODULES / "fibo" / "fibo.wasm").read_bytes()


@pytest.fixture
def make_orchestrator(tmp_path: Path) -> Iterator[Callable[..., Orchestrator]]:
    """In-process orchestrators (not started), each with its own data directory."""
    made: list[Orchestrator] = []

    def make(name: str, database_url: str | None = None) -> Orchestrator:
        settings = OrchestratorSettings(
            data_dir=tmp_path / name, database_url=database_url, mdns=False
        )
        made.append(Orchestrator(settings))
        return made[-1]

    yield make
    for orch in made:
        asyncio.run(orch.client.aclose())
        orch.store.close()


def push_stamp(orch: Orchestrator, name: str = "stamp") -> str:
    """Push the stamp module with its description and data file prefix.txt; its id."""
    module = orch.modules.push(name, STAMP).module
    described, _files = description_upload("stamp")
    orch.modules.describe(module.id, described, [DataFile("prefix.txt", PREFIX, "text/plain")])
    return module.id


def rows(orch: Orchestrator) -> int:
    with orch.store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(blobs)) or 0)


def test_sqlite_keeps_module_bytes_in_files_only(
    make_orchestrator: Callable[..., Orchestrator],
) -> None:
    orch = make_orchestrator("lab")
    assert orch.store.engine.dialect.name == "sqlite" and orch.blobs.shared is None
    module_id = push_stamp(orch)
    assert orch.modules.binary(module_id) == STAMP
    assert orch.modules.data_file(module_id, "prefix.txt")[0] == PREFIX
    assert rows(orch) == 0  # no bytes in the database: no doubled storage
    files = sorted(p.read_bytes() for p in orch.blobs.root.rglob("*") if p.is_file())
    assert files == sorted([STAMP, PREFIX])
    orch.modules.delete(module_id)
    assert not [p for p in orch.blobs.root.rglob("*") if p.is_file()]


def test_a_module_pushed_to_one_is_served_and_deleted_by_another(
    make_orchestrator: Callable[..., Orchestrator], fresh_postgres_url: str
) -> None:
    a = make_orchestrator("a", fresh_postgres_url)
    b = make_orchestrator("b", fresh_postgres_url)
    module_id = push_stamp(a)
    assert rows(a) == 2  # the binary and prefix.txt, committed with the module
    assert not [p for p in b.blobs.root.rglob("*") if p.is_file()]
    assert b.modules.binary(module_id) == STAMP
    assert b.modules.data_file(module_id, "prefix.txt") == (PREFIX, "text/plain")
    assert b.blobs.fetched == 2 and b.blobs.path(a.modules.get(module_id).sha256).is_file()
    assert b.modules.signed_by(b.modules.get(module_id)) is None  # reads the cached file

    # The same bytes under a second name: deleting one keeps the bytes the other needs.
    other = a.modules.push("stamp-copy", STAMP).module
    b.modules.delete(module_id)
    with pytest.raises(NotFound):
        a.modules.get(module_id)
    assert rows(a) == 1 and a.modules.binary(other.id) == STAMP
    b.modules.delete(other.id)
    assert rows(a) == 0  # nothing references them: gone from the database too
    with pytest.raises(NotFound):
        a.modules.binary(other.id)


def test_an_upgraded_database_gets_the_bytes_one_orchestrator_alone_had(
    make_orchestrator: Callable[..., Orchestrator], fresh_postgres_url: str
) -> None:
    a = make_orchestrator("a", fresh_postgres_url)
    b = make_orchestrator("b", fresh_postgres_url)
    module = a.modules.push("fibo", FIBO).module
    a.store.delete_blob(module.sha256)  # as before migration 11: only a's file holds it
    assert a.modules.binary(module.id) == FIBO  # a local file hit keeps working
    with pytest.raises(NotFound, match="push the module again"):
        b.modules.binary(module.id)
    asyncio.run(a._share_blobs())  # what start does
    assert rows(a) == 1 and b.modules.binary(module.id) == FIBO
    assert a.modules.share_blobs() == 0


def test_two_orchestrator_processes_share_a_module(tmp_path: Path, fresh_postgres_url: str) -> None:
    db = ["--database-url", fresh_postgres_url]
    a = OrchestratorProcess(tmp_path / "a", name="orch-a", args=db)
    b = OrchestratorProcess(tmp_path / "b", name="orch-b", args=db)
    sup = SupervisorProcess(tmp_path / "sv", name="edge", args=["--orchestrator", b.url])
    try:
        with ThreadPoolExecutor(2) as pool:  # both at once: each takes seconds to start
            list(pool.map(OrchestratorProcess.start, (a, b)))
        sup.start()
        up = a.post(
            "/api/v1/modules",
            data={"name": "stamp"},
            files={"wasm": ("stamp.wasm", STAMP, "application/wasm")},
        )
        assert up.status_code == 201, up.text
        module_id = up.json()["id"]
        described, files = description_upload("stamp")
        r = a.post(
            f"/api/v1/modules/{module_id}/description",
            data={"description": json.dumps(described)},
            files=files,
        )
        assert r.status_code == 200, r.text

        # b never received the bytes, yet serves them byte for byte (wasmiot routes).
        wasm = b.get(f"/file/module/{module_id}/wasm")
        assert wasm.status_code == 200 and wasm.content == STAMP
        prefix = b.get(f"/file/module/{module_id}/prefix.txt")
        assert prefix.status_code == 200 and prefix.content == PREFIX

        # A deployment made through b: the supervisor downloads both files from b.
        assert wait_until(lambda: b.get("/api/v1/devices/edge").status_code == 200, 15)
        manifest = {"name": "stamp-b", "steps": [{"module": "stamp", "function": "stamp"}]}
        r = b.post("/api/v1/deployments", json=manifest)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "active" and r.json()["devices"]["edge"]["ok"], r.json()
        assert httpx.delete(b.url + "/api/v1/deployments/stamp-b", timeout=30).status_code in (
            200,
            204,
        )

        # Deleted through b: gone on a, and its bytes gone from the database.
        assert httpx.delete(f"{b.url}/api/v1/modules/{module_id}", timeout=30).status_code == 204
        assert a.get(f"/api/v1/modules/{module_id}").status_code == 404
        assert a.get(f"/file/module/{module_id}/wasm").status_code == 404
        with psycopg.connect(fresh_postgres_url) as conn:
            assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (0,)
    finally:
        sup.stop()
        a.stop()
        b.stop()
