"""The orchestrator's /metrics, the per-function series it samples, and device usage.

A real orchestrator and two supervisors on loopback; fibo is deployed and executed through
the orchestrator, and the Prometheus text is parsed with prometheus_client's own parser.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.fleet import Fleet, running_fleet
from tests.integration.test_supervisor_metrics import samples, value
from tests.support import wait_until

DEVICES = (("cam", ["--label", "role=gateway"]), ("edge", ["--label", "role=edge"]))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with running_fleet(
        tmp_path_factory.mktemp("fleet"), *DEVICES, orchestrator_args=["--metrics-sample", "0.5"]
    ) as running:
        running.push("fibo")
        yield running


def fibo_series(fleet: Fleet) -> list[dict[str, Any]]:
    """The series of fibo on cam, sampled while asked."""
    answer = fleet.http.get("/api/v1/metrics/series", params={"deployment": "m-fib"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["step_s"] == 0.5
    return [s for s in body["series"] if (s["device"], s["function"]) == ("cam", "fibo")]


def test_metrics_executions_series_and_their_end(fleet: Fleet) -> None:
    manifest = {
        "name": "m-fib",
        "steps": [{"module": "fibo", "function": "fibo", "labels": {"role": "gateway"}}],
    }
    assert fleet.http.post("/api/v1/deployments", json=manifest).status_code == 201
    nowhere = {
        "name": "m-none",
        "steps": [{"module": "fibo", "function": "fibo", "labels": {"role": "moon"}}],
    }
    assert fleet.http.post("/api/v1/deployments", json=nowhere).status_code == 422
    for _ in range(3):
        answer = fleet.http.post("/execute/m-fib", json={"iterations": 10})
        assert answer.status_code == 200, answer.text

    text = fleet.http.get("/metrics")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(text.text)
    assert value(found, "wasmfleet_devices", status="active") == 2
    assert value(found, "wasmfleet_devices", status="dead") == 0
    assert value(found, "wasmfleet_device_phi", device="cam") is not None
    assert value(found, "wasmfleet_device_phi", device="edge") is not None
    assert (value(found, "wasmfleet_heartbeats_total") or 0) > 0
    assert value(found, "wasmfleet_heartbeats_relayed_total") == 0  # no other orchestrator
    assert value(found, "wasmfleet_leader") == 1  # a lone orchestrator leads
    assert "wasmfleet_leader 1.0" in text.text.splitlines()  # what bench/scale.py looks for
    assert value(found, "wasmfleet_placements_total", outcome="placed") == 1
    assert value(found, "wasmfleet_placements_total", outcome="unplaceable") == 1
    assert value(found, "wasmfleet_placement_duration_seconds_count") == 2
    assert value(found, "wasmfleet_executions_total", deployment="m-fib", outcome="ok") == 3
    assert value(found, "wasmfleet_execution_duration_seconds_count") == 3
    assert value(found, "wasmfleet_healing_moved_steps_total") == 0
    assert value(found, "wasmfleet_rollouts_total", outcome="succeeded") == 0

    # Series: the sampler starts when asked; calls between two scrapes make a point.
    assert all(not s["points"] for s in fibo_series(fleet))  # one scrape makes no point

    def has_calls() -> bool:
        fleet.http.post("/execute/m-fib", json={"iterations": 10})
        points = [p for s in fibo_series(fleet) for p in s["points"]]
        return any(p["calls_per_s"] > 0 and p["latency_mean_ms"] is not None for p in points)

    assert wait_until(has_calls, timeout=20.0), fibo_series(fleet)
    point = next(p for s in fibo_series(fleet) for p in s["points"] if p["calls_per_s"] > 0)
    assert set(point) == {
        "t", "calls_per_s", "errors_per_s", "latency_mean_ms", "latency_p95_ms",
        "qoa_latency_ms", "qoa_confidence",
    }  # fmt: skip
    assert point["errors_per_s"] == 0 and point["qoa_latency_ms"] is None
    assert point["latency_p95_ms"] is not None and point["latency_p95_ms"] > 0

    assert fleet.http.delete("/api/v1/deployments/m-fib").status_code in (200, 204)
    after = samples(fleet.http.get("/metrics").text)
    assert not [k for k in after if ("deployment", "m-fib") in k[1]]
    assert wait_until(lambda: fibo_series(fleet) == [], timeout=20.0)


def test_device_usage_over_time(fleet: Fleet) -> None:
    assert wait_until(
        lambda: fleet.http.get("/api/v1/devices/cam/usage").json()["points"], timeout=20.0
    )
    points = fleet.http.get("/api/v1/devices/cam/usage", params={"window_s": 3600}).json()
    first = points["points"][0]
    assert set(first) == {"t", "cpu", "memory", "memory_used_mb"}
    assert 0.0 <= first["cpu"] <= 1.0 and 0.0 <= first["memory"] <= 1.0


def test_bad_input_gets_a_sentence(fleet: Fleet) -> None:
    answer = fleet.http.get("/api/v1/devices/nobody/usage")
    assert answer.status_code == 404
    assert "GET /api/v1/devices" in answer.json()["error"]["message"]
    answer = fleet.http.get("/api/v1/metrics/series", params={"window_s": "-5"})
    assert answer.status_code == 400
    assert "window_s" in answer.json()["error"]["message"]
