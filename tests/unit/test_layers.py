"""Layers: core/ is pure (no I/O imports) and the two services never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "wasmfleet" / "core"
FORBIDDEN = {
    "asyncio", "socket", "subprocess", "httpx", "requests", "starlette", "fastapi", "uvicorn",
    "sqlalchemy", "wasmtime", "zeroconf", "paho", "aiomqtt", "amqtt", "psutil", "threading",
    "wasmfleet.runtime", "wasmfleet.supervisor", "wasmfleet.orchestrator", "wasmfleet.cli",
    "wasmfleet.messaging", "wasmfleet.ml",
}  # fmt: skip


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: p.name)
def test_core_module_imports_no_io(path: Path) -> None:
    bad = {
        name
        for name in _imports(path)
        for banned in FORBIDDEN
        if name == banned or name.startswith(banned + ".")
    }
    assert not bad, f"{path.name} imports {sorted(bad)}; core/ must stay free of I/O"


def test_the_check_sees_core_files() -> None:
    assert len(list(CORE.rglob("*.py"))) >= 5


PACKAGE = CORE.parent
APART = {
    "supervisor": ("wasmfleet.orchestrator", "wasmfleet.cli"),
    "orchestrator": ("wasmfleet.supervisor", "wasmfleet.cli"),
    "service": ("wasmfleet.supervisor", "wasmfleet.orchestrator", "wasmfleet.cli"),
    "messaging": ("wasmfleet.supervisor", "wasmfleet.orchestrator", "wasmfleet.cli"),
    "runtime": ("wasmfleet.supervisor", "wasmfleet.orchestrator", "wasmfleet.cli"),
    "sim": ("wasmfleet.supervisor", "wasmfleet.orchestrator", "wasmfleet.cli", "wasmfleet.runtime"),
}
"""Package -> what it must never import. The two services talk over HTTP and MQTT only;
what both need lives in ``service/`` (plumbing) or ``core/`` (the wire contract)."""


@pytest.mark.parametrize(
    "path",
    sorted(p for name in APART for p in (PACKAGE / name).rglob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_services_do_not_import_each_other(path: Path) -> None:
    package = path.relative_to(PACKAGE).parts[0]
    bad = {
        name
        for name in _imports(path)
        for banned in APART[package]
        if name == banned or name.startswith(banned + ".")
    }
    assert not bad, f"{package}/{path.name} imports {sorted(bad)}; move the shared part to service/"
