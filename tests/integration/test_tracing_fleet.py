"""One execution, one trace: an orchestrator and three supervisors on loopback."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.support import wait_until
from wasmfleet.core.tracing import parse

DEVICES = (
    ("cam", ["--label", "role=gateway"]),
    ("edge", ["--label", "role=edge"]),
    ("cloud", ["--label", "role=cloud"]),
)
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(tmp_path_factory.mktemp("trace-fleet"), *DEVICES) as running:
        running.push("fibo")
        running.push("counter")
        running.push("sensors")
        manifest = {
            "name": "three-hops",
            "steps": [
                {"module": "fibo", "function": "fibo", "labels": {"role": "gateway"}},
                {"module": "fibo", "function": "fibo", "labels": {"role": "edge"}},
                {"module": "counter", "function": "add", "labels": {"role": "cloud"}},
            ],
        }
        r = running.http.post("/api/v1/deployments", json=manifest)
        assert r.status_code == 201, r.text
        yield running


def _trace(fleet: Fleet, execution_id: str) -> dict[str, Any]:
    r = fleet.http.get(f"/api/v1/executions/{execution_id}/trace")
    assert r.status_code == 200, r.text
    trace: dict[str, Any] = r.json()
    return trace


def test_the_callers_trace_runs_through_every_hop(fleet: Fleet) -> None:
    r = fleet.http.post(
        "/api/v1/deployments/three-hops/execute",
        json={"args": {"iterations": 5}},
        headers={"traceparent": CALLER},
    )
    assert r.status_code == 200, r.text
    caller = parse(CALLER)
    assert caller is not None
    execution = r.json()
    assert execution["trace_id"] == caller.trace_id
    assert all(s["trace_id"] == caller.trace_id for s in execution["steps"])

    trace = _trace(fleet, execution["id"])
    assert trace["trace_id"] == caller.trace_id
    assert trace["execution"] == execution["id"] and trace["deployment"] == "three-hops"
    root, *steps = trace["spans"]
    assert root["kind"] == "orchestrator" and root["device"] is None
    assert root["parent_span_id"] == caller.span_id and root["start_ms"] == 0
    assert [s["device"] for s in steps] == ["cam", "edge", "cloud"]
    assert [s["name"] for s in steps] == ["fibo.fibo", "fibo.fibo", "counter.add"]
    parents = [root["span_id"]] + [s["span_id"] for s in steps[:-1]]
    assert [s["parent_span_id"] for s in steps] == parents
    assert len({s["span_id"] for s in trace["spans"]}) == 4
    assert all(s["kind"] == "step" and s["success"] and s["error"] is None for s in steps)
    # Nested waterfall: each hop starts after its caller and ends within it (one host clock).
    for outer, inner in itertools.pairwise(steps):
        assert outer["start_ms"] <= inner["start_ms"]
        assert (
            inner["start_ms"] + inner["duration_ms"]
            <= outer["start_ms"] + outer["duration_ms"] + 1.0
        )  # rounding of the two clocks' readings to 0.001 ms, summed
    assert all(0 <= s["self_ms"] <= s["duration_ms"] for s in steps)
    assert steps[0]["start_ms"] + steps[0]["duration_ms"] <= root["duration_ms"] + 1.0
    assert trace["duration_ms"] == root["duration_ms"]

    found = fleet.http.get("/api/v1/executions", params={"trace_id": caller.trace_id}).json()
    assert [e["id"] for e in found] == [execution["id"]]


def test_an_execution_without_a_caller_trace_starts_one(fleet: Fleet) -> None:
    r = fleet.http.post("/execute/three-hops", json={"iterations": 4})
    assert r.status_code == 200, r.text
    latest = fleet.http.get("/api/v1/executions", params={"deployment": "three-hops"}).json()[0]
    trace_id = latest["trace_id"]
    assert trace_id and trace_id != parse(CALLER).trace_id  # type: ignore[union-attr]
    root = _trace(fleet, latest["id"])["spans"][0]
    assert root["parent_span_id"] is None
    assert {s["trace_id"] for s in latest["steps"]} == {trace_id}


def test_bad_trace_queries_get_a_sentence(fleet: Fleet) -> None:
    r = fleet.http.get("/api/v1/executions/nosuchexecution/trace")
    assert r.status_code == 404
    assert "nosuchexecution" in r.json()["error"]["message"]
    for path in ("/api/v1/executions", "/api/v1/logs"):
        r = fleet.http.get(path, params={"trace_id": "XYZ"})
        assert r.status_code == 400, r.text
        assert "32 lower-case hex digits" in r.json()["error"]["message"]


def test_log_lines_shipped_during_an_execution_carry_its_trace(fleet: Fleet) -> None:
    r = fleet.http.post(
        "/api/v1/deployments",
        json={"name": "hello", "steps": [{"module": "sensors", "function": "hello"}]},
    )
    assert r.status_code == 201, r.text
    r = fleet.http.post("/api/v1/deployments/hello/execute", json={})
    assert r.status_code == 200, r.text
    execution = r.json()
    trace_id = execution["trace_id"]
    device = execution["steps"][0]["device"]

    def shipped() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = fleet.http.get(
            "/api/v1/logs", params={"trace_id": trace_id}
        ).json()
        return found

    assert wait_until(lambda: any("from wasm" in e["message"] for e in shipped()), timeout=15)
    lines = shipped()
    assert all(e["data"]["trace_id"] == trace_id and e["device"] == device for e in lines)
    assert {e["data"]["span_id"] for e in lines} == {execution["steps"][0]["span_id"]}
    other = fleet.http.get("/api/v1/logs", params={"trace_id": "1" * 32}).json()
    assert other == []


def _cli(fleet: Fleet, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    command = [sys.executable, "-m", "wasmfleet", "exec", "three-hops", *args]
    command += ["--orchestrator", fleet.url]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_exec_trace_prints_the_waterfall(fleet: Fleet) -> None:
    shown = _cli(fleet, "iterations=3", "--trace")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "trace " in out and "execute three-hops" in out
    rows = [line for line in out.splitlines() if "fibo.fibo" in line or "counter.add" in line]
    bars = [line for line in rows if "█" in line]
    assert len(bars) == 3 and all(device in out for device in ("cam", "edge", "cloud"))

    as_json = _cli(fleet, "iterations=3", "--trace", "--output", "json")
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    assert answer["trace"]["trace_id"] == answer["trace_id"]
    assert [s["device"] for s in answer["trace"]["spans"]] == [None, "cam", "edge", "cloud"]
