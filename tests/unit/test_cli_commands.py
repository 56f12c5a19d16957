"""The CLI commands against a fake orchestrator API (httpx.MockTransport): what they send,
what they print as tables and as JSON, and how they fail."""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from wasmfleet.cli import client as client_module
from wasmfleet.cli import output
from wasmfleet.cli.main import app

REPO = Path(__file__).resolve().parents[2]
URL = "http://orch.test:3000"

DEVICE = {
    "id": "d1",
    "name": "cam-gw",
    "url": "http://127.0.0.1:5001",
    "addresses": ["127.0.0.1"],
    "port": 5001,
    "status": "active",
    "labels": {"role": "gateway", "location": "lab"},
    "interfaces": ["camera.takeImageDynamicSize", "sys.millis"],
    "platform": {"cpu": {"humanReadableName": "Test CPU"}},
    "capacity": {"cores": [1000], "memory_mb": 512, "accelerator_pct": 0},
    "health": {"cpuUsage": 0.1, "memoryUsage": 0.2},
    "last_seen": "2025-01-01T12:00:00+00:00",
    "failures": 0,
}
PLAN = {
    "strategy": "spread",
    "scorer": "least_allocated",
    "steps": [
        {
            "step": 0,
            "name": "1:camera.take_image",
            "module": "camera",
            "module_id": "m1",
            "function": "take_image",
            "device": "cam-gw",
            "score": 0.5,
            "cores": [],
            "fit": 1,
            "rejected": [{"device": "edge-box", "reason": "edge-box lacks camera.*"}],
        },
        {
            "step": 1,
            "name": "2:imginfo.pixels",
            "module": "imginfo",
            "module_id": "m2",
            "function": "pixels",
            "device": "edge-box",
            "score": 0.75,
            "cores": [],
            "fit": 1,
            "rejected": [{"device": "cloud-vm", "reason": "cloud-vm has no label role=edge"}],
        },
    ],
}
DEPLOYMENT = {
    "id": "p1",
    "name": "camera-pipeline",
    "status": "active",
    "manifest": {},
    "plan": PLAN,
    "devices": {
        "cam-gw": {"ok": True, "status": 200, "message": "deployed"},
        "edge-box": {"ok": True, "status": 200, "message": "deployed"},
    },
    "created_at": None,
    "updated_at": None,
    "error": None,
}
EXECUTION = {
    "id": "e1",
    "deployment_id": "p1",
    "success": True,
    "result": "307200",
    "result_url": None,
    "steps": [
        {"step": 0, "device": "cam-gw", "module": "camera", "function": "take_image",
         "result": "http://127.0.0.1:5001/x/image.jpeg", "duration_ms": 3.25,
         "result_url": None, "success": True},
        {"step": 1, "device": "edge-box", "module": "imginfo", "function": "pixels",
         "result": "307200", "duration_ms": 1.5, "result_url": None, "success": True},
    ],
    "started_at": None,
    "finished_at": None,
    "duration_ms": 6.0,
    "error": None,
}  # fmt: skip


def error(status: int, code: str, message: str, **extra: Any) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"status": status, "code": code, "message": message, **extra}}
    )


def form_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """name -> (content type or None for a plain field, bytes) of a multipart body."""
    raw = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n"
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw + request.read())
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        kind = part.get_content_type() if part.get_filename() else None
        parts[str(name)] = (kind, part.get_payload(decode=True))
    return parts


