"""--otlp-endpoint: execution traces reach a real local OTLP/HTTP receiver as protobuf."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fleet import running_fleet
from tests.support import free_port, wait_until

pb = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    reason="the otel extra (opentelemetry-proto) is not installed",
)


class Receiver(ThreadingHTTPServer):
    """Collects what is POSTed to /v1/traces, decoded."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", free_port()), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.server.paths.append(self.path)
        assert self.headers["content-type"] == "application/x-protobuf"
        self.server.requests.append(pb.ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_execution_spans_are_exported(tmp_path: Path, receiver: Receiver) -> None:
    endpoint = f"http://127.0.0.1:{receiver.server_address[1]}"
    devices = (("one", []), ("two", []))
    with running_fleet(
        tmp_path, *devices, orchestrator_args=["--otlp-endpoint", endpoint]
    ) as fleet:
        fleet.push("fibo")
        manifest = {
            "name": "exported",
            "steps": [
                {"module": "fibo", "function": "fibo", "device": "one"},
                {"module": "fibo", "function": "fibo", "device": "two"},
            ],
        }
        assert fleet.http.post("/api/v1/deployments", json=manifest).status_code == 201
        r = fleet.http.post(
            "/api/v1/deployments/exported/execute", json={"args": {"iterations": 3}}
        )
        execution = r.json()
        assert r.status_code == 200, r.text
        assert wait_until(lambda: len(receiver.requests) >= 1, timeout=10)
        trace = fleet.http.get(f"/api/v1/executions/{execution['id']}/trace").json()
    assert receiver.paths == ["/v1/traces"]
    (request,) = receiver.requests
    (resource,) = request.resource_spans
    attributes = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert attributes["service.name"] == "wasmfleet-orchestrator"
    spans = [s for scope in resource.scope_spans for s in scope.spans]
    assert {s.trace_id.hex() for s in spans} == {execution["trace_id"]}
    by_id = {s.span_id.hex(): s for s in spans}
    assert set(by_id) == {s["span_id"] for s in trace["spans"]}
    for shown in trace["spans"]:
        sent = by_id[shown["span_id"]]
        assert sent.name == shown["name"]
        assert (sent.parent_span_id.hex() or None) == shown["parent_span_id"]
        took = (sent.end_time_unix_nano - sent.start_time_unix_nano) / 1e6
        assert abs(took - shown["duration_ms"]) < 0.01
        assert sent.status.code == 1  # STATUS_CODE_OK
    devices_sent = {
        a.value.string_value for s in spans for a in s.attributes if a.key == "wasmfleet.device"
    }
    assert devices_sent == {"one", "two"}
