"""core.module_check: imports, reactor model, memory and descriptions against the exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from wasmfleet.core import host_catalog
from wasmfleet.core.module_check import (
    DEFAULT_MEMORY_LIMIT,
    CheckReport,
    ModuleCheckFailed,
    check_module,
)
from wasmfleet.core.protocol import ErrorCode
from wasmfleet.core.wasm_sections import u32_bytes
from wasmfleet.runtime.host.functions import BUILDERS, HOST_FUNCTIONS, HostDevices, signature_text
from wasmfleet.runtime.limits import RuntimeLimits

MODULES = Path(__file__).resolve().parents[2] / "modules"
EXAMPLES = sorted(p.parent for p in MODULES.glob("*/description.json"))
REACTOR = '(memory (export "memory") 1) (func (export "_initialize"))'


def wat(body: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {body})"))


def codes(report: CheckReport, level: str | None = None) -> list[str]:
    return [f.code for f in report.findings if level is None or f.level == level]


def only(report: CheckReport, code: str) -> str:
    found = [f.message for f in report.findings if f.code == code]
    assert len(found) == 1, report.findings
    return found[0]


def describe(name: str, op: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.0.3", "paths": {f"/{{deployment}}/modules/m/{name}": {"get": op}}}


def query(*params: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "schema": {"type": t}} for n, t in params]


def answers(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {"200": {"description": "ok", "content": {media: {"schema": schema}}}}


@pytest.mark.parametrize("folder", EXAMPLES, ids=lambda p: p.name)
def test_every_example_module_passes_with_its_description(folder: Path) -> None:
    wasm = (folder / f"{folder.name}.wasm").read_bytes()
    description = json.loads((folder / "description.json").read_text())
    for audience in ("author", "device", "fleet"):
        report = check_module(wasm, description, audience=audience)  # type: ignore[arg-type]
        assert report.ok, [f.message for f in report.errors]
    assert "undescribed_export" not in codes(report)


def test_a_typo_in_an_import_suggests_the_real_name_and_who_offers_it() -> None:
    report = check_module(wat(f'(import "dht" "getTemp" (func (result f32))) {REACTOR}'), None)
    message = only(report, "unknown_import")
    assert "dht.getTemp" in message and "Did you mean dht.getTemperature" in message
    assert "--sensors" in message and not report.ok


def test_an_unknown_wasi_function_is_named() -> None:
    report = check_module(
        wat(f'(import "wasi_snapshot_preview1" "fd_wirte" (func (param i32))) {REACTOR}'), None
    )
    assert "wasi_snapshot_preview1.fd_write" in only(report, "unknown_import")


def test_a_known_import_with_another_signature_says_which_it_should_be() -> None:
    report = check_module(wat(f'(import "sys" "delay" (func (param i64))) {REACTOR}'), None)
    message = only(report, "import_signature")
    assert "(i64) -> ()" in message and "(i32) -> ()" in message and not report.ok


def test_a_memory_import_is_refused_with_the_flag_to_drop() -> None:
    report = check_module(wat('(import "env" "memory" (memory 1))'), None)
    assert "--import-memory" in only(report, "unknown_import")


def test_host_functions_only_some_devices_offer_name_the_device_option() -> None:
    wasm = wat(
        '(import "wasmfleet" "publish" (func (param i32 i32 i32 i32 i32) (result i32)))'
        '(import "wasmfleet" "message_topic" (func (param i32 i32) (result i32)))' + REACTOR
    )
    author = check_module(wasm, None)
    message = only(author, "not_offered")
    assert author.ok and "wasmfleet.publish, wasmfleet.message_topic" in message
    assert "--broker" in message
    assert codes(check_module(wasm, None, audience="device")) == []
    lacking = check_module(wasm, None, lacking=frozenset({"broker"}), audience="device")
    assert codes(lacking, "error") == ["not_offered"]
    assert "no MQTT broker" in lacking.errors[0].message


def test_an_orchestrator_only_warns_about_imports_devices_may_differ_on() -> None:
    wasm = wat(f'(import "gpio" "write" (func (param i32))) {REACTOR}')
    assert codes(check_module(wasm, None, audience="fleet")) == ["unknown_import"]
    assert check_module(wasm, None, audience="fleet").ok
    assert not check_module(wasm, None, audience="device").ok


def test_env_abort_is_offered_everywhere() -> None:
    wasm = wat(f'(import "env" "abort" (func (param i32 i32 i32 i32))) {REACTOR}')
    assert check_module(wasm, None).findings == ()


def _with_producers(wasm: bytes, language: str) -> bytes:
    def name(text: str) -> bytes:
        return u32_bytes(len(text)) + text.encode()

    body = name("producers") + b"\x01" + name("language") + b"\x01" + name(language) + name("1")
    return wasm + b"\x00" + u32_bytes(len(body)) + body


@pytest.mark.parametrize(
    ("language", "fix"),
    [
        (None, "-mexec-model=reactor"),
        ("C11", "-mexec-model=reactor"),
        ("Rust", "cdylib"),
        ("AssemblyScript", "--exportStart _initialize"),
    ],
)
def test_a_wasi_command_is_no_reactor_with_the_fix_for_its_language(
    language: str | None, fix: str
) -> None:
    wasm = wat('(memory (export "memory") 1) (func (export "_start"))')
    if language is not None:
        wasm = _with_producers(wasm, language)
    message = only(check_module(wasm, None), "no_reactor")
    assert fix in message and "_initialize" in message
    if language == "Rust":
        assert "-mexec-model" not in message


def test_neither_start_nor_initialize_is_fine() -> None:
    assert check_module(wat('(memory (export "memory") 1)'), None).findings == ()


def test_initial_memory_above_the_limit_is_refused() -> None:
    wasm = wat('(memory (export "memory") 5000)')  # 312.5 MiB
    message = only(check_module(wasm, None), "memory_limit")
    assert "5000 pages" in message and "--memory-limit" in message
    assert check_module(wasm, None, memory_limit_bytes=400 * 1024 * 1024).findings == ()
    assert check_module(wasm, None, audience="fleet").ok


def test_garbage_is_not_wasm() -> None:
    report = check_module(b"#include <stdio.h>", None)
    assert codes(report) == ["not_wasm"] and not report.ok


CHECK = f'{REACTOR} (func (export "check") (param f32 i32) (result i32) i32.const 0)'


def test_a_description_with_fewer_parameters_than_the_function_takes_is_an_error() -> None:
    doc = describe("check", {"parameters": query(("limit", "number")), "responses": {}})
    message = only(check_module(wat(CHECK), doc), "param_count")
    assert "1 parameter(s) (limit)" in message and "takes 2 (f32, i32)" in message


def test_no_parameters_described_is_a_warning_about_positions() -> None:
    report = check_module(wat(CHECK), describe("check", {"responses": {}}))
    assert report.ok and "by position" in only(report, "param_count")


@pytest.mark.parametrize(
    ("types", "level", "words"),
    [
        (("integer", "integer"), "error", "is f32 in Wasm but described as integer"),
        (("number", "number"), "error", "is i32 in Wasm but described as number"),
        (("number", "string"), "warning", "casts the text to i32"),
        (("number", "boolean"), "error", "cannot be passed"),
    ],
)
def test_schema_types_against_wasm_types(types: tuple[str, str], level: str, words: str) -> None:
    params = query(("limit", types[0]), ("count", types[1]))
    report = check_module(wat(CHECK), describe("check", {"parameters": params}))
    assert codes(report) == ["param_type"]
    assert report.findings[0].level == level and words in report.findings[0].message


def test_matching_types_pass() -> None:
    params = query(("limit", "number"), ("count", "integer"))
    op = {"parameters": params, "responses": answers({"type": "integer"})}
    assert check_module(wat(CHECK), describe("check", op)).findings == ()


def test_int64_for_an_i32_parameter_is_a_warning() -> None:
    params = [
        *query(("limit", "number")),
        {"name": "n", "schema": {"type": "integer", "format": "int64"}},
    ]
    report = check_module(wat(CHECK), describe("check", {"parameters": params}))
    assert report.ok and "int64" in only(report, "param_type")


FLOATY = f'{REACTOR} (func (export "f") (result f32) f32.const 1) (func (export "v"))'


@pytest.mark.parametrize(
    ("name", "response", "words"),
    [
        ("f", answers({"type": "integer"}), "returns f32 but is described as returning integer"),
        ("v", answers({"type": "number"}), "returns nothing"),
        ("v", answers({"type": "string"}), "returns nothing and has no output mount"),
        ("f", answers({"type": "string", "format": "binary"}, "image/jpeg"), "output mount"),
    ],
)
def test_results_against_the_response(name: str, response: dict[str, Any], words: str) -> None:
    report = check_module(wat(FLOATY), describe(name, {"responses": response}))
    assert words in only(report, "result_type") and not report.ok


def test_a_file_response_with_an_output_mount_is_fine() -> None:
    op = {
        "responses": answers({"type": "string", "format": "binary"}, "image/jpeg"),
        "x-mounts": [{"name": "out.jpg", "stage": "output", "media_type": "image/jpeg"}],
    }
    assert codes(check_module(wat(FLOATY), describe("v", op))) == ["undescribed_export"]


def test_an_i32_described_as_a_string_is_most_likely_a_pointer() -> None:
    wasm = wat(f'{REACTOR} (func (export "name") (result i32) i32.const 1024)')
    report = check_module(wasm, describe("name", {"responses": answers({"type": "string"})}))
    assert report.ok and "pointer" in only(report, "pointer_result")


def test_described_functions_the_module_lacks_and_exports_left_undescribed() -> None:
    wasm = wat(
        f'{REACTOR} (func (export "fibo") (param i64) (result i64) local.get 0)'
        '(func (export "alloc") (param i32) (result i32) i32.const 0)'
        '(func (export "helper"))'
    )
    report = check_module(wasm, describe("fib", {"responses": {}}))
    assert "Did you mean fibo?" in only(report, "missing_export")
    undescribed = [f.message for f in report.findings if f.code == "undescribed_export"]
    assert len(undescribed) == 2 and all("alloc" not in m for m in undescribed)


BYTES = (
    f'{REACTOR} (func (export "alloc") (param i32) (result i32) i32.const 16)'
    '(func (export "check") (param i32 i32) (result i64) i64.const 0)'
    '(func (export "scalar") (param f32) (result i64) i64.const 0)'
)


def _bytes_op(output: str | None = "application/json", **extra: Any) -> dict[str, Any]:
    return {
        "requestBody": {"content": {"application/json": {"schema": {"type": "string"}}}},
        "x-bytes": {"input": "application/json", "output": output},
        "responses": answers({"type": "string"}),
        **extra,
    }


def test_a_bytes_function_described_with_x_bytes_passes() -> None:
    report = check_module(wat(BYTES), describe("check", _bytes_op()))
    assert codes(report, "error") == []


def test_a_bytes_description_for_a_scalar_function_or_without_alloc_is_an_error() -> None:
    report = check_module(wat(BYTES), describe("scalar", _bytes_op()))
    assert "(i32 ptr, i32 len)" in only(report, "param_type")
    no_alloc = BYTES.replace('(export "alloc")', '(export "other")')
    report = check_module(wat(no_alloc), describe("check", _bytes_op()))
    assert "alloc(i32 len) -> i32" in only(report, "missing_export")
    report = check_module(
        wat(BYTES), describe("check", _bytes_op(parameters=query(("n", "integer"))))
    )
    assert "body only" in only(report, "param_count")


def test_bytes_out_need_the_packed_i64() -> None:
    wasm = wat(
        f'{REACTOR} (func (export "alloc") (param i32) (result i32) i32.const 16)'
        '(func (export "check") (param i32 i32) (result i32) i32.const 0)'
    )
    assert "packed i64" in only(check_module(wasm, describe("check", _bytes_op())), "result_type")
    assert check_module(wasm, describe("check", _bytes_op(output=None))).ok


def test_the_refusal_lists_every_error_and_carries_the_first_code() -> None:
    doc = describe("check", {"parameters": query(("limit", "integer"), ("n", "integer"))})
    report = check_module(wat(f'(import "dht" "getTemp" (func)) {CHECK}'), doc)
    err = ModuleCheckFailed("Module 'm'", report.errors)
    body = err.to_dict()["error"]
    assert isinstance(body, dict) and err.status == 422
    assert body["code"] == "unknown_import"
    assert [f["code"] for f in body["findings"]] == ["unknown_import", "param_type"]
    assert "getTemp" in err.message and "described as integer" in err.message


def test_every_code_is_an_error_code_of_the_protocol() -> None:
    source = "".join(
        (Path(__file__).resolve().parents[2] / "src/wasmfleet/core" / name).read_text()
        for name in ("module_check.py", "function_check.py")
    )
    used = {code for code in ErrorCode if f'"{code.value}"' in source}
    for code in ("not_wasm", "unknown_import", "import_signature", "not_offered", "no_reactor",
                 "undescribed_export", "missing_export", "param_count", "param_type",
                 "result_type", "pointer_result", "memory_limit"):  # fmt: skip
        assert ErrorCode(code) in used


def test_the_default_memory_limit_is_the_runtime_default() -> None:
    assert RuntimeLimits().memory_limit_bytes == DEFAULT_MEMORY_LIMIT


def test_the_runtime_implements_exactly_the_catalogue() -> None:
    listed = {
        (e.qualified, signature_text(s)) for e in host_catalog.HOST_CATALOG for s in e.signatures
    }
    assert listed == set(BUILDERS)
    assert [f.qualified for f in HOST_FUNCTIONS] == [e.qualified for e in host_catalog.HOST_CATALOG]
    needs = {e.needs for e in host_catalog.HOST_CATALOG} - {None}
    assert needs == set(host_catalog.NEEDS)
    nothing = HostDevices(None, None, images=False, nn=None)
    assert nothing.lacking == frozenset(host_catalog.NEEDS)
