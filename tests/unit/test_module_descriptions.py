"""The example modules' description.json files agree with their committed .wasm binaries.

Checks, per module in modules/: the description is OpenAPI 3.0.3 JSON, every function path names an
exported function, parameters and the result match the Wasm signature, mounts are well formed and
agree with the request body and response, and imports are the documented host functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import wasmtime

MODULES_DIR = Path(__file__).resolve().parents[2] / "modules"
MODULE_NAMES = sorted(
    p.name for p in MODULES_DIR.iterdir() if p.is_dir() and (p / f"{p.name}.c").is_file()
)
EXPECTED_MODULES = {"camera", "counter", "faults", "fibo", "sensors", "stamp"}

PATH_PREFIX = "/{deployment}/modules/{module}/"
STAGES = {"deployment", "execution", "output"}
# Exports that are part of the ABI, not HTTP endpoints.
ABI_EXPORTS = {"_initialize", "alloc"}
WASM_SCHEMAS = {
    "i32": ("integer", "int32"),
    "i64": ("integer", "int64"),
    "f32": ("number", "float"),
    "f64": ("number", "double"),
}
# The wasmiot host functions (modules/include/wasmiot.h) as (params, results).
HOST_IMPORTS = {
    ("camera", "takeImageDynamicSize"): (("i32", "i32"), ()),
    ("camera", "takeImageStaticSize"): (("i32", "i32"), ()),
    ("sys", "millis"): ((), ("i32",)),
    ("sys", "delay"): (("i32",), ()),
    ("sys", "print"): (("i32", "i32"), ()),
    ("sys", "println"): (("i32", "i32"), ()),
    ("sys", "printInt"): (("i32",), ()),
    ("dht", "getTemperature"): ((), ("f32",)),
    ("dht", "getHumidity"): ((), ("f32",)),
    ("communication", "rpcCall"): (("i32",) * 6, ("i32",)),
    # ... and the wasmfleet ones (modules/include/wasmfleet.h)
    ("wasmfleet", "publish"): (("i32",) * 5, ("i32",)),
    ("wasmfleet", "message_topic"): (("i32", "i32"), ("i32",)),
    ("wasmfleet", "image_decode"): (("i32",) * 5, ("i32",)),
    ("wasmfleet", "image_encode"): (("i32",) * 6, ("i32",)),
    ("wasmfleet", "qoa_report"): (("f32", "f32"), ("i32",)),
    ("wasmfleet", "thing_read"): (("i32",) * 4, ("i32",)),
    ("wasmfleet", "thing_send"): (("i32",) * 4, ("i32",)),
    ("wasmfleet", "param"): (("i32",) * 4, ("i32",)),
    # ... and WASI-NN preview1 (modules/include/wasi_nn.h)
    ("wasi_ephemeral_nn", "load"): (("i32",) * 5, ("i32",)),
    ("wasi_ephemeral_nn", "load_by_name"): (("i32",) * 3, ("i32",)),
    ("wasi_ephemeral_nn", "init_execution_context"): (("i32",) * 2, ("i32",)),
    ("wasi_ephemeral_nn", "set_input"): (("i32",) * 3, ("i32",)),
    ("wasi_ephemeral_nn", "compute"): (("i32",), ("i32",)),
    ("wasi_ephemeral_nn", "get_output"): (("i32",) * 5, ("i32",)),
}

ENGINE = wasmtime.Engine()


def func_sig(ty: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A function type as (param type names, result type names)."""
    return tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results)


def load_module(name: str) -> wasmtime.Module:
    """Compile the committed binary of a module."""
    return wasmtime.Module(ENGINE, (MODULES_DIR / name / f"{name}.wasm").read_bytes())


