"""The route → role table of core/rbac.py."""

from __future__ import annotations

import pytest

from wasmfleet.core.rbac import (
    HUMAN_ROLES,
    LEVELS,
    RULES,
    Access,
    Role,
    allowed,
    covers,
    is_open,
    markdown_table,
    needed_roles,
    roles_for,
    rule_for,
)


def test_every_route_is_listed_once() -> None:
    keys = [(r.method, r.path) for r in RULES]
    assert len(keys) == len(set(keys))
    assert all(r.method in ("GET", "POST", "PUT", "DELETE") for r in RULES)


def test_admin_may_call_every_route_and_viewers_only_read() -> None:
    for rule in RULES:
        assert allowed(Role.ADMIN, rule.method, rule.path), rule
        if rule.method != "GET" and rule.access is not Access.SIGNED_IN:
            assert not allowed(Role.VIEWER, rule.method, rule.path), rule


def test_developer_and_operator_cover_viewer() -> None:
    for rule in RULES:
        if allowed(Role.VIEWER, rule.method, rule.path):
            assert allowed(Role.DEVELOPER, rule.method, rule.path)
            assert allowed(Role.OPERATOR, rule.method, rule.path)


@pytest.mark.parametrize(
    ("role", "method", "path", "expected"),
    [
        ("viewer", "GET", "/api/v1/modules", True),
        ("viewer", "POST", "/api/v1/modules", False),
        ("developer", "POST", "/api/v1/modules", True),
        ("operator", "POST", "/api/v1/modules", False),
        ("operator", "POST", "/api/v1/rollouts", True),
        ("developer", "POST", "/api/v1/rollouts", False),
        ("developer", "POST", "/api/v1/deployments", True),
        ("operator", "POST", "/api/v1/deployments", True),
        ("operator", "GET", "/api/v1/audit", False),
        ("device", "POST", "/api/v1/heartbeat", True),
        ("device", "GET", "/file/module/{module_id}/wasm", True),
        ("device", "GET", "/api/v1/modules", False),
        ("viewer", "POST", "/api/v1/heartbeat", False),
        ("viewer", "HEAD", "/api/v1/status", True),
        ("admin", "GET", "/not/in/the/table", False),
        ("root", "GET", "/api/v1/status", False),
    ],
)
def test_allowed(role: str, method: str, path: str, expected: bool) -> None:
    assert allowed(role, method, path) is expected


def test_open_routes_are_the_probes_and_documents() -> None:
    opened = {r.path for r in RULES if is_open(r.method, r.path)}
    assert {"/livez", "/readyz", "/docs", "/openapi.json"} <= opened
    assert all(not p.startswith(("/api/", "/file/", "/execute", "/device/")) for p in opened)
    assert not is_open("GET", "/api/v1/status")
    assert roles_for("GET", "/unknown") == frozenset()


def test_changes_are_audited_except_device_chatter_and_runs() -> None:
    rule = rule_for("POST", "/api/v1/modules")
    assert rule is not None and rule.audited and not rule.wasmiot
    for method, path in [
        ("POST", "/api/v1/heartbeat"),
        ("POST", "/device/logs"),
        ("POST", "/execute/{key}"),
        ("GET", "/api/v1/modules"),
    ]:
        found = rule_for(method, path)
        assert found is not None and not found.audited, path
    wasmiot = rule_for("POST", "/file/module")
    assert wasmiot is not None and wasmiot.wasmiot and wasmiot.audited


def test_the_roles_needed_read_as_words() -> None:
    assert needed_roles("POST", "/api/v1/deployments") == "developer, operator or admin"
    assert needed_roles("GET", "/api/v1/audit") == "admin"
    assert "not in the access table" in needed_roles("GET", "/nope")


def test_who_may_hand_out_which_role() -> None:
    assert all(covers(Role.ADMIN, r) for r in Role)
    assert covers("developer", "viewer") and not covers("developer", "operator")
    assert not covers("viewer", "developer") and not covers("viewer", "bogus")
    assert set(HUMAN_ROLES) - {Role.END_USER} == LEVELS[Access.VIEW]
    assert LEVELS[Access.CATALOG] == set(HUMAN_ROLES)
    assert covers("operator", "end-user") and not covers("end-user", "viewer")
    assert covers("developer", "ai-developer") and covers("developer", "app-developer")
    assert not covers("configurer", "developer")


@pytest.mark.parametrize(
    ("role", "level", "expected"),
    [
        ("configurer", Access.CONFIGURE, True),
        ("developer", Access.CONFIGURE, False),
        ("ai-developer", Access.DEVELOP, True),
        ("ai-developer", Access.PUBLISH, False),
        ("app-developer", Access.PUBLISH, True),
        ("app-developer", Access.DEVELOP, False),
        ("developer", Access.PUBLISH, True),
        ("end-user", Access.INSTALL, True),
        ("end-user", Access.VIEW, False),
        ("end-user", Access.CATALOG, True),
        ("viewer", Access.INSTALL, False),
        ("operator", Access.INSTALL, True),
    ],
)
def test_the_platform_roles_of_the_seed(role: str, level: Access, expected: bool) -> None:
    assert (Role(role) in LEVELS[level]) is expected


def test_docs_security_carries_the_table() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    start, end = "<!-- rbac-table:start -->\n", "<!-- rbac-table:end -->"
    shown = doc.split(start, 1)[1].split(end, 1)[0]
    assert shown == markdown_table(), (
        "docs/security.md's route table differs from core/rbac.py: paste the output of "
        "python -c 'from wasmfleet.core.rbac import markdown_table; print(markdown_table())'"
    )
