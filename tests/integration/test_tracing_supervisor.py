"""traceparent on a supervisor: taken from the caller, passed along a chain, in entries and logs."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from tests.support import FileServer, SupervisorProcess, chain_fibo_to, readme_body
from wasmfleet.core.tracing import parse

Start = Callable[..., SupervisorProcess]
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_chain_keeps_the_callers_trace(start_supervisor: Start, files: FileServer) -> None:
    b = start_supervisor("trace-b")
    a = start_supervisor("trace-a")
    assert b.deploy(readme_body(files, "tp", "fibo")).status_code == 200
    body = readme_body(files, "tp", "fibo")
    chain_fibo_to(body, b.url)
    assert a.deploy(body).status_code == 200
    call = a.get("/tp/modules/fibo/fibo?iterations=7", headers={"traceparent": CALLER})
    assert call.status_code == 200, call.text
    first = httpx.get(call.json()["resultUrl"], timeout=10).json()
    second = httpx.get(first["next_result_url"], timeout=10).json()
    caller = parse(CALLER)
    assert caller is not None
    assert first["trace_id"] == second["trace_id"] == caller.trace_id
    assert first["parent_span_id"] == caller.span_id
    assert second["parent_span_id"] == first["span_id"]
    assert len({first["span_id"], second["span_id"], caller.span_id}) == 3
    # B's function started after A's, within A's call (same host clock here).
    assert first["started_at_ms"] <= second["started_at_ms"]
    assert second["started_at_ms"] <= first["started_at_ms"] + first["duration_ms"]


def test_without_a_caller_trace_a_call_starts_one(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("trace-root")
    assert sup.deploy(readme_body(files, "tr", "fibo")).status_code == 200
    ids = set()
    for header in (None, "00-zz-bad-01"):  # an invalid traceparent is ignored (W3C)
        headers = {"traceparent": header} if header else {}
        call = sup.get("/tr/modules/fibo/fibo?iterations=5", headers=headers)
        entry = httpx.get(call.json()["resultUrl"], timeout=10).json()
        assert len(entry["trace_id"]) == 32 and len(entry["span_id"]) == 16
        assert "parent_span_id" not in entry
        ids.add(entry["trace_id"])
    assert len(ids) == 2


def test_log_lines_of_a_call_carry_its_trace(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("trace-log", args=["--log-format", "json"])
    assert sup.deploy(readme_body(files, "tl", "sensors")).status_code == 200
    call = sup.get("/tl/modules/sensors/hello", headers={"traceparent": CALLER})
    assert call.status_code == 200, call.text
    entry = httpx.get(call.json()["resultUrl"], timeout=10).json()
    lines = [json.loads(line) for line in sup.log().splitlines() if line.startswith("{")]
    guest = [line for line in lines if line.get("logger") == "wasmfleet.guest"]
    assert guest, "the guest printed nothing"
    assert all(line.get("trace_id") == entry["trace_id"] for line in guest)
    assert all(line.get("span_id") == entry["span_id"] for line in guest)
    outside = [line for line in lines if line.get("logger", "").startswith("uvicorn")]
    assert all("trace_id" not in line for line in outside)