def load_description(name: str) -> dict[str, Any]:
    """Parse a module's description.json."""
    doc = json.loads((MODULES_DIR / name / "description.json").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def exported_funcs(module: wasmtime.Module) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Exported functions of a module by name."""
    return {
        e.name: func_sig(e.type) for e in module.exports if isinstance(e.type, wasmtime.FuncType)
    }


def operations(doc: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """Function name -> (method, operation, path item) for every path of a description."""
    found = {}
    for path, item in doc["paths"].items():
        assert path.startswith(PATH_PREFIX), path
        function = path.removeprefix(PATH_PREFIX)
        assert function and "/" not in function, path
        methods = [key for key in item if key in ("get", "post", "put", "delete", "patch")]
        assert len(methods) == 1, f"{path}: expected one operation, got {methods}"
        found[function] = (methods[0], item[methods[0]], item)
    return found


def all_operations() -> list[tuple[str, str]]:
    """(module, function) pairs of every description, for parametrisation."""
    return [(m, f) for m in MODULE_NAMES for f in sorted(operations(load_description(m)))]


def test_expected_modules_are_present() -> None:
    assert set(MODULE_NAMES) >= EXPECTED_MODULES


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_files_and_info(name: str) -> None:
    assert (MODULES_DIR / name / f"{name}.wasm").is_file()
    doc = load_description(name)
    assert doc["openapi"] == "3.0.3"
    info = doc["info"]
    assert info["title"] == name
    assert isinstance(info["version"], str) and info["version"]
    assert isinstance(info["description"], str) and info["description"]
    assert doc["paths"], "a module describes at least one function"


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_every_endpoint_function_is_described(name: str) -> None:
    described = set(operations(load_description(name)))
    exported = set(exported_funcs(load_module(name)))
    assert described <= exported, f"described but not exported: {described - exported}"
    assert exported - ABI_EXPORTS == described, "exported functions without a path"


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_imports_are_wasi_or_wasmiot_host_functions(name: str) -> None:
    module = load_module(name)
    for imp in module.imports:
        assert isinstance(imp.type, wasmtime.FuncType), f"{imp.module}.{imp.name} is not a func"
        if imp.module == "wasi_snapshot_preview1":
            continue
        key = (imp.module, imp.name)
        assert key in HOST_IMPORTS, f"unknown host import {imp.module}.{imp.name}"
        assert func_sig(imp.type) == HOST_IMPORTS[key], f"{imp.module}.{imp.name} signature"
    names = {(imp.module, imp.name) for imp in module.imports}
    if ("camera", "takeImageDynamicSize") in names:
        assert exported_funcs(module).get("alloc") == (("i32",), ("i32",))


@pytest.mark.parametrize(("name", "function"), all_operations())
def test_operation_matches_wasm_signature(name: str, function: str) -> None:
    method, op, item = operations(load_description(name))[function]
    params, results = exported_funcs(load_module(name))[function]

    path_params = {p["name"]: p for p in item["parameters"]}
    assert set(path_params) == {"deployment", "module"}
    assert all(p["in"] == "path" and p["required"] is True for p in path_params.values())

    declared = op["parameters"]
    assert len(declared) == len(params), "parameter count differs from the Wasm function"
    for param, wasm_type in zip(declared, params, strict=True):
        assert param["in"] == "query" and param["required"] is True, param
        schema = param["schema"]
        assert (schema["type"], schema["format"]) == WASM_SCHEMAS[wasm_type], param["name"]

    assert len(results) == 1, "the wasmiot ABI has exactly one scalar result"
    content = op["responses"]["200"]["content"]
    assert len(content) == 1
    media_type, media = next(iter(content.items()))
    outputs = [m for m in op["x-mounts"] if m["stage"] == "output"]
    if outputs:
        assert len(outputs) == 1
        assert media_type == outputs[0]["media_type"]
        assert media["schema"]["type"] == "string"
    else:
        assert media_type == "application/json"
        schema = media["schema"]
        assert (schema["type"], schema["format"]) == WASM_SCHEMAS[results[0]]

    example = op["x-example"]
    assert set(example) == {p["name"] for p in declared}
    for param in declared:
        value = example[param["name"]]
        kind = int if param["schema"]["type"] == "integer" else (int, float)
        assert isinstance(value, kind) and not isinstance(value, bool), param["name"]
    assert method == ("post" if "requestBody" in op else "get")


@pytest.mark.parametrize(("name", "function"), all_operations())
def test_mounts(name: str, function: str) -> None:
    _, op, _ = operations(load_description(name))[function]
    mounts = op["x-mounts"]
    assert isinstance(mounts, list)
    for mount in mounts:
        assert set(mount) == {"name", "stage", "media_type"}, mount
        assert mount["stage"] in STAGES, mount
        assert isinstance(mount["name"], str) and mount["name"]
        assert "/" not in mount["name"], "mounts are files in the module's own directory"
        assert isinstance(mount["media_type"], str) and "/" in mount["media_type"]
    assert len({m["name"] for m in mounts}) == len(mounts), "duplicate mount names"

    execution = {m["name"]: m["media_type"] for m in mounts if m["stage"] == "execution"}
    if execution:
        body = op["requestBody"]["content"]["multipart/form-data"]
        assert set(body["schema"]["properties"]) == set(execution)
        for mount_name, prop in body["schema"]["properties"].items():
            assert prop == {"type": "string", "format": "binary"}
            assert body["encoding"][mount_name]["contentType"] == execution[mount_name]
        assert set(op.get("x-example-files", {})) <= set(execution)
    else:
        assert "requestBody" not in op
    for mount in mounts:
        if mount["stage"] == "deployment":
            # The data file a deployment ships is committed beside the module.
            assert (MODULES_DIR / name / mount["name"]).is_file(), mount["name"]
