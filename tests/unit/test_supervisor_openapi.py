"""The supervisor's hand-written OpenAPI document and its route table cannot drift apart."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from starlette.routing import Route

from wasmfleet.supervisor.openapi import PATHS, openapi_document
from wasmfleet.supervisor.routes import SupervisorRoutes

METHODS = {"get", "post", "put", "delete", "patch"}


def _route_table() -> set[tuple[str, str]]:
    async def probe(request: Any) -> None:
        return None

    sup = SimpleNamespace(settings=None)
    probes = SimpleNamespace(livez=probe, readyz=probe)
    routes = SupervisorRoutes(sup, probe, probes).routes()  # type: ignore[arg-type]
    table = set()
    for route in routes:
        assert isinstance(route, Route)
        for method in route.methods or ():
            if method != "HEAD":  # Starlette adds HEAD to every GET
                table.add((route.path, method.lower()))
    return table


def _documented() -> set[tuple[str, str]]:
    return {(path, m) for path, item in PATHS.items() for m in item if m in METHODS}


def test_every_route_is_documented_and_every_documented_path_is_a_route() -> None:
    routes, documented = _route_table(), _documented()
    assert routes - documented == set(), "routes missing from supervisor/openapi.py"
    assert documented - routes == set(), "documented operations that are not routes"


def test_path_parameters_are_declared_for_every_operation() -> None:
    for path, item in PATHS.items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method.upper()} {path}"


def test_the_document_is_openapi_with_error_answers_in_the_shared_shape() -> None:
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    for item in doc["paths"].values():
        for op in item.values():
            for status, answer in op["responses"].items():
                if status.startswith("4"):
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema["required"] == ["error"]
