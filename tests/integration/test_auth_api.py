"""The route table of core/rbac.py walked against a live orchestrator with --auth on:
every route x every role (and no token). Expired, revoked and malformed tokens, refused
requests that change nothing, and the audit log."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import MODULES, OrchestratorProcess
from wasmfleet.core.rbac import RULES, Access, Role, allowed
from wasmfleet.orchestrator.auth import new_token, token_sha256
from wasmfleet.orchestrator.store import TokenRecord, UserRecord, open_store, sqlite_url
from wasmfleet.orchestrator.store.base import utcnow

WASM = (MODULES / "fibo" / "fibo.wasm").read_bytes()
STREAMS = {"/api/v1/events", "/api/v1/logs/stream"}
"""Routes answering server-sent events (read only up to the status)."""
PARAMS = {"path": "swagger-ui.css"}
"""Path parameters that name nothing stored (a 404 counts as allowed)."""


class Fleet:
    """A running orchestrator with auth on and one token per role."""

    def __init__(self, orch: OrchestratorProcess, tokens: dict[str, str]) -> None:
        self.orch = orch
        self.tokens = tokens

    def call(self, method: str, path: str, role: str | None, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.tokens[role]}"} if role else {}
        if path in STREAMS:  # server-sent events never end: the status and headers will do
            with httpx.stream(method, self.orch.url + path, headers=headers, timeout=30.0) as r:
                if r.status_code != 200:
                    r.read()
                return r
        return httpx.request(method, self.orch.url + path, headers=headers, timeout=30.0, **kw)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    data = tmp_path_factory.mktemp("auth") / "data"
    token_file = data.parent / "admin.token"
    orch = OrchestratorProcess(data, args=["--auth", "on", "--admin-token-file", str(token_file)])
    orch.start()
    try:
        admin = token_file.read_text().strip()
        tokens = {"admin": admin}
        head = {"authorization": f"Bearer {admin}"}
        for role in ("developer", "operator", "viewer"):
            name = role[:3]
            r = httpx.post(
                orch.url + "/api/v1/users", json={"name": name, "role": role}, headers=head
            )
            assert r.status_code == 201, r.text
            r = httpx.post(
                orch.url + "/api/v1/tokens", json={"name": "t", "user": name}, headers=head
            )
            assert r.status_code == 201, r.text
            tokens[role] = r.json()["token"]
        # device credentials come from join tokens (next session): made in the store here
        store = open_store(sqlite_url(data))
        try:
            device = store.add_user(UserRecord(name="cam-1", role="device"))
            tokens["device"] = new_token()
            store.add_token(TokenRecord(token_sha256(tokens["device"]), "d", device.id, "device"))
        finally:
            store.close()
        yield Fleet(orch, tokens)
    finally:
        orch.stop()


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS.get(m.group(1), "missing"), path)


WALKED = [r for r in RULES if r.access is not Access.OPEN]
CALLERS = ["admin", "developer", "operator", "viewer", "device", None]


@pytest.mark.parametrize("rule", WALKED, ids=[f"{r.method} {r.path}" for r in WALKED])
def test_every_route_for_every_role(fleet: Fleet, rule: Any) -> None:
    for role in CALLERS:
        body = b"{}" if rule.method != "GET" else None
        r = fleet.call(rule.method, _concrete(rule.path), role, content=body)
        who = role or "no token"
        if role is None:
            assert r.status_code == 401, (who, r.text)
            assert r.json()["error"]["code"] == "unauthenticated"
        elif allowed(role, rule.method, rule.path):
            assert r.status_code not in (401, 403), (who, r.status_code, r.text)
        else:
            assert r.status_code == 403, (who, r.status_code, r.text)
            message = r.json()["error"]["message"]
            assert "needs the role" in message and f"has the role {role}" in message


@pytest.mark.parametrize("rule", [r for r in RULES if r.access is Access.OPEN])
def test_open_routes_need_no_token(fleet: Fleet, rule: Any) -> None:
    r = fleet.call(
        rule.method, _concrete(rule.path).replace("/docs/assets/", "/docs/assets/"), None
    )
    assert r.status_code not in (401, 403), r.text


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        ("Basic abc", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer not-a-token", "malformed"),
        ("Bearer wf_" + "A" * 43, "not known"),
    ],
)
def test_bad_credentials_are_401_with_a_sentence(fleet: Fleet, header: str, needle: str) -> None:
    r = httpx.get(fleet.orch.url + "/api/v1/status", headers={"authorization": header})
    assert r.status_code == 401
    assert needle in r.json()["error"]["message"]


def test_expired_and_revoked_tokens_are_refused(fleet: Fleet) -> None:
    head = {"authorization": f"Bearer {fleet.tokens['admin']}"}
    made = httpx.post(
        fleet.orch.url + "/api/v1/tokens", json={"name": "gone", "user": "vie"}, headers=head
    ).json()
    ok = httpx.get(
        fleet.orch.url + "/api/v1/status", headers={"authorization": f"Bearer {made['token']}"}
    )
    assert ok.status_code == 200
    assert httpx.delete(fleet.orch.url + f"/api/v1/tokens/{made['id']}", headers=head).is_success
    r = httpx.get(
        fleet.orch.url + "/api/v1/status", headers={"authorization": f"Bearer {made['token']}"}
    )
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]

    expired = new_token()
    store = open_store(sqlite_url(fleet.orch.data_dir))
    try:
        user = store.get_user("vie")
        assert user is not None
        store.add_token(
            TokenRecord(token_sha256(expired), "old", user.id, "viewer",
                        expires_at=utcnow() - timedelta(hours=1))
        )  # fmt: skip
    finally:
        store.close()
    r = httpx.get(fleet.orch.url + "/api/v1/status", headers={"authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_a_refused_request_changes_nothing_and_changes_are_audited(fleet: Fleet) -> None:
    upload = {"data": {"name": "fibo"}, "files": {"wasm": ("fibo.wasm", WASM, "application/wasm")}}
    before = fleet.call("GET", "/api/v1/modules", "viewer").json()
    fresh = fleet.call("POST", "/api/v1/tokens", "admin", json={"name": "new", "user": "ope"})
    fleet.tokens["fresh"] = fresh.json()["token"]
    assert fleet.call("GET", "/api/v1/users", "fresh").status_code == 403
    r = fleet.call("POST", "/api/v1/modules", "viewer", **upload)
    assert r.status_code == 403 and "developer or admin" in r.json()["error"]["message"]
    r = fleet.call("POST", "/api/v1/modules", None, **upload)
    assert r.status_code == 401
    assert fleet.call("GET", "/api/v1/modules", "viewer").json() == before == []
    after = {t["id"]: t for t in fleet.call("GET", "/api/v1/tokens", "admin").json()}
    assert after[fresh.json()["id"]]["last_used_at"] is None  # refused: not even marked used
    r = fleet.call("POST", "/api/v1/modules", "developer", **upload)
    assert r.status_code == 201, r.text
    entries = fleet.call("GET", "/api/v1/audit", "admin", params={"actor": "dev"}).json()
    newest = entries[0]
    assert (newest["method"], newest["route"], newest["status"], newest["target"]) == (
        "POST",
        "/api/v1/modules",
        201,
        "fibo@1",
    )
    everything = fleet.call("GET", "/api/v1/audit", "admin", params={"limit": 1000}).json()
    assert not [e for e in everything if e["actor"] == "vie" and e["route"] == "/api/v1/modules"]
    users = [e for e in everything if e["route"] == "/api/v1/users"]
    assert {e["target"] for e in users} >= {"dev", "ope", "vie"}
    assert all(e["actor"] == "admin" for e in users)
    bad = fleet.call("GET", "/api/v1/audit", "admin", params={"limit": 10**30})
    assert bad.status_code == 400


def test_a_viewer_manages_only_their_own_tokens(fleet: Fleet) -> None:
    mine = fleet.call("GET", "/api/v1/tokens", "viewer").json()
    assert {t["user"] for t in mine} == {"vie"} and all("token" not in t for t in mine)
    r = fleet.call("POST", "/api/v1/tokens", "viewer", json={"name": "x", "role": "developer"})
    assert r.status_code == 403
    r = fleet.call("POST", "/api/v1/tokens", "viewer", json={"name": "x", "user": "dev"})
    assert r.status_code == 403
    admins = fleet.call("GET", "/api/v1/tokens", "admin").json()
    others = [t for t in admins if t["user"] != "vie"]
    r = fleet.call("DELETE", f"/api/v1/tokens/{others[0]['id']}", "viewer")
    assert r.status_code == 404
    assert fleet.call("GET", "/api/v1/whoami", "viewer").json()["role"] == Role.VIEWER


def test_the_table_lists_every_route_of_the_app() -> None:
    from wasmfleet.orchestrator.app import create_app
    from wasmfleet.orchestrator.settings import OrchestratorSettings

    with tempfile.TemporaryDirectory() as tmp:
        settings = OrchestratorSettings.load(
            env={}, overrides={"data_dir": Path(tmp), "mdns": False}
        )
        app = create_app(settings)
        served = set(_routes(app.router.routes, ""))
        app.state.orchestrator.store.close()
    assert served == {(r.method, r.path) for r in RULES}


def _routes(routes: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's lazily included routers
            inner = prefix + route.include_context.prefix
            yield from _routes(route.original_router.routes, inner)
        elif getattr(route, "methods", None):
            for method in set(route.methods) - {"HEAD"}:
                yield method, prefix + route.path_format
        elif hasattr(route, "routes") or hasattr(route, "app"):  # a Mount of static files
            yield "GET", prefix + route.path + "/{path}"
