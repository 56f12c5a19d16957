"""core/ is pure: it must not import I/O libraries or the service layers (design.md §3)."""

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
