"""``GET /metrics`` of a real supervisor: calls by outcome, durations, QoA histograms, bounds.

A WAT guest that reports QoA (tests/integration/test_qoa.py) is deployed on a real
supervisor process, called with known values, and the Prometheus text it serves is parsed
with prometheus_client's own parser.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import wasmtime
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_qoa import GUEST, probe_description
from tests.support import FileServer, SupervisorProcess

CALL_KEY = {"deployment": "m", "module": "probe", "function": "probe"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``{(sample name, labels): value}`` of a Prometheus text exposition."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    """The sample ``name`` with exactly ``labels``, or None."""
    return found.get((name, frozenset(labels.items())))


def deploy_probe(sup: SupervisorProcess, files: FileServer) -> None:
    """Deploy the QoA probe guest as deployment ``m``."""
    binary = files.add("probe/probe.wasm", bytes(wasmtime.wat2wasm(GUEST)))
    described = files.add("probe/description.json", json.dumps(probe_description()).encode())
    body = {
        "deploymentId": "m",
        "modules": [
            {"id": "p", "name": "probe", "urls": {"binary": binary, "description": described}}
        ],
    }
    assert sup.deploy(body).status_code == 200


def test_metrics_count_calls_qoa_and_forget_removed_deployments(
    start_supervisor: Any, files: FileServer
) -> None:
    sup: SupervisorProcess = start_supervisor("metrics")
    deploy_probe(sup, files)
    for latency, confidence in ((10, 0.5), (30, 1), (20, 0)):
        answer = sup.get(f"/m/modules/probe/probe?latency={latency}&confidence={confidence}")
        assert answer.status_code == 200, answer.text
    bad = sup.get("/m/modules/probe/probe?latency=ten&confidence=1")
    assert bad.status_code == 400, bad.text
    assert sup.get("/m/modules/probe/nothing").status_code == 404  # unknown: not a series

    answer = sup.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(answer.text)
    assert value(found, "wasmfleet_calls_total", **CALL_KEY, outcome="ok") == 3
    assert value(found, "wasmfleet_calls_total", **CALL_KEY, outcome="bad_request") == 1
    assert value(found, "wasmfleet_calls_total", **CALL_KEY, outcome="error") is None
    assert not [k for k in found if ("function", "nothing") in k[1]]
    assert value(found, "wasmfleet_call_duration_seconds_count", **CALL_KEY) == 3
    assert value(found, "wasmfleet_call_duration_seconds_bucket", **CALL_KEY, le="+Inf") == 3
    assert value(found, "wasmfleet_instances") == 1
    assert value(found, "wasmfleet_compile_cache_misses_total") == 1
    assert value(found, "wasmfleet_compile_cache_hits_total") == 0
    assert value(found, "wasmfleet_mqtt_messages_total", direction="in") == 0
    # QoA: 10, 30 and 20 ms; confidences 0.5, 1 and 0 — as histograms.
    assert value(found, "wasmfleet_qoa_latency_seconds_count", **CALL_KEY) == 3
    qoa_sum = value(found, "wasmfleet_qoa_latency_seconds_sum", **CALL_KEY)
    assert qoa_sum is not None and abs(qoa_sum - 0.06) < 1e-9
    assert value(found, "wasmfleet_qoa_latency_seconds_bucket", **CALL_KEY, le="0.01") == 1
    assert value(found, "wasmfleet_qoa_latency_seconds_bucket", **CALL_KEY, le="0.025") == 2
    assert value(found, "wasmfleet_qoa_confidence_sum", **CALL_KEY) == 1.5
    assert value(found, "wasmfleet_qoa_confidence_bucket", **CALL_KEY, le="0.5") == 2

    assert httpx.delete(f"{sup.url}/deploy/m", timeout=10).status_code == 200
    after = samples(sup.get("/metrics").text)
    assert not [k for k in after if ("deployment", "m") in k[1]]
    assert value(after, "wasmfleet_instances") == 0


def test_metrics_can_be_switched_off(start_supervisor: Any, files: FileServer) -> None:
    sup: SupervisorProcess = start_supervisor("quiet", args=["--no-metrics"])
    deploy_probe(sup, files)
    assert sup.get("/m/modules/probe/probe?latency=1&confidence=1").status_code == 200
    answer = sup.get("/metrics")
    assert answer.status_code == 404
    assert "--no-metrics" in answer.json()["error"]["message"]
