"""The CLI's orchestrator client: every failure becomes one sentence, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import typer

from wasmfleet.cli import client as client_module
from wasmfleet.cli.client import DEFAULT_URL, ApiError, Client, base_url, reported

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], None]:
    def install(handler: Handler) -> None:
        monkeypatch.setattr(client_module, "transport", httpx.MockTransport(handler))

    return install


def test_the_base_url_comes_from_the_flag_then_the_environment_then_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no current context
    monkeypatch.delenv("WASMFLEET_ORCHESTRATOR", raising=False)
    assert base_url(None) == DEFAULT_URL == "http://127.0.0.1:3000"
    monkeypatch.setenv("WASMFLEET_ORCHESTRATOR", "http://orch:3000/")
    assert base_url(None) == "http://orch:3000"
    assert base_url("https://other:1/") == "https://other:1"


def test_a_url_without_a_scheme_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        base_url("orch:3000")
    assert exited.value.exit_code == 2
    assert "must be a URL such as http://127.0.0.1:3000" in capsys.readouterr().err


def test_the_shared_error_shape_gives_the_servers_sentence(fake: Callable[[Handler], None]) -> None:
    body = {"error": {"status": 404, "code": "not_found", "message": "No device 'x'."}}
    fake(lambda request: httpx.Response(404, json=body))
    with Client("http://orch") as api, pytest.raises(ApiError) as raised:
        api.get("/api/v1/devices/x")
    assert raised.value.message == "No device 'x'."
    assert (raised.value.status, raised.value.code) == (404, "not_found")
    assert raised.value.error["message"] == "No device 'x'."


def test_extra_error_fields_are_kept(fake: Callable[[Handler], None]) -> None:
    body = {
        "error": {
            "status": 422,
            "code": "unplaceable",
            "message": "Step 1 fits nowhere.",
            "reasons": {"a": "no camera"},
            "step": "1:camera.take_image",
        }
    }
    fake(lambda request: httpx.Response(422, json=body))
    with Client("http://orch") as api, pytest.raises(ApiError) as raised:
        api.post("/api/v1/deployments", json={})
    assert raised.value.error["reasons"] == {"a": "no camera"}


def test_an_error_that_is_not_json_still_reads_as_a_sentence(
    fake: Callable[[Handler], None],
) -> None:
    fake(lambda request: httpx.Response(500, text="Internal Server Error\nstack..."))
    with Client("http://orch") as api, pytest.raises(ApiError) as raised:
        api.get("/api/v1/status")
    assert raised.value.message == (
        "GET /api/v1/status answered 500 Internal Server Error: Internal Server Error"
    )


def test_an_empty_answer_is_none_and_json_is_parsed(fake: Callable[[Handler], None]) -> None:
    fake(
        lambda request: (
            httpx.Response(204)
            if request.method == "DELETE"
            else httpx.Response(200, json={"ok": True})
        )
    )
    with Client("http://orch") as api:
        assert api.delete("/api/v1/devices/a") is None
        assert api.get("/api/v1/status") == {"ok": True}


def test_an_unreachable_orchestrator_says_how_to_start_one() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", timeout=2) as api, pytest.raises(ApiError) as raised:
        api.get("/api/v1/status")
    assert f"Cannot reach the orchestrator at http://127.0.0.1:{port}" in raised.value.message
    assert "wasmfleet up" in raised.value.message


def test_a_slow_orchestrator_is_a_timeout_sentence(fake: Callable[[Handler], None]) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    fake(slow)
    with Client("http://orch", timeout=3) as api, pytest.raises(ApiError) as raised:
        api.get("/api/v1/status")
    assert raised.value.message == (
        "The orchestrator at http://orch did not answer GET /api/v1/status within 3 s."
    )


def test_reported_prints_error_in_red_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited, reported():
        raise ApiError("The module is in use.")
    assert exited.value.exit_code == 1
    assert capsys.readouterr().err.strip() == "error: The module is in use."


def test_upload_reports_progress_and_sends_a_multipart_body(
    fake: Callable[[Handler], None],
) -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["type"] = request.headers["content-type"]
        seen["length"] = int(request.headers["content-length"])
        seen["body"] = request.read()
        return httpx.Response(201, json={"name": "big"})

    fake(handler)
    calls: list[tuple[int, int]] = []
    data = b"\0asm" + bytes(200_000)
    with Client("http://orch") as api:
        answer = api.upload(
            "/api/v1/modules",
            data={"name": "big"},
            files={"wasm": ("big.wasm", data, "application/wasm")},
            progress=lambda sent, total: calls.append((sent, total)),
        )
    assert answer == {"name": "big"}
    assert str(seen["type"]).startswith("multipart/form-data; boundary=")
    assert seen["length"] == len(seen["body"])  # type: ignore[arg-type]
    assert len(calls) > 1 and calls[-1][0] == calls[-1][1] == seen["length"]
    assert b"Content-Type: application/wasm" in seen["body"]  # type: ignore[operator]


def test_tls_failures_read_as_sentences_saying_what_to_do() -> None:
    url = "https://127.0.0.1:3000"
    verify = httpx.ConnectError(
        "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local "
        "issuer certificate (_ssl.c:1006)"
    )
    said = client_module.tls_problem(url, verify)
    assert said is not None
    assert said.startswith(f"The orchestrator at {url} presented a certificate this client")
    assert "(unable to get local issuer certificate)" in said
    assert "--ca-file FILE or WASMFLEET_CA_FILE" in said
    plain = httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    assert "does not speak HTTPS; use http://127.0.0.1:3000" in str(
        client_module.tls_problem(url, plain)
    )
    assert client_module.tls_problem(url, httpx.ConnectError("Connection refused")) is None


def test_a_ca_file_that_is_not_a_certificate_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    monkeypatch.setenv("WASMFLEET_CA_FILE", str(bogus))
    with pytest.raises(typer.Exit) as exit_info:
        Client("https://127.0.0.1:3000")
    assert exit_info.value.exit_code == 2
    err = capsys.readouterr().err
    assert f"The CA file {bogus} (--ca-file or WASMFLEET_CA_FILE) holds no PEM" in err


def test_the_bearer_token_comes_from_the_environment_then_a_token_file(
    fake: Callable[[Handler], None], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={})

    fake(handler)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("WASMFLEET_TOKEN", "WASMFLEET_TOKEN_FILE", "WASMFLEET_CLIENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(client_module, "global_flags", {})
    Client().get("/x")
    default = tmp_path / "config" / "wasmfleet" / "token"
    default.parent.mkdir(parents=True)
    default.write_text("wf_default\n")
    Client().get("/x")
    named = tmp_path / "named.token"
    named.write_text("wf_named")
    monkeypatch.setenv("WASMFLEET_TOKEN_FILE", str(named))
    Client().get("/x")
    monkeypatch.setattr(client_module, "global_flags", {"token_file": str(default)})
    Client().get("/x")
    monkeypatch.setenv("WASMFLEET_TOKEN", "wf_env")
    Client().get("/x")
    assert seen == [
        None,
        "Bearer wf_default",
        "Bearer wf_named",
        "Bearer wf_default",
        "Bearer wf_env",
    ]


def test_an_unreadable_token_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WASMFLEET_TOKEN", raising=False)
    monkeypatch.setenv("WASMFLEET_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(typer.Exit) as exited:
        Client()
    assert exited.value.exit_code == 2
    assert "Cannot read the token file" in capsys.readouterr().err
