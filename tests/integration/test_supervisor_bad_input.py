"""Bad input to a real supervisor: always a 4xx in the shared JSON error shape, never a 500.

Every case also checks that the deployments stored before the bad request are exactly as
they were (``GET /deploy`` is unchanged and fibo still answers "13" for iterations=7);
the last test checks that none of it made the supervisor log a Python traceback. Bad
deploys reuse the deploymentId of the live fibo deployment, so a failed replacement must
keep the old one. One supervisor with small size limits serves the whole file.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import wasmtime

from tests.support import FileServer, SupervisorProcess, free_port, readme_body

MAX_REQUEST = 64 * 1024
MAX_DOWNLOAD = 16 * 1024
MAX_MODULE = 64 * 1024
BASE = "base"  # the fibo deployment every test checks is left alone
STAMP = "/st/modules/stamp/stamp"


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sup(tmp_path_factory: pytest.TempPathFactory, files: FileServer) -> Iterator[SupervisorProcess]:
    """A supervisor with small request, download and module size limits, and three deployments."""
    sup = SupervisorProcess(
        tmp_path_factory.mktemp("bad-input") / "data",
        name="badinput",
        args=["--max-module-size", f"{MAX_MODULE // 1024}KiB"],
        env={
            "WASMFLEET_MAX_REQUEST_SIZE": f"{MAX_REQUEST // 1024}KiB",
            "WASMFLEET_MAX_DOWNLOAD_SIZE": f"{MAX_DOWNLOAD // 1024}KiB",
        },
    )
    sup.start()
    try:
        for body in (
            readme_body(files, BASE, "fibo"),
            readme_body(files, "st", "stamp", other=["prefix.txt"]),
            readme_body(files, "ft", "faults"),
        ):
            answer = sup.deploy(body)
            assert answer.status_code == 200, answer.text
        stamped = sup.post(STAMP, files={"input.txt": b"hello"})
        assert stamped.status_code == 200, stamped.text  # module_results now has output.txt
        yield sup
    finally:
        sup.stop()


@pytest.fixture
def unchanged(sup: SupervisorProcess) -> Iterator[None]:
    """Assert that the test left every stored deployment as it was."""
    before = sup.get("/deploy").json()
    yield
    assert sup.proc is not None and sup.proc.poll() is None, "the supervisor exited"
    assert sup.get("/deploy").json() == before
    call = sup.get(f"/{BASE}/modules/fibo/fibo?iterations=7")
    assert call.status_code == 200, call.text
    assert call.json()["result"] == "13"


def expect_error(
    answer: httpx.Response, status: int | tuple[int, ...], *words: str
) -> dict[str, Any]:
    """Check the shared error shape; ``words`` must all appear in the message (any case)."""
    request = f"{answer.request.method} {answer.request.url}"
    assert "Traceback" not in answer.text, f"{request} leaked a traceback: {answer.text}"
    allowed = status if isinstance(status, tuple) else (status,)
    assert answer.status_code in allowed, f"{request} -> {answer.status_code} {answer.text}"
    assert answer.headers.get("content-type", "").startswith("application/json"), answer.headers
    error = answer.json()["error"]
    assert error["status"] == answer.status_code
    assert isinstance(error["code"], str) and error["code"]
    message = error["message"]
    assert isinstance(message, str) and len(message.split()) >= 4, f"not a sentence: {message!r}"
    for word in words:
        assert word.lower() in message.lower(), f"{request}: {word!r} not in {message!r}"
    result: dict[str, Any] = error
    return result


def raw_get(sup: SupervisorProcess, path: str) -> httpx.Response:
    """GET a path exactly as written (httpx would resolve '..' segments before sending)."""
    conn = http.client.HTTPConnection("127.0.0.1", sup.port, timeout=30)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
        headers = dict(reply.getheaders())
        status = reply.status
    finally:
        conn.close()
    return httpx.Response(
        status, headers=headers, content=body, request=httpx.Request("GET", sup.url + path)
    )


def fibo_body(files: FileServer) -> dict[str, Any]:
    """A valid README-shape deploy body that would replace the live fibo deployment."""
    return readme_body(files, BASE, "fibo")


def custom_body(files: FileServer, binary_url: str) -> dict[str, Any]:
    """A deploy body for a module with no description, replacing the live fibo deployment."""
    return {
        "deploymentId": BASE,
        "modules": [{"id": BASE, "name": "custom", "urls": {"binary": binary_url, "other": []}}],
        "instructions": {"modules": {}},
    }


def orchestrator_body(files: FileServer) -> dict[str, Any]:
    """A valid orchestrator-shape deploy body for fibo (deploymentId BASE)."""
    return {
        "deploymentId": BASE,
        "modules": [
            {
                "id": BASE,
                "name": "fibo",
                "urls": {
                    "binary": files.url("fibo/fibo.wasm"),
                    "description": files.url("fibo/description.json"),
                    "other": {},
                },
            }
        ],
        "endpoints": {
            "fibo": {
                "fibo": {
                    "url": "http://127.0.0.1:5000",
                    "path": "/{deployment}/modules/fibo/fibo",
                    "method": "GET",
                    "request": {"parameters": [{"name": "iterations", "in": "query"}]},
                    "response": {"media_type": "application/json", "schema": {"type": "integer"}},
                }
            }
        },
        "instructions": {"modules": {"fibo": {"fibo": {"from": None, "to": None}}}},
        "mounts": {},
    }


# -- malformed deploy bodies ---------------------------------------------------------------

MALFORMED = {
    "truncated": (b'{"deploymentId": "base", "modules": [', "not valid JSON"),
    "not-json": (b"deploymentId=base&modules=fibo", "not valid JSON"),
    "empty": (b"", "empty"),
    "whitespace": (b"  \n", "empty"),
    "array": (b'[{"deploymentId": "base"}]', "JSON object"),
    "string": (b'"base"', "JSON object"),
    "null": (b"null", "JSON object"),
    "invalid-utf8": (b'{"deploymentId": "\xff\xfe"}', "not valid JSON"),
    "too-deep": (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
@pytest.mark.parametrize("route", ["/deploy", "//deploy"])
def test_malformed_deploy_body(sup: SupervisorProcess, case: str, route: str) -> None:
    content, words = MALFORMED[case]
    answer = sup.post(route, content=content, headers={"content-type": "application/json"})
    expect_error(answer, 400, words)


def _drop(*path: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


def _put(value: Any, *path: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(body: dict[str, Any]) -> None:
        target: Any = body
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


URLS = ("modules", 0, "urls")
FIBO = ("instructions", "modules", "fibo", "fibo")
GET = (*FIBO, "paths", "", "get")
BAD_FIELDS: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "no-deploymentId": (_drop("deploymentId"), ("deploymentId",)),
    "no-modules": (_drop("modules"), ("modules",)),
    "empty-modules": (_put([], "modules"), ("modules", "non-empty")),
    "no-urls": (_drop("modules", 0, "urls"), ("urls.binary",)),
    "no-binary-url": (_drop(*URLS, "binary"), ("urls.binary",)),
    "no-module-name": (_drop("modules", 0, "name"), ("name",)),
    "empty-module-name": (_put("", "modules", 0, "name"), ("name",)),
    "deploymentId-list": (_put(["base"], "deploymentId"), ("deploymentId", "string")),
    "deploymentId-bool": (_put(True, "deploymentId"), ("deploymentId", "string")),
    "deploymentId-object": (_put({"id": "base"}, "deploymentId"), ("deploymentId",)),
    "modules-object": (_put({"fibo": {}}, "modules"), ("modules", "list")),
    "module-string": (_put(["fibo"], "modules"), ("modules[0]", "object")),
    "module-name-number": (_put(7, "modules", 0, "name"), ("name", "string")),
    "urls-string": (_put("http://x/fibo.wasm", *URLS), ("urls.binary",)),
    "binary-url-number": (_put(5, *URLS, "binary"), ("urls.binary",)),
    "binary-url-not-http": (_put("ftp://127.0.0.1/fibo.wasm", *URLS, "binary"), ("http",)),
    "binary-url-relative": (_put("fibo/fibo.wasm", *URLS, "binary"), ("http",)),
    "description-url-number": (_put(3, *URLS, "description"), ("urls.description",)),
    "other-string": (_put("prefix.txt", *URLS, "other"), ("urls.other",)),
    "other-list-of-numbers": (_put([1, 2], *URLS, "other"), ("urls.other",)),
    "sha256-not-hex": (_put("abc", "modules", 0, "sha256"), ("sha256", "64")),
    "files-sha256-list": (_put(["abc"], "modules", 0, "files_sha256"), ("files_sha256",)),
    "deploymentId-too-long": (_put("d" * 300, "deploymentId"), ("deploymentId", "128")),
    "duplicate-module": (
        lambda body: body["modules"].append(copy.deepcopy(body["modules"][0])),
        ("fibo", "twice"),
    ),
    "instructions-list": (_put([], "instructions"), ("instructions",)),
    "instructions-modules-list": (_put([1], "instructions", "modules"), ("instructions.modules",)),
    "instructions-unknown-module": (
        _put({}, "instructions", "modules", "nosuch"),
        ("nosuch", "not in 'modules'"),
    ),
    "instructions-function-list": (
        _put([], "instructions", "modules", "fibo"),
        ("instructions.modules.fibo",),
    ),
    "instructions-paths-number": (_put(5, *FIBO, "paths"), ("paths",)),
    "instructions-no-operation": (
        _put({"": {"summary": "no method"}}, *FIBO, "paths"),
        ("operation",),
    ),
    "operation-number": (_put(5, *GET[:-1], "get"), ("operation",)),
    "parameters-number": (_put(5, *GET, "parameters"), ("parameters", "list")),
    "parameter-number": (_put([5], *GET, "parameters"), ("parameters[0]", "name")),
    "x-mounts-number": (_put(5, *GET, "x-mounts"), ("x-mounts", "list")),
    "x-mounts-unknown-stage": (
        _put([{"name": "a.txt", "stage": "later"}], *GET, "x-mounts"),
        ("stage", "execution"),
    ),
    "to-number": (_put(5, *FIBO, "to"), ("to", "URL")),
    "to-url-number": (_put({"url": 5}, *FIBO, "to"), ("to", "URL")),
    "to-paths-number": (_put({"paths": 5}, *FIBO, "to"), ("to.paths",)),
    "to-servers-number": (
        _put({"servers": 5, "paths": {"/next": {"get": {}}}}, *FIBO, "to"),
        ("to", "servers"),
    ),
    "instructions-unexported-function": (
        lambda body: body["instructions"]["modules"]["fibo"].update(
            nosuch=copy.deepcopy(body["instructions"]["modules"]["fibo"]["fibo"])
        ),
        ("nosuch", "does not export"),
    ),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", BAD_FIELDS, ids=list(BAD_FIELDS))
def test_deploy_body_missing_or_mistyped_field(
    sup: SupervisorProcess, files: FileServer, case: str
) -> None:
    edit, words = BAD_FIELDS[case]
    body = fibo_body(files)
    edit(body)
    answer = sup.deploy(body)
    expect_error(answer, (400, 422), *words)
    if case != "instructions-unexported-function":  # that one is well-formed: 422
        assert answer.status_code == 400


ORCHESTRATOR_BAD: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "endpoints-function-not-object": (_put(5, "endpoints", "fibo", "fibo"), ("endpoints.fibo",)),
    "endpoints-module-not-object": (_put([1], "endpoints", "fibo"), ("endpoints.fibo",)),
    "instructions-module-number": (
        _put(5, "instructions", "modules", "fibo"),
        ("instructions.modules.fibo",),
    ),
    "instructions-module-string": (
        _put("fibo", "instructions", "modules", "fibo"),
        ("instructions.modules.fibo",),
    ),
    "instructions-function-number": (
        _put(5, "instructions", "modules", "fibo", "fibo"),
        ("instructions.modules.fibo.fibo",),
    ),
    "mounts-list": (_put([1], "mounts"), ("mounts",)),
    "mounts-stage-unknown": (
        _put({"fibo": {"execution": [{"path": "x.txt", "stage": "later"}]}}, "mounts", "fibo"),
        ("stage",),
    ),
    "other-object-of-numbers": (_put({"prefix.txt": 5}, *URLS, "other"), ("urls.other",)),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", ORCHESTRATOR_BAD, ids=list(ORCHESTRATOR_BAD))
def test_orchestrator_shape_mistyped_field(
    sup: SupervisorProcess, files: FileServer, case: str
) -> None:
    edit, words = ORCHESTRATOR_BAD[case]
    body = orchestrator_body(files)
    edit(body)
    expect_error(sup.deploy(body), 400, *words)


# -- unsafe names in deploy bodies ---------------------------------------------------------

UNSAFE_DEPLOY: dict[str, tuple[Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "deploymentId-dotdot": (_put("../x", "deploymentId"), ("deploymentId", "not allowed")),
    "deploymentId-absolute": (_put("/tmp/x", "deploymentId"), ("deploymentId", "not allowed")),
    "module-name-dotdot": (_put("../fibo", "modules", 0, "name"), ("name", "not allowed")),
    "other-name-dotdot": (
        lambda body: body["modules"][0]["urls"].update(
            other={"../evil.txt": body["modules"][0]["urls"]["binary"]}
        ),
        ("../evil.txt", "not allowed"),
    ),
    "other-name-absolute": (
        lambda body: body["modules"][0]["urls"].update(
            other={"/etc/evil.txt": body["modules"][0]["urls"]["binary"]}
        ),
        ("/etc/evil.txt", "not allowed"),
    ),
    "function-name-dotdot": (
        lambda body: body["instructions"]["modules"]["fibo"].update(
            {"../fibo": body["instructions"]["modules"]["fibo"]["fibo"]}
        ),
        ("../fibo", "not allowed"),
    ),
    "mount-name-dotdot": (
        _put([{"name": "../x.txt", "stage": "execution"}], *GET, "x-mounts"),
        ("../x.txt", "not allowed"),
    ),
    "mount-name-absolute": (
        _put([{"name": "/etc/passwd", "stage": "output"}], *GET, "x-mounts"),
        ("/etc/passwd", "not allowed"),
    ),
    "other-url-ending-in-dotdot": (
        lambda body: body["modules"][0]["urls"].update(
            other=[body["modules"][0]["urls"]["binary"].rsplit("/", 1)[0] + "/.."]
        ),
        ("'..'", "not allowed"),
    ),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", UNSAFE_DEPLOY, ids=list(UNSAFE_DEPLOY))
def test_unsafe_names_in_deploy_body(sup: SupervisorProcess, files: FileServer, case: str) -> None:
    edit, words = UNSAFE_DEPLOY[case]
    body = fibo_body(files)
    edit(body)
    expect_error(sup.deploy(body), 400, *words)


# -- downloads that fail -------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_binary_url_unreachable(sup: SupervisorProcess, files: FileServer) -> None:
    url = f"http://127.0.0.1:{free_port()}/fibo.wasm"  # nothing listens there
    body = custom_body(files, url)
    error = expect_error(sup.deploy(body), 422, "could not download", url, "reachable")
    assert error["code"] == "fetch_failed"


@pytest.mark.usefixtures("unchanged")
def test_binary_url_answers_404(sup: SupervisorProcess, files: FileServer) -> None:
    url = files.url("fibo/no-such.wasm")
    error = expect_error(sup.deploy(custom_body(files, url)), 422, "could not download", "404")
    assert error["code"] == "fetch_failed"


@pytest.mark.usefixtures("unchanged")
def test_description_url_answers_404(sup: SupervisorProcess, files: FileServer) -> None:
    body = fibo_body(files)
    body["modules"][0]["urls"]["description"] = files.url("fibo/no-such.json")
    expect_error(sup.deploy(body), 422, "description", "404")


@pytest.mark.usefixtures("unchanged")
def test_description_that_is_not_json(sup: SupervisorProcess, files: FileServer) -> None:
    body = fibo_body(files)
    body["modules"][0]["urls"]["description"] = files.url("fibo/fibo.wasm")
    expect_error(sup.deploy(body), 422, "description", "not JSON")


@pytest.mark.usefixtures("unchanged")
def test_description_with_malformed_operation(sup: SupervisorProcess, files: FileServer) -> None:
    description = {
        "openapi": "3.0.3",
        "paths": {"/{deployment}/modules/{module}/fibo": {"get": {"parameters": 5}}},
    }
    body = fibo_body(files)
    body["modules"][0]["urls"]["description"] = files.add(
        "bad/description.json", json.dumps(description).encode()
    )
    body["instructions"]["modules"]["fibo"]["fibo"]["paths"][""]["get"].pop("x-mounts")
    expect_error(sup.deploy(body), (400, 422), "description", "parameters")


@pytest.mark.usefixtures("unchanged")
def test_data_file_url_answers_404(sup: SupervisorProcess, files: FileServer) -> None:
    body = fibo_body(files)
    body["modules"][0]["urls"]["other"] = [files.url("fibo/missing.txt")]
    expect_error(sup.deploy(body), 422, "missing.txt", "404")


NOT_WASM = {
    "text": (b"hello, this is not WebAssembly\n", ("not a WebAssembly",)),
    "html": (b"<!doctype html><title>404</title>", ("not a WebAssembly",)),
    "empty": (b"", ("WebAssembly",)),
    "magic-only": (b"\0asm", ("WebAssembly",)),
    "magic-then-garbage": (b"\0asm\x01\0\0\0\x01\xff\xff\xff\xff", ("not a valid WebAssembly",)),
    "truncated-fibo": (None, ("not a valid WebAssembly",)),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", NOT_WASM, ids=list(NOT_WASM))
def test_binary_that_is_not_wasm(sup: SupervisorProcess, files: FileServer, case: str) -> None:
    data, words = NOT_WASM[case]
    if data is None:
        data = (files.directory / "fibo" / "fibo.wasm").read_bytes()[:120]
        assert data.startswith(b"\0asm")
    url = files.add(f"bad/{case}.wasm", data)
    error = expect_error(sup.deploy(custom_body(files, url)), 422, *words)
    assert error["code"] == "invalid_wasm"


@pytest.mark.usefixtures("unchanged")
def test_sha256_mismatch(sup: SupervisorProcess, files: FileServer) -> None:
    body = fibo_body(files)
    body["modules"][0]["sha256"] = "0" * 64
    error = expect_error(sup.deploy(body), 422, "sha256", "0" * 64)
    assert error["code"] == "checksum_mismatch"


@pytest.mark.usefixtures("unchanged")
def test_missing_host_import(sup: SupervisorProcess, files: FileServer) -> None:
    wasm = wasmtime.wat2wasm(
        '(module (import "gpio" "write" (func (param i32)))'
        ' (func (export "go") (result i32) i32.const 1))'
    )
    url = files.add("bad/gpio.wasm", bytes(wasm))
    error = expect_error(sup.deploy(custom_body(files, url)), 422, "gpio.write", "device")
    assert error["code"] == "missing_imports"
    assert any("gpio.write" in name for name in error["missing"])


# -- size limits ---------------------------------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_deploy_body_over_request_limit(sup: SupervisorProcess, files: FileServer) -> None:
    body = fibo_body(files)
    body["padding"] = "x" * (MAX_REQUEST + 1024)
    error = expect_error(sup.deploy(body), 413, str(MAX_REQUEST))
    assert "this supervisor" in error["message"]
    assert "--max-request-size" in error["message"]


@pytest.mark.usefixtures("unchanged")
def test_deploy_body_over_request_limit_without_length(
    sup: SupervisorProcess, files: FileServer
) -> None:
    body = fibo_body(files)
    body["padding"] = "x" * (MAX_REQUEST + 1024)
    data = json.dumps(body).encode()
    answer = sup.post(
        "/deploy", content=iter([data[:1000], data[1000:]]),  # chunked: no Content-Length
        headers={"content-type": "application/json"},
    )  # fmt: skip
    expect_error(answer, 413, str(MAX_REQUEST))


@pytest.mark.usefixtures("unchanged")
def test_upload_over_request_limit(sup: SupervisorProcess) -> None:
    answer = sup.post(STAMP, files={"input.txt": b"x" * (MAX_REQUEST + 1024)})
    expect_error(answer, 413, str(MAX_REQUEST))


@pytest.mark.usefixtures("unchanged")
def test_upload_over_request_limit_without_length(sup: SupervisorProcess) -> None:
    part = (
        b'--bound\r\nContent-Disposition: form-data; name="input.txt"; filename="input.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
    )
    chunks = [part, b"x" * (MAX_REQUEST + 1024), b"\r\n--bound--\r\n"]
    answer = sup.post(
        STAMP, content=iter(chunks), headers={"content-type": "multipart/form-data; boundary=bound"}
    )
    expect_error(answer, 413, str(MAX_REQUEST))


@pytest.mark.usefixtures("unchanged")
def test_data_file_over_download_limit(sup: SupervisorProcess, files: FileServer) -> None:
    url = files.add("big/big.bin", os.urandom(64 * 1024))
    body = fibo_body(files)
    body["modules"][0]["urls"]["other"] = [url]
    error = expect_error(sup.deploy(body), 413, "big.bin", str(MAX_DOWNLOAD), "limit")
    assert error["code"] == "payload_too_large"


@pytest.mark.usefixtures("unchanged")
def test_binary_over_module_size_limit(sup: SupervisorProcess, files: FileServer) -> None:
    fibo = (files.directory / "fibo" / "fibo.wasm").read_bytes()
    size = MAX_MODULE + 4096  # a valid module: fibo plus one big custom section
    section = b"\x03pad" + b"z" * (size - 4)
    leb = bytes([0x80 | (size & 0x7F), 0x80 | ((size >> 7) & 0x7F), size >> 14])
    big = fibo + b"\x00" + leb + section
    wasmtime.Module.validate(wasmtime.Engine(), big)
    url = files.add("big/fibo.wasm", big)
    body = fibo_body(files)
    body["modules"][0]["urls"]["binary"] = url
    error = expect_error(sup.deploy(body), 413, "binary", str(MAX_MODULE), "limit")
    assert error["code"] == "payload_too_large"


# -- calls: unknown names and bad arguments ------------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_unknown_deployment(sup: SupervisorProcess) -> None:
    answer = sup.get("/nosuch/modules/fibo/fibo?iterations=7")
    expect_error(answer, 404, "nosuch", BASE, "st", "ft", "POST /deploy")


@pytest.mark.usefixtures("unchanged")
def test_unknown_module(sup: SupervisorProcess) -> None:
    answer = sup.get(f"/{BASE}/modules/nosuch/fibo?iterations=7")
    expect_error(answer, 404, "nosuch", "modules: fibo")


@pytest.mark.usefixtures("unchanged")
def test_unknown_function(sup: SupervisorProcess) -> None:
    expect_error(sup.get("/ft/modules/faults/nosuch"), 404, "nosuch", "crash", "divide", "ok")
    expect_error(sup.post(f"/{BASE}/modules/fibo/nosuch"), 404, "nosuch", "functions: fibo")


@pytest.mark.usefixtures("unchanged")
def test_delete_unknown_deployment(sup: SupervisorProcess) -> None:
    answer = httpx.delete(f"{sup.url}/deploy/nosuch", timeout=30)
    expect_error(answer, 404, "nosuch", BASE)


BAD_ARGS = {
    "wrong-type": (f"/{BASE}/modules/fibo/fibo?iterations=seven", ("iterations", "integer")),
    "fraction-for-integer": (f"/{BASE}/modules/fibo/fibo?iterations=1.5", ("iterations",)),
    "empty-value": (f"/{BASE}/modules/fibo/fibo?iterations=", ("iterations", "integer")),
    "missing": (f"/{BASE}/modules/fibo/fibo", ("missing", "iterations")),
    "missing-wrong-name": (f"/{BASE}/modules/fibo/fibo?n=7", ("missing", "iterations")),
    "missing-second": ("/ft/modules/faults/divide?a=1", ("missing", "'b'")),
    "i32-too-big": ("/ft/modules/faults/divide?a=1&b=4294967296", ("'b'", "i32")),
    "i32-too-small": ("/ft/modules/faults/divide?a=1&b=-2147483649", ("'b'", "i32")),
    "i32-huge": ("/ft/modules/faults/divide?a=99999999999999999999999&b=1", ("'a'", "i32")),
    "i64-too-big": (f"/{BASE}/modules/fibo/fibo?iterations={2**64}", ("iterations", "i64")),
    "i32-not-a-number": ("/ft/modules/faults/divide?a=1&b=nan", ("'b'", "integer")),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", BAD_ARGS, ids=list(BAD_ARGS))
def test_bad_argument(sup: SupervisorProcess, case: str) -> None:
    path, words = BAD_ARGS[case]
    error = expect_error(sup.get(path), 400, *words)
    assert error["code"] == "invalid_argument"


BAD_JSON_CALLS: dict[str, tuple[bytes, tuple[str, ...]]] = {
    "list-of-objects": (b'[{"iterations": 7}]', ("JSON call body", "numbers or strings")),
    "nested-list": (b'{"iterations": [7]}', ("JSON call body", "numbers or strings")),
    "nested-object": (b'{"iterations": {"value": 7}}', ("JSON call body",)),
    "boolean": (b'{"iterations": true}', ("JSON call body",)),
    "null-value": (b'{"iterations": null}', ("JSON call body",)),
    "bare-string": (b'"7"', ("JSON call body",)),
    "bare-number": (b"7", ("JSON call body",)),
    "bare-float": (b"1.5", ("JSON call body",)),
    "bare-boolean": (b"true", ("JSON call body",)),
    "malformed": (b'{"iterations": ', ("not valid JSON",)),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", BAD_JSON_CALLS, ids=list(BAD_JSON_CALLS))
def test_json_call_body_that_is_not_an_object_of_scalars(sup: SupervisorProcess, case: str) -> None:
    content, words = BAD_JSON_CALLS[case]
    answer = sup.post(
        f"/{BASE}/modules/fibo/fibo", content=content, headers={"content-type": "application/json"}
    )
    expect_error(answer, 400, *words)


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "content_type", ["application/xml", "text/plain", "application/octet-stream", None]
)
def test_call_body_of_unsupported_content_type(
    sup: SupervisorProcess, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = sup.post(f"/{BASE}/modules/fibo/fibo", content=b"iterations=7", headers=headers)
    error = expect_error(answer, 415, "JSON", "multipart/form-data")
    assert error["code"] == "unsupported_media_type"


MALFORMED_MULTIPART = {
    "no-boundary": ("multipart/form-data", b"input.txt=hello"),
    "not-multipart": ("multipart/form-data; boundary=bound", b"this is not a multipart body"),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", MALFORMED_MULTIPART, ids=list(MALFORMED_MULTIPART))
def test_malformed_multipart_call_body(sup: SupervisorProcess, case: str) -> None:
    content_type, content = MALFORMED_MULTIPART[case]
    answer = sup.post(STAMP, content=content, headers={"content-type": content_type})
    expect_error(answer, 400, "multipart")


# -- mounts: call route (multipart part names) ---------------------------------------------


@pytest.mark.usefixtures("unchanged")
def test_undeclared_mount_file(sup: SupervisorProcess) -> None:
    answer = sup.post(STAMP, files={"input.txt": b"hi", "other.txt": b"x"})
    error = expect_error(answer, 400, "other.txt", "input.txt")
    assert error["code"] == "invalid_mount"


@pytest.mark.usefixtures("unchanged")
def test_same_mount_file_twice(sup: SupervisorProcess) -> None:
    answer = sup.post(STAMP, files=[("input.txt", b"a"), ("input.txt", b"b")])
    expect_error(answer, 400, "input.txt", "twice")


@pytest.mark.usefixtures("unchanged")
def test_file_for_a_function_without_mounts(sup: SupervisorProcess) -> None:
    answer = sup.post(f"/{BASE}/modules/fibo/fibo?iterations=7", files={"input.txt": b"hi"})
    expect_error(answer, 400, "input.txt", "no files")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("how", ["no-body", "fields-only"])
def test_missing_execution_mount(sup: SupervisorProcess, how: str) -> None:
    if how == "no-body":
        answer = sup.post(STAMP)
    else:  # a multipart body without the file part
        answer = sup.post(
            STAMP,
            files={"note": (None, b"no file here")},
        )
    expect_error(answer, 400, "input.txt")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("name", ["..", "../input.txt", "a/b.txt", "/etc/passwd", ".hidden"])
def test_unsafe_mount_part_name(sup: SupervisorProcess, name: str) -> None:
    answer = sup.post(STAMP, files={"input.txt": b"hi", name: b"x"})
    error = expect_error(answer, 400, name, "not allowed")
    assert error["code"] == "invalid_mount"


# -- mounts: file routes -------------------------------------------------------------------

UNSAFE_FILES = {
    "dotdot": "..",
    "dotdot-encoded": "%2E%2E",
    "dotdot-slash-encoded": "..%2Fprefix.txt",
    "dotdot-twice-encoded": "..%2F..%2F..%2Fdeployments.json",
    "absolute-encoded": "%2Fetc%2Fpasswd",
    "hidden": ".hidden",
}


def _safe_refusal(answer: httpx.Response) -> None:
    """A 400 that says the name is not allowed (also when '/' arrives encoded as %2F)."""
    error = expect_error(answer, 400, "not allowed")
    assert error["code"] == "invalid_mount"
    assert b"stamped by wasmfleet" not in answer.content


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", UNSAFE_FILES, ids=list(UNSAFE_FILES))
def test_unsafe_name_in_function_file_route(sup: SupervisorProcess, case: str) -> None:
    _safe_refusal(raw_get(sup, f"{STAMP}/{UNSAFE_FILES[case]}"))


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", UNSAFE_FILES, ids=list(UNSAFE_FILES))
def test_unsafe_name_in_module_results_route(sup: SupervisorProcess, case: str) -> None:
    _safe_refusal(raw_get(sup, f"/module_results/stamp/{UNSAFE_FILES[case]}"))


@pytest.mark.usefixtures("unchanged")
def test_file_routes_with_unknown_names(sup: SupervisorProcess) -> None:
    assert sup.get(f"{STAMP}/output.txt").status_code == 200  # the files exist ...
    assert sup.get("/module_results/stamp/output.txt").status_code == 200
    expect_error(sup.get(f"{STAMP}/other.txt"), 404, "other.txt", "input.txt, output.txt")
    expect_error(sup.get("/nosuch/modules/stamp/stamp/output.txt"), 404, "nosuch")
    expect_error(sup.get("/st/modules/stamp/nosuch/output.txt"), 404, "nosuch", "stamp")
    expect_error(sup.get("/module_results/stamp/other.txt"), 404, "other.txt")
    expect_error(sup.get("/module_results/nosuch/output.txt"), 404, "nosuch")
    expect_error(raw_get(sup, "/%2E%2E/modules/stamp/stamp"), 404, "..")


# -- routes and methods --------------------------------------------------------------------

ROUTES = {
    "unknown-route": ("GET", "/no/such/route", 404, ("/no/such/route",)),
    "unknown-api-route": ("GET", "/api/v1/nothing", 404, ("/api/v1/nothing",)),
    "put-deploy": ("PUT", "/deploy", 405, ("PUT", "/deploy")),
    "delete-health": ("DELETE", "/health", 405, ("DELETE", "/health")),
    "post-history": ("POST", "/request-history", 405, ("POST",)),
    "put-call": ("PUT", f"/{BASE}/modules/fibo/fibo", 405, ("PUT",)),
    "delete-call": ("DELETE", f"/{BASE}/modules/fibo/fibo", 405, ("DELETE",)),
    "post-file": ("POST", f"{STAMP}/output.txt", 405, ("POST",)),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", ROUTES, ids=list(ROUTES))
def test_unknown_route_and_wrong_method(sup: SupervisorProcess, case: str) -> None:
    method, path, status, words = ROUTES[case]
    answer = httpx.request(method, sup.url + path, timeout=30)
    expect_error(answer, status, *words)


# -- afterwards ----------------------------------------------------------------------------


def test_no_traceback_in_the_log(sup: SupervisorProcess) -> None:
    """Runs last: nothing above made the supervisor log a Python traceback."""
    assert sup.proc is not None and sup.proc.poll() is None, "the supervisor exited"
    assert sup.get("/health").status_code == 200
    log = sup.log()
    lines = log.splitlines()
    incidents = [line for line in lines if "internal error" in line]
    causes = [line.strip() for line in lines if re.match(r"^\s*[\w.]+(Error|Exception): ", line)]
    assert "Traceback" not in log, f"{len(incidents)} internal errors: {incidents}\n{causes}"
