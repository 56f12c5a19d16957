"""``/livez`` and ``/readyz`` of both services: real processes on loopback, a real PostgreSQL
that is stopped and started again, a data directory that goes away and comes back, and the
apps before and after their lifespan ran (uvicorn serves nothing before start-up finished,
so that phase is observed in-process, as the ASGI server would drive it)."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import OrchestratorProcess, SupervisorProcess, free_port
from wasmfleet.core.errors import Unavailable
from wasmfleet.orchestrator.store import open_store, sqlite_url

WAIT_S = 20.0


def wait_for_status(get: Callable[[], httpx.Response], status: int) -> httpx.Response:
    """Poll until the answer has ``status`` (bounded); the last answer."""
    deadline = time.monotonic() + WAIT_S
    while True:
        answer = get()
        if answer.status_code == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def checks_of(answer: httpx.Response) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in answer.json()["checks"]}


# -- supervisor ---------------------------------------------------------------------------


def test_supervisor_is_ready_after_start_and_not_while_its_data_dir_is_gone(
    start_supervisor: Callable[..., SupervisorProcess], tmp_path: Path
) -> None:
    sup = start_supervisor("probed")
    assert sup.get("/livez").json() == {"status": "alive", "service": "supervisor"}
    ready = sup.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert set(checks_of(ready)) == {"started", "runtime", "data_dir"}
    assert all(c["ok"] for c in ready.json()["checks"])
    assert {"/livez", "/readyz"} <= set(sup.get("/").json()["see"])

    away = tmp_path / "moved-away"
    sup.data_dir.rename(away)
    try:
        gone = wait_for_status(lambda: sup.get("/readyz"), 503)
        assert gone.status_code == 503, gone.text
        failing = checks_of(gone)["data_dir"]
        assert failing["ok"] is False
        assert str(sup.data_dir) in failing["message"] and "no longer exists" in failing["message"]
        assert gone.json()["error"]["code"] == "not_ready"
        assert "data_dir" in gone.json()["error"]["message"]
        assert checks_of(gone)["runtime"]["ok"] is True
        assert sup.get("/livez").status_code == 200  # alive: nothing to restart
    finally:
        away.rename(sup.data_dir)
    back = wait_for_status(lambda: sup.get("/readyz"), 200)
    assert back.status_code == 200, back.text


class Lifespan:
    """Drives an ASGI app's lifespan the way uvicorn does, so a test can call the app before
    start-up, while it serves, and after shut-down."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _exchange(self, message: str) -> None:
        await self.inbox.put({"type": message})
        answer = await asyncio.wait_for(self.outbox.get(), 30)
        assert answer["type"] == f"{message}.complete", answer

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        await self._exchange("lifespan.startup")

    async def shutdown(self) -> None:
        await self._exchange("lifespan.shutdown")
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


async def probe_through_a_lifespan(app: Any, expected_checks: set[str]) -> None:
    """Not ready before start-up and after shut-down, ready in between; alive throughout."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        before = await client.get("/readyz")
        assert before.status_code == 503
        assert [c["name"] for c in before.json()["checks"]] == ["started"]
        assert "Start-up has not finished" in checks_of(before)["started"]["message"]
        assert (await client.get("/livez")).status_code == 200

        lifespan = Lifespan(app)
        await lifespan.startup()
        serving = await client.get("/readyz")
        assert serving.status_code == 200, serving.text
        assert set(checks_of(serving)) == {"started", *expected_checks}

        await lifespan.shutdown()
        after = await client.get("/readyz")
        assert after.status_code == 503
        assert checks_of(after)["started"]["message"] == "The service is shutting down."


def test_supervisor_is_not_ready_before_start_up_finished(tmp_path: Path) -> None:
    from wasmfleet.supervisor.app import create_app
    from wasmfleet.supervisor.settings import SupervisorSettings

    settings = SupervisorSettings(
        name="in-process",
        host="127.0.0.1",
        port=free_port(),
        data_dir=tmp_path / "sup",
        mdns=False,
        nn=False,
        heartbeat_interval_s=0,
    )
    asyncio.run(probe_through_a_lifespan(create_app(settings), {"runtime", "data_dir"}))


# -- orchestrator -------------------------------------------------------------------------


def test_orchestrator_is_not_ready_before_start_up_finished(tmp_path: Path) -> None:
    from wasmfleet.orchestrator.app import create_app
    from wasmfleet.orchestrator.settings import OrchestratorSettings

    settings = OrchestratorSettings(
        host="127.0.0.1", port=free_port(), data_dir=tmp_path / "orch", mdns=False
    )
    asyncio.run(probe_through_a_lifespan(create_app(settings), {"store"}))


@pytest.fixture
def private_postgres() -> Iterator[Any]:
    """A PostgreSQL server of this test's own (it gets stopped and started again)."""
    from tests.postgres import INSTALL_HINT, PostgresServer, find_bin_dir

    if find_bin_dir() is None:
        pytest.skip(INSTALL_HINT)
    with PostgresServer() as server:
        yield server


def test_orchestrator_readiness_follows_its_postgresql(
    private_postgres: Any, tmp_path: Path
) -> None:
    url = private_postgres.create_database()
    orch = OrchestratorProcess(
        tmp_path / "orch", name="orch", env={"WASMFLEET_DATABASE_URL": url}
    ).start()
    try:
        ready = orch.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(checks_of(ready)) == {"started", "store"}
        assert {"/livez", "/readyz"} <= set(orch.get("/").json()["see"])
        paths = orch.get("/openapi.json").json()["paths"]
        assert paths["/readyz"]["get"]["tags"] == ["probes"]
        assert set(paths["/readyz"]["get"]["responses"]) >= {"200", "503"}
        assert "/livez" in paths

        private_postgres.halt()
        down = wait_for_status(lambda: orch.get("/readyz"), 503)
        assert down.status_code == 503, down.text
        store = checks_of(down)["store"]
        assert store["ok"] is False
        assert "does not answer" in store["message"], store
        assert orch.get("/livez").status_code == 200
        assert orch.proc is not None and orch.proc.poll() is None

        private_postgres.resume()
        back = wait_for_status(lambda: orch.get("/readyz"), 200)
        assert back.status_code == 200, back.text
    finally:
        orch.stop()


def test_store_ping_notices_a_sqlite_file_that_went_away(tmp_path: Path) -> None:
    store = open_store(sqlite_url(tmp_path / "data"))
    try:
        store.ping()
        path = tmp_path / "data" / "orchestrator.db"
        away = tmp_path / "elsewhere.db"
        shutil.move(path, away)
        with pytest.raises(Unavailable, match="no longer exists"):
            store.ping()
        shutil.move(away, path)
        store.ping()
    finally:
        store.close()
