"""Versions of small modules that answer differently, and deploy bodies for them.

Shared by tests/integration/test_hot_swap*.py and bench/update.py: each version is built
from WAT with wasmtime, served by a real file server and deployed with a README-shaped body
that names the binary's sha256 (as the orchestrator's documents do).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import wasmtime

from tests.support import FileServer

VERSION_WAT = """
(module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  ;; Which version answered (the tests and the benchmark tell versions apart by it).
  (func (export "version") (result i32)
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.const VERSION))
)
"""

COUNTER_WAT = """
(module
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  ;; One more call; the answer is the count plus OFFSET, which tells the versions apart.
  (func (export "count") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.add (global.get $count) (i32.const OFFSET)))
  HOOKS
)
"""

SNAPSHOT_HOOK = """
  (func (export "wasmfleet_snapshot") (result i64)
    (i32.store (i32.const 16) (global.get $count))
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 4)))
"""

RESTORE_HOOK = """
  (func (export "wasmfleet_restore") (param $ptr i32) (param $len i32) (result i32)
    (if (i32.ne (local.get $len) (i32.const 4)) (then (return (i32.const 2))))
    (global.set $count (i32.load (local.get $ptr)))
    (i32.const ANSWER))
"""


def version_module(version: int) -> bytes:
    """A module whose ``version()`` answers ``version``."""
    return bytes(wasmtime.wat2wasm(VERSION_WAT.replace("VERSION", str(version))))


def counter_module(
    offset: int, *, snapshot: bool = True, restore: bool = True, restore_answer: int = 0
) -> bytes:
    """A counter whose ``count()`` answers count + ``offset``, with the state hooks asked
    for (``restore_answer`` other than 0 makes the new version refuse the state)."""
    hooks = (SNAPSHOT_HOOK if snapshot else "") + (
        RESTORE_HOOK.replace("ANSWER", str(restore_answer)) if restore else ""
    )
    text = COUNTER_WAT.replace("OFFSET", str(offset)).replace("HOOKS", hooks)
    return bytes(wasmtime.wat2wasm(text))


def description(functions: list[str]) -> dict[str, Any]:
    """An OpenAPI description of integer-returning functions without parameters."""
    ok = {
        "description": "The answer.",
        "content": {"application/json": {"schema": {"type": "integer"}}},
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "swap", "version": "1"},
        "paths": {
            f"/{{deployment}}/modules/{{module}}/{fn}": {"get": {"responses": {"200": ok}}}
            for fn in functions
        },
    }


def serve_version(
    files: FileServer, label: str, binary: bytes, functions: list[str]
) -> dict[str, str]:
    """Serve one version of a module; its binary URL, description URL and their sha256."""
    described = json.dumps(description(functions)).encode()
    return {
        "binary": files.add(f"swap/{label}.wasm", binary),
        "description": files.add(f"swap/{label}.json", described),
        "sha256": hashlib.sha256(binary).hexdigest(),
        "description_sha256": hashlib.sha256(described).hexdigest(),
    }


def serve_file(files: FileServer, name: str, data: bytes) -> dict[str, str]:
    """Serve a data file; its name, URL and sha256 (for ``swap_body(data_files=...)``)."""
    return {
        "name": name,
        "url": files.add(f"swap/files/{name}", data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def swap_body(
    dep_id: str,
    module: str,
    served: dict[str, str],
    functions: list[str],
    *,
    epoch: int = 1,
    with_description: bool = True,
    description_sha: bool = True,
    data_files: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A README-shaped deploy body for one served version (binary named by its sha256, and
    its description too unless ``description_sha`` is false); without the description URL
    when asked (the instructions hold what it says); ``data_files`` from ``serve_file``."""
    get = description(functions)["paths"]
    module_doc: dict[str, Any] = {
        "id": f"{module}-{served['sha256'][:8]}",
        "name": module,
        "sha256": served["sha256"],
        "urls": {
            "binary": served["binary"],
            **({"description": served["description"]} if with_description else {}),
            "other": {f["name"]: f["url"] for f in data_files or []},
        },
    }
    if with_description and description_sha:
        module_doc["description_sha256"] = served["description_sha256"]
    if data_files:
        module_doc["files_sha256"] = {f["name"]: f["sha256"] for f in data_files}
    return {
        "deploymentId": dep_id,
        "epoch": epoch,
        "modules": [module_doc],
        "instructions": {
            "modules": {
                module: {
                    fn: {"paths": {"": get[f"/{{deployment}}/modules/{{module}}/{fn}"]}, "to": None}
                    for fn in functions
                }
            }
        },
    }