class FakeApi:
    """Routes by (method, path); records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], Callable[[httpx.Request], httpx.Response]] = {}

    def on(self, method: str, path: str, answer: Any, status: int = 200) -> None:
        if isinstance(answer, httpx.Response) or callable(answer):
            self.routes[(method, path)] = answer if callable(answer) else (lambda r: answer)
        else:
            self.routes[(method, path)] = lambda r: httpx.Response(status, json=answer)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return error(404, "not_found", f"No route {request.method} {request.url.path}.")
        return route(request)

    def last(self, method: str, path: str) -> httpx.Request:
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)][-1]


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    fake = FakeApi()
    monkeypatch.setattr(client_module, "transport", httpx.MockTransport(fake))
    monkeypatch.setenv("WASMFLEET_ORCHESTRATOR", URL)
    monkeypatch.setattr(output.console, "width", 200)
    yield fake


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result


def test_device_ls_table_and_json(api: FakeApi) -> None:
    api.on("GET", "/api/v1/devices", [DEVICE])
    table = cli("device", "ls")
    assert table.exit_code == 0, table.output
    for word in ("cam-gw", "active", "http://127.0.0.1:5001", "location=lab, role=gateway"):
        assert word in table.stdout
    assert "1 core, 512Mi" in table.stdout
    raw = cli("device", "ls", "--output", "json")
    assert json.loads(raw.stdout) == [DEVICE]
    assert str(api.requests[0].url).startswith(URL)


def test_device_show_prints_the_status_log(api: FakeApi) -> None:
    log = [{"time": "2025-01-01T12:00:00+00:00", "status": "active", "reason": "registered"}]
    api.on("GET", "/api/v1/devices/cam-gw", {**DEVICE, "status_log": log})
    done = cli("device", "show", "cam-gw")
    assert done.exit_code == 0, done.output
    assert "registered" in done.stdout and "Test CPU" in done.stdout


def test_an_unknown_device_is_the_servers_sentence_and_exit_1(api: FakeApi) -> None:
    api.on("GET", "/api/v1/devices/nope", error(404, "not_found", "No device 'nope'."))
    done = cli("device", "show", "nope")
    assert done.exit_code == 1
    assert done.stderr.strip() == "error: No device 'nope'."


def test_device_forget_needs_a_name_or_all(api: FakeApi) -> None:
    assert cli("device", "forget").exit_code == 2
    assert cli("device", "forget", "a", "--all").exit_code == 2
    api.on("DELETE", "/api/v1/devices", {"forgotten": 3})
    done = cli("device", "forget", "--all")
    assert done.exit_code == 0 and "forgot 3 devices" in done.stdout
    api.on("DELETE", "/api/v1/devices/cam-gw", httpx.Response(204))
    assert "forgot device cam-gw" in cli("device", "forget", "cam-gw").stdout


def module_answer(name: str, described: bool = False) -> dict[str, Any]:
    return {
        "id": f"id-{name}",
        "name": name,
        "sha256": "ab" * 32,
        "size": 2048,
        "exports": [{"name": "stamp", "parameterCount": 0}],
        "requirements": [{"module": "wasi_snapshot_preview1", "name": "fd_read", "kind": "func"}],
        "description": {"openapi": "3.0.3"} if described else None,
        "functions": ["stamp"] if described else [],
        "data_files": {"prefix.txt": {"size": 20}} if described else {},
        "created_at": None,
    }


def test_module_push_sends_the_binary_then_the_description_and_data_files(
    api: FakeApi,
) -> None:
    api.on("POST", "/api/v1/modules", module_answer("stamp"), 201)
    api.on("POST", "/api/v1/modules/id-stamp/description", module_answer("stamp", True))
    wasm = REPO / "modules" / "stamp" / "stamp.wasm"
    done = cli("module", "push", str(wasm))
    assert done.exit_code == 0, done.output
    upload = form_parts(api.last("POST", "/api/v1/modules"))
    assert upload["name"] == (None, b"stamp")
    assert upload["wasm"] == ("application/wasm", wasm.read_bytes())
    describe = form_parts(api.last("POST", "/api/v1/modules/id-stamp/description"))
    description = json.loads(describe["description"][1])
    assert description["info"]["title"] == "stamp"
    assert describe["prefix.txt"][1] == (REPO / "modules" / "stamp" / "prefix.txt").read_bytes()
    assert "functions: stamp" in done.stdout


def test_module_push_with_explicit_name_and_data(api: FakeApi, tmp_path: Path) -> None:
    api.on("POST", "/api/v1/modules", module_answer("st2"), 201)
    api.on("POST", "/api/v1/modules/id-st2/description", module_answer("st2", True))
    prefix = tmp_path / "mine.txt"
    prefix.write_text("MINE: ")
    wasm = REPO / "modules" / "stamp" / "stamp.wasm"
    done = cli("module", "push", str(wasm), "--name", "st2", "--data", f"prefix.txt={prefix}")
    assert done.exit_code == 0, done.output
    describe = form_parts(api.last("POST", "/api/v1/modules/id-st2/description"))
    assert describe["prefix.txt"][1] == b"MINE: "


def test_module_push_rejects_bad_data_pairs(api: FakeApi) -> None:
    wasm = REPO / "modules" / "stamp" / "stamp.wasm"
    done = cli("module", "push", str(wasm), "--data", "nofile")
    assert done.exit_code == 2
    assert "is not --data NAME=VALUE" in done.output + done.stderr
    missing = cli("module", "push", str(wasm), "--data", "prefix.txt=/nonexistent/x")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not api.requests


def test_module_ls_and_rm(api: FakeApi) -> None:
    api.on("GET", "/api/v1/modules", [module_answer("stamp", True)])
    done = cli("module", "ls")
    assert done.exit_code == 0
    for word in ("stamp", "id-stamp", "2.0 KiB", "abababababab", "yes", "prefix.txt"):
        assert word in done.stdout
    api.on("DELETE", "/api/v1/modules/stamp", error(409, "conflict", "stamp is in use by x."))
    refused = cli("module", "rm", "stamp")
    assert refused.exit_code == 1 and "error: stamp is in use by x." in refused.stderr
    api.on("DELETE", "/api/v1/modules/stamp", httpx.Response(204))
    assert cli("module", "rm", "stamp", "--force").exit_code == 0
    assert api.last("DELETE", "/api/v1/modules/stamp").url.params["force"] == "true"


def test_deploy_sends_yaml_and_prints_the_placement(api: FakeApi) -> None:
    api.on("POST", "/api/v1/deployments", DEPLOYMENT, 201)
    manifest = REPO / "examples" / "camera-pipeline.yaml"
    done = cli("deploy", str(manifest))
    assert done.exit_code == 0, done.output
    sent = api.last("POST", "/api/v1/deployments")
    assert sent.headers["content-type"] == "application/yaml"
    assert sent.content == manifest.read_bytes()
    assert sent.url.params["deploy"] == "true"
    for word in ("camera.take_image", "imginfo.pixels", "0.500", "edge-box lacks camera.*",
                 "cloud-vm has no label role=edge", "deployed"):  # fmt: skip
        assert word in done.stdout
    assert json.loads(cli("deploy", str(manifest), "-o", "json").stdout) == DEPLOYMENT


def test_deploy_json_and_no_deploy(api: FakeApi) -> None:
    api.on("POST", "/api/v1/deployments", {**DEPLOYMENT, "status": "new", "devices": {}}, 201)
    done = cli("deploy", str(REPO / "examples" / "fibo.json"), "--no-deploy")
    assert done.exit_code == 0, done.output
    sent = api.last("POST", "/api/v1/deployments")
    assert sent.headers["content-type"] == "application/json"
    assert sent.url.params["deploy"] == "false"


def test_an_unplaceable_manifest_prints_each_devices_reason_and_exits_1(api: FakeApi) -> None:
    api.on(
        "POST",
        "/api/v1/deployments",
        error(422, "unplaceable", "Step 1 fits on no device.", step="1:camera.take_image",
              reasons={"edge-box": "edge-box lacks camera.*", "cloud-vm": "cloud-vm is down"}),
    )  # fmt: skip
    done = cli("deploy", str(REPO / "examples" / "camera-pipeline.yaml"))
    assert done.exit_code == 1
    assert "error: Step 1 fits on no device." in done.stderr
    assert "edge-box lacks camera.*" in done.stdout and "cloud-vm is down" in done.stdout


WARNING = (
    "steps[0].resources.cpu: 1 now means 1 whole core (1000m), as in Kubernetes, not 1 "
    "millicore as before; write 1m if you meant millicores."
)


def test_manifest_warnings_go_to_stderr(api: FakeApi) -> None:
    manifest = str(REPO / "examples" / "camera-pipeline.yaml")
    api.on("POST", "/api/v1/deployments", {**DEPLOYMENT, "warnings": [WARNING]}, 201)
    for mode in ("table", "json"):
        done = cli("deploy", manifest, "-o", mode)
        assert done.exit_code == 0, done.output
        assert f"warning: {WARNING}" in " ".join(done.stderr.split()), done.stderr
        assert "warning:" not in done.stdout
    api.on(
        "POST",
        "/api/v1/deployments",
        error(422, "unplaceable", "0/1 devices fit step 1.", step="1", warnings=[WARNING],
              reasons={"cam-gw": "cam-gw has 1 core, step needs 500 cores (500x1000m)"}),
    )  # fmt: skip
    done = cli("deploy", manifest)
    assert done.exit_code == 1
    assert f"warning: {WARNING}" in " ".join(done.stderr.split()), done.stderr
    assert "step needs 500 cores" in done.stdout


def test_a_refused_deploy_prints_the_device_answers_and_exits_1(api: FakeApi) -> None:
    failed = {
        **DEPLOYMENT,
        "status": "failed",
        "devices": {"cam-gw": {"ok": False, "status": 422, "message": "missing camera.x"}},
    }
    api.on(
        "POST",
        "/api/v1/deployments",
        httpx.Response(
            502,
            json={
                "error": {"status": 502, "code": "deploy_failed", "message": "cam-gw refused."},
                "deployment": failed,
            },
        ),
    )
    done = cli("deploy", str(REPO / "examples" / "camera-pipeline.yaml"))
    assert done.exit_code == 1
    assert "missing camera.x" in done.stdout and "failed" in done.stdout
    assert "error: cam-gw refused." in done.stderr


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("bad.yaml", "name: [unclosed", "is not valid YAML"),
        ("bad.json", "{name: x}", "is not valid JSON"),
        ("list.yaml", "- a\n- b\n", "must be a mapping"),
    ],
)
def test_a_broken_manifest_file_is_reported_before_sending(
    api: FakeApi, tmp_path: Path, name: str, text: str, words: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    done = cli("deploy", str(path))
    assert done.exit_code == 2 and words in done.stderr
    assert cli("deploy", str(tmp_path / "missing.yaml")).exit_code == 2
    assert not api.requests


def test_exec_sends_key_values_as_json_and_prints_each_step(api: FakeApi) -> None:
    api.on("POST", "/api/v1/deployments/camera-pipeline/execute", EXECUTION)
    done = cli("exec", "camera-pipeline", "iterations=7", "text=a=b")
    assert done.exit_code == 0, done.output
    sent = api.last("POST", "/api/v1/deployments/camera-pipeline/execute")
    assert json.loads(sent.content) == {"args": {"iterations": "7", "text": "a=b"}}
    for word in ("307200", "cam-gw", "edge-box", "imginfo.pixels", "3.2", "1.5"):
        assert word in done.stdout
    assert json.loads(cli("exec", "camera-pipeline", "-o", "json").stdout) == EXECUTION


def test_exec_with_files_sends_multipart(api: FakeApi, tmp_path: Path) -> None:
    api.on("POST", "/api/v1/deployments/stamp/execute", {**EXECUTION, "steps": []})
    text = tmp_path / "in.txt"
    text.write_text("hello")
    done = cli("exec", "stamp", "x=1", "--file", f"input.txt={text}")
    assert done.exit_code == 0, done.output
    parts = form_parts(api.last("POST", "/api/v1/deployments/stamp/execute"))
    assert parts["x"] == (None, b"1")
    assert parts["input.txt"] == ("text/plain", b"hello")


def test_exec_argument_errors_exit_2(api: FakeApi, tmp_path: Path) -> None:
    assert cli("exec", "d", "novalue").exit_code == 2
    assert cli("exec", "d", "--file", "a.txt").exit_code == 2
    missing = cli("exec", "d", "--file", f"a.txt={tmp_path / 'none'}")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not api.requests


def test_a_failed_execution_shows_the_steps_and_the_sentence(api: FakeApi) -> None:
    failed = {**EXECUTION, "success": False, "error": "Step 2 trapped."}
    failed["steps"] = [EXECUTION["steps"][0], {**EXECUTION["steps"][1], "success": False}]
    api.on(
        "POST",
        "/api/v1/deployments/camera-pipeline/execute",
        httpx.Response(
            502,
            json={
                "error": {"status": 502, "code": "execution_failed", "message": "Step 2 trapped."},
                "execution": failed,
            },
        ),
    )
    done = cli("exec", "camera-pipeline")
    assert done.exit_code == 1
    assert "error: Step 2 trapped." in done.stderr
    assert "failed" in done.stdout and "cam-gw" in done.stdout
    raw = cli("exec", "camera-pipeline", "--output", "json")
    assert raw.exit_code == 1 and json.loads(raw.stdout)["execution"]["success"] is False


def test_deployment_ls_show_redeploy_rm(api: FakeApi, tmp_path: Path) -> None:
    api.on("GET", "/api/v1/deployments", [DEPLOYMENT])
    listed = cli("deployment", "ls")
    assert listed.exit_code == 0
    assert "camera.take_image → imginfo.pixels" in listed.stdout
    assert "cam-gw, edge-box" in listed.stdout
    api.on("GET", "/api/v1/deployments/camera-pipeline", DEPLOYMENT)
    assert "edge-box lacks camera.*" in cli("deployment", "show", "camera-pipeline").stdout
    api.on("PUT", "/api/v1/deployments/camera-pipeline", DEPLOYMENT)
    assert cli("deployment", "redeploy", "camera-pipeline").exit_code == 0
    assert api.last("PUT", "/api/v1/deployments/camera-pipeline").content == b""
    manifest = REPO / "examples" / "camera-pipeline.yaml"
    assert (
        cli("deployment", "redeploy", "camera-pipeline", "--manifest", str(manifest)).exit_code == 0
    )
    assert api.last("PUT", "/api/v1/deployments/camera-pipeline").content == manifest.read_bytes()
    removed = {"removed": {"cam-gw": {"ok": True, "message": "removed"}}}
    api.on("DELETE", "/api/v1/deployments/camera-pipeline", removed)
    done = cli("deployment", "rm", "camera-pipeline")
    assert done.exit_code == 0 and "removed deployment camera-pipeline" in done.stdout


LOGS = [
    {"id": 1, "time": "2025-01-01T12:00:00+00:00", "device": "cam-gw", "level": "info",
     "message": "deployed camera-pipeline", "data": {}},
    {"id": 2, "time": "2025-01-01T12:00:01+00:00", "device": "edge-box", "level": "error",
     "message": "trap in pixels", "data": {}},
]  # fmt: skip


def test_logs_prints_time_device_level_message(api: FakeApi) -> None:
    api.on("GET", "/api/v1/logs", LOGS)
    done = cli("logs", "--device", "cam-gw", "--since", "2025-01-01T00:00:00")
    assert done.exit_code == 0
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[2:] == ["cam-gw", "info", "deployed", "camera-pipeline"]
    assert lines[1].split()[2:] == ["edge-box", "error", "trap", "in", "pixels"]
    params = api.requests[0].url.params
    assert (params["device"], params["since"]) == ("cam-gw", "2025-01-01T00:00:00")
    assert json.loads(cli("logs", "-o", "json").stdout) == LOGS


def test_logs_follow_polls_after_the_last_id_until_ctrl_c(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([LOGS[:1], LOGS[1:], []])
    api.on("GET", "/api/v1/logs", lambda request: httpx.Response(200, json=next(answers)))
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr("wasmfleet.cli.logs.time.sleep", sleep)
    done = cli("logs", "--follow")
    assert done.exit_code == 0
    assert "deployed camera-pipeline" in done.stdout and "trap in pixels" in done.stdout
    after = [r.url.params.get("after_id") for r in api.requests]
    assert after == [None, "1", "2"]
    assert sleeps == [1.0, 1.0, 1.0]


def test_status_shows_the_fleet(api: FakeApi) -> None:
    api.on(
        "GET",
        "/api/v1/status",
        {
            "orchestrator": {"version": "0.1.0", "database": "sqlite", "schema_version": 1,
                             "public_url": URL, "uptime_s": 12.4},
            "devices": [DEVICE, {**DEVICE, "name": "edge-box", "status": "inactive"}],
            "deployments": [DEPLOYMENT],
            "counts": {"devices": {"active": 1, "inactive": 1}, "modules": 6,
                       "deployments": {"active": 1}, "executions": {"total": 5, "failed": 2},
                       "logs": 40},
        },
    )  # fmt: skip
    done = cli("status")
    assert done.exit_code == 0, done.output
    for word in ("0.1.0", "sqlite", "1 active, 1 inactive", "5 (2 failed)", "camera-pipeline",
                 "edge-box", "inactive"):  # fmt: skip
        assert word in done.stdout
    assert json.loads(cli("status", "--output", "json").stdout)["counts"]["modules"] == 6


def test_stream_counters_read_as_a_sentence() -> None:
    from wasmfleet.cli.devices import messages_text

    counters = {"received": 120, "handled": 118, "failed": 2, "dead_lettered": 2, "published": 7}
    assert messages_text(counters) == "120 in, 118 ok, 2 failed (2 dead-lettered), 7 out"
    assert messages_text({"received": 3, "handled": 3, "published": 3}) == "3 in, 3 ok, 3 out"
    bridge = {"received": 4, "handled": 4, "published": 4, "guest_published": 6, "bridged": 9}
    assert messages_text(bridge) == "4 in, 4 ok, 10 out, 9 bridged"
    assert messages_text(None) == "-"


def test_status_and_device_ls_show_dead_devices_and_moved_steps(api: FakeApi) -> None:
    dead = {
        **DEVICE,
        "name": "edge-box",
        "status": "dead",
        "reason": "no heartbeat for 2.61 s (phi 8.3 >= 8; mean interval 0.50 s)",
    }
    streaming = {
        **DEVICE,
        "streams": {"received": 120, "handled": 118, "failed": 2, "dead_lettered": 2,
                    "published": 118},
    }  # fmt: skip
    flapping = {
        **DEVICE,
        "name": "cloud-vm",
        "placeable": False,
        "unplaceable_because": "flapping: 3 failures within 60 s; stable for 4.0 of 30 s",
    }
    move = {
        "at": "2025-01-01T12:00:03+00:00",
        "step": 1,
        "function": "imginfo.pixels",
        "from": "edge-box",
        "to": "cloud-vm",
        "reason": "edge-box is dead: no heartbeat",
        "epoch": 3,
    }
    moved = {**DEPLOYMENT, "moves": [move], "epoch": 3}
    api.on(
        "GET",
        "/api/v1/status",
        {
            "orchestrator": {"version": "0.1.0", "database": "sqlite", "uptime_s": 1,
                             "healing": {"steps_moved": 1, "stale_copies_removed": 0,
                                         "heartbeats": 40}},
            "devices": [streaming, dead, flapping],
            "deployments": [moved],
            "counts": {"devices": {"active": 2, "dead": 1}},
        },
    )  # fmt: skip
    api.on("GET", "/api/v1/devices", [DEVICE, dead, flapping])
    done = cli("status")
    assert done.exit_code == 0, done.output
    for text in ("1 steps moved", "moved steps", "edge-box is dead", "1 (last edge-box",
                 "phi 8.3", "flapping: 3 failures", "messages", "120 in"):  # fmt: skip
        assert text in done.stdout, text
    listed = cli("device", "ls")
    assert "dead" in listed.stdout and "phi 8.3" in listed.stdout and "why" in listed.stdout


def test_every_command_reports_an_unreachable_orchestrator_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    monkeypatch.setattr(client_module, "transport", httpx.MockTransport(refuse))
    fibo = str(REPO / "examples" / "fibo.json")
    commands = [["device", "ls"], ["module", "ls"], ["deployment", "ls"], ["status"], ["logs"]]
    for args in [*commands, ["exec", "x"], ["deploy", fibo]]:
        done = cli(*args, "--orchestrator", "http://127.0.0.1:9")
        assert done.exit_code == 1, args
        assert done.stderr.startswith("error: Cannot reach the orchestrator at http://127.0.0.1:9")
        assert len(done.stderr.strip().splitlines()) == 1


def test_logs_follow_warns_once_while_the_orchestrator_is_away(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = iter(["ok", "down", "down", "ok"])

    def answer(request: httpx.Request) -> httpx.Response:
        if next(calls) == "down":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=LOGS[:1] if "after_id" not in request.url.params else [])

    api.on("GET", "/api/v1/logs", answer)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr("wasmfleet.cli.logs.time.sleep", sleep)
    done = cli("logs", "--follow")
    assert done.exit_code == 0
    assert done.stderr.count("Cannot reach the orchestrator") == 1
    assert "reconnected to the orchestrator" in done.stderr
