"""Mounts, output files, the camera, and chaining results between two supervisors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests import wasmiot_bodies as bodies
from tests.support import FileServer, SupervisorProcess, chain_fibo_to, readme_body
from wasmfleet.runtime.host.camera import bundled_sample

Start = Callable[..., SupervisorProcess]


def orchestrator_stamp(
    files: FileServer, dep_id: str, to: dict[str, Any] | None = None
) -> dict[str, Any]:
    """stamp deployed in the shape the wasmiot orchestrator sends, from the file server."""
    return bodies.orchestrator_stamp(
        files.url("stamp/stamp.wasm"),
        files.url("stamp/description.json"),
        files.url("stamp/prefix.txt"),
        dep_id,
        to=to,
    )


def test_orchestrator_shape_with_mounts(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("mounts")
    answer = sup.deploy(orchestrator_stamp(files, "st"))
    assert answer.status_code == 200, answer.text

    call = sup.post("/st/modules/stamp/stamp", files={"input.txt": ("input.txt", b"edge data\n")})
    assert call.status_code == 200, call.text
    result_url = call.json()["result"]
    assert result_url.endswith("/st/modules/stamp/stamp/output.txt")
    expected = b"stamped by wasmfleet: EDGE DATA\n"
    assert httpx.get(result_url, timeout=10).content == expected
    assert sup.get("/st/modules/stamp/stamp/output.txt").content == expected
    assert sup.get("/module_results/stamp/output.txt").content == expected
    entry = httpx.get(call.json()["resultUrl"], timeout=10).json()
    assert entry["request_files"] == {"input.txt": "input.txt"}

    # A second call overwrites the output with the new input.
    sup.post("/st/modules/stamp/stamp", files={"input.txt": ("in", b"again")})
    assert sup.get("/module_results/stamp/output.txt").content.endswith(b"AGAIN")


def test_camera_writes_the_simulated_frame(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("cam")
    assert sup.deploy(readme_body(files, "2", "camera")).status_code == 200
    call = sup.get("/2/modules/camera/take_image")
    assert call.status_code == 200, call.text
    image = httpx.get(call.json()["result"], timeout=10)
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content == bundled_sample()
    static = sup.get("/2/modules/camera/take_image_static").json()
    assert httpx.get(static["result"], timeout=10).content == bundled_sample()[: 512 * 1024]
    assert sup.get("/module_results/camera/image.jpeg").content == bundled_sample()


def test_sensors_and_guest_output_go_to_the_log(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("sens", env={"WASMFLEET_DHT_TEMPERATURE": "19.25"})
    assert sup.deploy(readme_body(files, "s", "sensors")).status_code == 200
    assert sup.get("/s/modules/sensors/temperature").json()["result"] == "19.25"
    assert sup.get("/s/modules/sensors/humidity").json()["result"] == "45.0"
    hello = sup.get("/s/modules/sensors/hello").json()
    assert int(hello["result"]) >= 5  # millis() advanced across delay(5)
    assert sup.get("/s/modules/sensors/shout").json()["result"] == "0"
    log = sup.log()
    assert "from wasm" in log
    assert "42" in log
    assert "shout" in log and "stdout" in log


def test_chain_scalar_across_two_supervisors(start_supervisor: Start, files: FileServer) -> None:
    b = start_supervisor("chain-b")
    a = start_supervisor("chain-a")
    assert b.deploy(readme_body(files, "pipe", "fibo")).status_code == 200
    body = readme_body(files, "pipe", "fibo")
    chain_fibo_to(body, b.url)
    assert a.deploy(body).status_code == 200
    call = a.get("/pipe/modules/fibo/fibo?iterations=7")
    assert call.status_code == 200, call.text
    assert call.json()["result"] == "233"  # fibo(fibo(7)) = fibo(13)
    entry = httpx.get(call.json()["resultUrl"], timeout=10).json()
    assert entry["result"] == "233"
    assert entry["next_result_url"].startswith(b.url)
    assert httpx.get(entry["next_result_url"], timeout=10).json()["result"] == "233"


def test_chain_file_across_two_supervisors(start_supervisor: Start, files: FileServer) -> None:
    b = start_supervisor("file-b")
    a = start_supervisor("file-a")
    assert b.deploy(orchestrator_stamp(files, "fp")).status_code == 200
    to = {
        "url": b.url,
        "path": "/{deployment}/modules/stamp/stamp",
        "method": "POST",
        "request": {"parameters": [], "request_body": {"encoding": {"input.txt": {}}}},
    }
    assert a.deploy(orchestrator_stamp(files, "fp", to=to)).status_code == 200
    call = a.post("/fp/modules/stamp/stamp", files={"input.txt": ("i", b"x")})
    assert call.status_code == 200, call.text
    final = httpx.get(call.json()["result"], timeout=10).content
    # B stamped what A produced: prefix + upper(prefix + upper(input)).
    assert final == b"stamped by wasmfleet: STAMPED BY WASMFLEET: X"
    assert call.json()["result"].startswith(b.url)


def test_chain_error_is_visible_to_the_caller(start_supervisor: Start, files: FileServer) -> None:
    a = start_supervisor("broken-chain")
    body = readme_body(files, "bc", "fibo")
    body["instructions"]["modules"]["fibo"]["fibo"]["to"] = a.url + "/bc/modules/fibo/nothere"
    assert a.deploy(body).status_code == 200
    call = a.get("/bc/modules/fibo/fibo?iterations=3")
    assert call.status_code == 502
    error = call.json()["error"]
    assert error["code"] == "chain_failed"
    assert "nothere" in error["message"]
    entry = httpx.get(call.json()["resultUrl"], timeout=10).json()
    assert entry["success"] is False
    unreachable = readme_body(files, "bc2", "fibo")
    unreachable["instructions"]["modules"]["fibo"]["fibo"]["to"] = (
        "http://127.0.0.1:9/x/modules/y/z"
    )
    assert a.deploy(unreachable).status_code == 200
    call = a.get("/bc2/modules/fibo/fibo?iterations=3")
    assert call.status_code == 502
    assert "Could not reach" in call.json()["error"]["message"]


RPC_CALLER = """(module
  (import "communication" "rpcCall"
    (func $rpc (param i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "counter")
  (data (i32.const 16) "count")
  (data (i32.const 32) "missing")
  (func (export "ping") (result i32)
    (call $rpc (i32.const 0) (i32.const 7) (i32.const 16) (i32.const 5)
               (i32.const 64) (i32.const 8)))
  (func (export "ping_missing") (result i32)
    (call $rpc (i32.const 32) (i32.const 7) (i32.const 16) (i32.const 5)
               (i32.const 64) (i32.const 8)))
  (func (export "answer") (result i32) (i32.load8_u (i32.const 64))))"""


def test_rpc_call_reaches_another_module_of_the_deployment(
    start_supervisor: Start, files: FileServer
) -> None:
    import wasmtime

    sup = start_supervisor("rpc")
    caller_url = files.add("rpc/caller.wasm", bytes(wasmtime.wat2wasm(RPC_CALLER)))
    body = readme_body(files, "r", "counter")
    body["modules"].append({"id": "caller", "name": "caller", "urls": {"binary": caller_url}})
    ops = {"get": {"responses": {"200": {"content": {"application/json": {}}}}}}
    body["instructions"]["modules"]["caller"] = {
        fn: {"paths": {"": ops}, "to": None} for fn in ("ping", "ping_missing", "answer")
    }
    deployed = sup.deploy(body)
    assert deployed.status_code == 200, deployed.text
    assert sup.get("/r/modules/caller/ping").json()["result"] == "0"  # status: success
    assert sup.get("/r/modules/caller/answer").json()["result"] == str(ord("1"))  # "1" came back
    assert sup.get("/r/modules/counter/count").json()["result"] == "2"  # rpc really counted
    assert sup.get("/r/modules/caller/ping_missing").json()["result"] == "1"  # status: failure
