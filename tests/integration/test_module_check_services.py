"""The module checker where modules enter: a real supervisor's deploy, a real orchestrator's
upload and description, and ``wasmfleet module check`` as a process; plus ``env.abort``."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from tests.integration.fleet import Fleet, running_fleet
from tests.support import MODULES, FileServer, description_upload

REACTOR = '(memory (export "memory") 1) (func (export "_initialize"))'
CHECK = f'{REACTOR} (func (export "check") (param f32 i32) (result i32) i32.const 0)'


def wat(body: str) -> bytes:
    return bytes(wasmtime.wat2wasm(f"(module {body})"))


def openapi(name: str, op: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "m", "version": "1"},
        "paths": {f"/{{deployment}}/modules/m/{name}": {"get": op}},
    }


def query(*params: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"name": n, "in": "query", "required": True, "schema": {"type": t}} for n, t in params]


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["status"] == status and len(error["message"]) > 30
    return error


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("check"), ("chk", [])) as running:
        yield running


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FileServer]:
    with FileServer(tmp_path_factory.mktemp("served")) as server:
        yield server


def deploy(
    fleet: Fleet, files: FileServer, name: str, wasm: bytes, description: Any = None
) -> httpx.Response:
    """Deploy one module straight to the supervisor (README shape, functions from the
    description when there is one)."""
    urls: dict[str, Any] = {"binary": files.add(f"{name}.wasm", wasm), "other": []}
    if description is not None:
        urls["description"] = files.add(f"{name}.json", json.dumps(description).encode())
    body = {
        "deploymentId": f"dep-{name}",
        "modules": [{"id": name, "name": name, "urls": urls}],
        "instructions": {"modules": {}},
    }
    return fleet.supervisors["chk"].deploy(body)


# -- the supervisor ------------------------------------------------------------------------


def test_a_description_unlike_the_export_is_refused_at_deploy(
    fleet: Fleet, files: FileServer
) -> None:
    doc = openapi("check", {"parameters": query(("limit", "number")), "responses": {}})
    error = error_of(deploy(fleet, files, "short", wat(CHECK), doc), 422)
    assert error["code"] == "param_count"
    assert "takes 2 (f32, i32)" in error["message"]
    assert [f["code"] for f in error["findings"]] == ["param_count"]
    doc = openapi("check", {"parameters": query(("limit", "integer"), ("n", "integer"))})
    error = error_of(deploy(fleet, files, "typed", wat(CHECK), doc), 422)
    assert error["code"] == "param_type" and "described as integer" in error["message"]
    deployed = fleet.supervisors["chk"].get("/deploy").text
    assert "dep-short" not in deployed and "dep-typed" not in deployed


def test_the_same_module_described_right_deploys_and_answers(
    fleet: Fleet, files: FileServer
) -> None:
    doc = openapi(
        "check",
        {
            "parameters": query(("limit", "number"), ("n", "integer")),
            "responses": {
                "200": {
                    "description": "ok",
                    "content": {"application/json": {"schema": {"type": "integer"}}},
                }
            },
        },
    )
    assert deploy(fleet, files, "right", wat(CHECK), doc).status_code == 200
    answer = fleet.supervisors["chk"].get("/dep-right/modules/right/check?limit=1.5&n=2")
    assert answer.status_code == 200 and answer.json()["result"] == "0", answer.text


def test_a_wasi_command_and_too_much_memory_are_refused_at_deploy(
    fleet: Fleet, files: FileServer
) -> None:
    command = wat('(memory (export "memory") 1) (func (export "_start")) (func (export "f"))')
    error = error_of(deploy(fleet, files, "cmd", command), 422)
    assert error["code"] == "no_reactor" and "-mexec-model=reactor" in error["message"]
    huge = wat('(memory (export "memory") 5000) (func (export "f"))')
    error = error_of(deploy(fleet, files, "huge", huge), 422)
    assert error["code"] == "memory_limit" and "256 MiB" in error["message"]


def test_a_typo_in_an_import_keeps_the_missing_imports_shape_with_a_hint(
    fleet: Fleet, files: FileServer
) -> None:
    wasm = wat(f'(import "dht" "getTemp" (func (result f32))) {REACTOR}')
    error = error_of(deploy(fleet, files, "typo", wasm), 422)
    assert error["code"] == "missing_imports"
    assert any("did you mean dht.getTemperature" in m for m in error["missing"]), error


def _abort_module() -> bytes:
    """A module calling env.abort as AssemblyScript does (strings: u32 byte length first)."""
    message, file_name = "boom".encode("utf-16-le"), "assembly/index.ts".encode("utf-16-le")
    data = struct.pack("<I", len(message)) + message
    file_at = 16 + len(data) + 4
    data += struct.pack("<I", len(file_name)) + file_name
    escaped = "".join(f"\\{b:02x}" for b in data)
    return wat(
        '(import "env" "abort" (func $abort (param i32 i32 i32 i32)))'
        f'(memory (export "memory") 1) (data (i32.const 16) "{escaped}")'
        '(func (export "_initialize"))'
        f'(func (export "fail") (result i32) i32.const 20 i32.const {file_at} i32.const 7 '
        "i32.const 3 call $abort i32.const 0)"
    )


def test_env_abort_deploys_everywhere_and_traps_with_assemblyscripts_message(
    fleet: Fleet, files: FileServer
) -> None:
    doc = openapi("fail", {"responses": {}})
    assert deploy(fleet, files, "as", _abort_module(), doc).status_code == 200
    answer = fleet.supervisors["chk"].get("/dep-as/modules/as/fail")
    assert answer.status_code == 500, answer.text
    assert "abort: boom at assembly/index.ts:7:3" in answer.json()["error"]["message"]
    interfaces = fleet.supervisors["chk"].get("/.well-known/wasmiot-device-description").json()
    assert "abort" in interfaces["supervisorInterfaces"]


# -- the orchestrator ----------------------------------------------------------------------


def push(fleet: Fleet, name: str, wasm: bytes, route: str = "/api/v1/modules") -> httpx.Response:
    part = "wasm" if route.startswith("/api") else "module"
    return fleet.http.post(
        route, data={"name": name}, files={part: (f"{name}.wasm", wasm, "application/wasm")}
    )


def test_a_wasi_command_is_refused_at_upload_and_nothing_is_stored(fleet: Fleet) -> None:
    command = wat('(memory (export "memory") 1) (func (export "_start"))')
    for route in ("/file/module", "/api/v1/modules"):
        error = error_of(push(fleet, "cmd", command, route), 422)
        assert error["code"] == "no_reactor" and error["findings"][0]["level"] == "error"
    assert all(m["name"] != "cmd" for m in fleet.http.get("/file/module").json())


def test_imports_some_devices_lack_are_warnings_at_upload(fleet: Fleet) -> None:
    wasm = wat(f'(import "gpio" "write" (func (param i32))) {REACTOR}')
    answer = push(fleet, "gpio", wasm)
    assert answer.status_code == 201, answer.text
    assert [w["code"] for w in answer.json()["warnings"]] == ["unknown_import"]
    legacy = push(fleet, "gpio2", wasm, "/file/module")
    assert legacy.status_code == 201 and legacy.json()["warnings"][0]["level"] == "warning"


def test_descriptions_that_do_not_fit_are_refused_naming_each_finding(fleet: Fleet) -> None:
    answer = push(fleet, "chk", wat(CHECK))
    module_id = answer.json()["id"]
    bracket = {"check": {"parameters": [{"name": "limit", "type": "integer"}, "integer"]}}
    error = error_of(fleet.http.post(f"/api/v1/modules/{module_id}/description", json=bracket), 422)
    assert error["code"] == "param_type" and "limit" in error["message"]
    fewer = openapi("check", {"parameters": query(("limit", "number"))})
    error = error_of(fleet.http.post(f"/file/module/{module_id}/upload", json=fewer), 422)
    assert error["code"] == "param_count"
    assert fleet.http.get(f"/api/v1/modules/{module_id}").json()["functions"] == ["check"]


def test_a_pointer_result_is_described_with_a_warning(fleet: Fleet) -> None:
    wasm = wat(f'{REACTOR} (func (export "name") (result i32) i32.const 1024)')
    module_id = push(fleet, "ptr", wasm).json()["id"]
    doc = openapi(
        "name",
        {
            "responses": {
                "200": {
                    "description": "the name",
                    "content": {"application/json": {"schema": {"type": "string"}}},
                }
            }
        },
    )
    answer = fleet.http.post(f"/file/module/{module_id}/upload", json=doc)
    assert answer.status_code == 200, answer.text
    assert [w["code"] for w in answer.json()["warnings"]] == ["pointer_result"]


EXAMPLES = sorted(p.parent.name for p in MODULES.glob("*/description.json"))


def test_every_example_module_uploads_and_is_described_without_errors(fleet: Fleet) -> None:
    for name in EXAMPLES:
        wasm = (MODULES / name / f"{name}.wasm").read_bytes()
        pushed = push(fleet, f"ex-{name}", wasm)
        assert pushed.status_code == 201, pushed.text
        description, files = description_upload(name)
        answer = fleet.http.post(
            f"/api/v1/modules/{pushed.json()['id']}/description",
            data={"description": json.dumps(description)},
            files=files or None,
        )
        assert answer.status_code == 200, (name, answer.text)
        assert "warnings" not in answer.json(), (name, answer.json()["warnings"])


# -- the command line ----------------------------------------------------------------------


def run_check(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wasmfleet", "module", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_cli_passes_an_example_from_any_folder(tmp_path: Path) -> None:
    done = run_check(str(MODULES / "sensors" / "sensors.wasm"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "description.json" in done.stdout  # found beside the .wasm
    assert "not_offered" in done.stdout and "--sensors" in done.stdout
    assert "0 error(s), 1 warning(s)" in done.stdout


def test_the_cli_names_each_error_and_exits_1(tmp_path: Path) -> None:
    wasm = tmp_path / "bad.wasm"
    wasm.write_bytes(wat(f'(import "dht" "getTemp" (func (result f32))) {CHECK}'))
    doc = tmp_path / "bad.json"
    doc.write_text(json.dumps(openapi("check", {"parameters": query(("limit", "number"))})))
    done = run_check(str(wasm), str(doc), cwd=tmp_path)
    assert done.returncode == 1
    assert "unknown_import" in done.stdout and "dht.getTemperature" in done.stdout
    assert "param_count" in done.stdout and "2 error(s)" in done.stdout
    as_json = run_check(str(wasm), str(doc), "--json", cwd=tmp_path)
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and report["ok"] is False
    assert [f["code"] for f in report["findings"]] == ["unknown_import", "param_count"]


def test_the_cli_reads_the_wasmiot_description_form_and_refuses_garbage(tmp_path: Path) -> None:
    wasm = tmp_path / "c.wasm"
    wasm.write_bytes(wat(CHECK))
    doc = tmp_path / "c.json"
    doc.write_text(json.dumps({"check": {"param0": "integer", "param1": "integer"}}))
    done = run_check(str(wasm), str(doc), cwd=tmp_path)
    assert done.returncode == 1 and "param_type" in done.stdout, done.stdout
    junk = tmp_path / "junk.wasm"
    junk.write_text("int main() {}")
    done = run_check(str(junk), cwd=tmp_path)
    assert done.returncode == 1 and "not_wasm" in done.stdout
