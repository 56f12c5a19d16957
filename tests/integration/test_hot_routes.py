"""The heartbeat and execute routes answered by hot_routes.HotRoutes answer exactly as their
FastAPI routes do (status, body, content type) with auth off and on; an execution sees a
deployment written by this process at once; heartbeats' usage is written in groups."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support import free_port
from wasmfleet.core.errors import NotFound
from wasmfleet.orchestrator.app import create_app
from wasmfleet.orchestrator.execution import DeploymentLookup
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import DeploymentRecord, DeviceRecord, Store

BEAT = {"name": "sim-1", "interval_s": 0.5, "seq": 1, "deployments": {"x": 0}, "usage": {}}
Case = tuple[str, dict[str, Any], str | None]
CASES: list[Case] = [
    ("/api/v1/heartbeat", {"json": BEAT}, "admin"),
    ("/api/v1/heartbeat", {"json": {**BEAT, "name": "ghost"}}, "admin"),
    ("/api/v1/heartbeat", {"content": b"not json"}, "admin"),
    ("/api/v1/heartbeat", {"content": b""}, "admin"),
    ("/api/v1/heartbeat", {"json": [1, 2]}, "admin"),
    ("/api/v1/heartbeat", {"json": {**BEAT, "deployments": {"x": -1}}}, "admin"),
    ("/api/v1/heartbeat", {"json": {**BEAT, "interval_s": "soon"}}, "admin"),
    ("/api/v1/heartbeat", {"content": b"{}", "headers": {"content-encoding": "gzip"}}, "admin"),
    ("/api/v1/heartbeat", {"json": BEAT}, None),
    ("/api/v1/heartbeat", {"json": BEAT}, "wf_" + "x" * 43),
    ("/api/v1/heartbeat", {"json": BEAT}, "Basic abc"),
    ("/api/v1/heartbeat/", {"json": BEAT}, "admin"),
    ("/api/v1/deployments/nothing/execute", {"json": {"iterations": 7}}, "admin"),
    ("/api/v1/deployments/nothing/execute", {"content": b"[oops"}, "admin"),
    ("/api/v1/deployments/nothing/execute?all=true", {}, "admin"),
    ("/api/v1/deployments/nothing/execute?all=maybe", {}, "admin"),
    ("/api/v1/deployments/nothing/execute", {"json": {}}, None),
    ("/api/v1/deployments/a/b/execute", {"json": {}}, "admin"),
]


def _answers(root: Path, *, auth: str, hot: bool) -> list[tuple[int, str, Any]]:
    token_file = root / "admin.token"
    settings = OrchestratorSettings.load(
        env={},
        overrides={
            "data_dir": root / "data",
            "mdns": False,
            "auth": auth,
            "admin_token_file": token_file,
        },
    )
    app = create_app(settings, hot_routes=hot)
    app.state.orchestrator.store.upsert_device(
        DeviceRecord(name="sim-1", addresses=["127.0.0.1"], port=free_port())
    )
    out = []
    with TestClient(app) as client:
        admin = token_file.read_text().strip() if auth == "on" else "wf_none"
        for path, kw, who in CASES:
            token = admin if who == "admin" else who
            headers = dict(kw.get("headers", {}))
            if token is not None:
                headers["authorization"] = token if " " in token else f"Bearer {token}"
            r = client.post(path, **{**kw, "headers": headers}, follow_redirects=False)
            body = r.json() if r.content else None
            out.append((r.status_code, r.headers.get("content-type", ""), body))
    return out


@pytest.mark.parametrize("auth", ["off", "on"])
def test_hot_routes_answer_as_the_fastapi_routes(tmp_path: Path, auth: str) -> None:
    hot = _answers(tmp_path / "hot", auth=auth, hot=True)
    routed = _answers(tmp_path / "routed", auth=auth, hot=False)
    for case, a, b in zip(CASES, hot, routed, strict=True):
        assert a == b, case
    statuses = [s for s, _, _ in hot]
    assert statuses[:3] == [200, 404, 400]  # the cases did reach the handlers
    assert hot[0][2] == {"known": True, "epochs": {}}
    if auth == "on":
        assert statuses[8:11] == [401, 401, 401]


def test_an_execution_sees_a_deployment_this_process_wrote_at_once(
    orchestrator_store: Store,
) -> None:
    store = orchestrator_store

    def get(key: str) -> DeploymentRecord:
        found = store.get_deployment(key)
        if found is None:
            raise NotFound(f"No deployment {key!r}.")
        return found

    async def scenario() -> None:
        lookup = DeploymentLookup(store, get)
        added = store.add_deployment(DeploymentRecord(name="d", manifest={"name": "d"}))
        first = await lookup.get("d")
        assert first.id == added.id
        assert await lookup.get("d") is first  # read once, reused
        store.update_deployment(replace(first, error="moved"))
        assert (await lookup.get("d")).error == "moved"
        store.delete_deployment(added.id)
        with pytest.raises(NotFound):
            await lookup.get("d")

    asyncio.run(scenario())


def test_concurrent_lookups_of_an_expired_entry_make_one_read(orchestrator_store: Store) -> None:
    store = orchestrator_store
    reads: list[str] = []

    def get(key: str) -> DeploymentRecord:
        reads.append(key)
        time.sleep(0.05)  # a slow database: the other callers arrive meanwhile
        found = store.get_deployment(key)
        if found is None:
            raise NotFound(f"No deployment {key!r}.")
        return found

    async def scenario() -> None:
        store.add_deployment(DeploymentRecord(name="d", manifest={"name": "d"}))
        lookup = DeploymentLookup(store, get)
        got = await asyncio.gather(*(lookup.get("d") for _ in range(16)))
        assert len({id(r) for r in got}) == 1 and reads == ["d"]
        missing = await asyncio.gather(
            *(lookup.get("none") for _ in range(4)), return_exceptions=True
        )
        assert all(isinstance(m, NotFound) for m in missing) and reads == ["d", "none"]

    asyncio.run(scenario())


def test_heartbeat_usage_is_written_in_one_group(orchestrator_store: Store) -> None:
    store = orchestrator_store
    for name in ("a", "b"):
        store.upsert_device(DeviceRecord(name=name))
    store.record_health("b", None, ok=False, at=datetime(2026, 1, 1, tzinfo=UTC))
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    beats = [("a", {"cpu": 0.5}, at), ("b", {"cpu": 0.25}, at), ("gone", {}, at)]
    assert store.record_heartbeat_health(beats) == 2
    a, b = store.get_device("a"), store.get_device("b")
    assert a is not None and b is not None
    assert (a.health, a.last_seen, b.health, b.failures) == ({"cpu": 0.5}, at, {"cpu": 0.25}, 0)
    assert store.record_heartbeat_health([]) == 0
