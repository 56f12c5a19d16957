"""Quality of analytics: ``wasmfleet.qoa_report`` from a guest, aggregated per function.

A WAT guest reports known values through the real runtime (wasmtime, the host function of
runtime/host/qoa.py) into a ``QualityBook`` (supervisor/quality.py); then a real supervisor
process serves the aggregates in GET /health and GET /api/v1/status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import wasmtime

from tests.support import FileServer, SupervisorProcess
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.registry import offered_interfaces
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits
from wasmfleet.supervisor.quality import QualityBook, nearest_rank

GUEST = """
(module
  (import "wasmfleet" "qoa_report" (func $report (param f32 f32) (result i32)))
  (memory (export "memory") 1)
  (func (export "probe") (param $latency f32) (param $confidence f32) (result i32)
    (call $report (local.get $latency) (local.get $confidence)))
  (func (export "other") (result i32)
    (call $report (f32.const 2.5) (f32.const 0.25))))
"""
PATH_PARAMS = [
    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
    for n in ("deployment", "module")
]


def probe_description() -> dict[str, Any]:
    """An OpenAPI description of the guest: probe(latency, confidence) and other()."""

    def number(name: str) -> dict[str, Any]:
        schema = {"type": "number", "format": "float"}
        return {"name": name, "in": "query", "required": True, "schema": schema}

    def op(params: list[dict[str, Any]]) -> dict[str, Any]:
        schema = {"type": "integer", "format": "int32"}
        return {
            "get": {
                "parameters": params,
                "responses": {"200": {"content": {"application/json": {"schema": schema}}}},
                "x-mounts": [],
            },
            "parameters": PATH_PARAMS,
        }

    return {
        "openapi": "3.0.3",
        "info": {"title": "probe", "version": "1.0.0"},
        "paths": {
            "/{deployment}/modules/{module}/probe": op([number("latency"), number("confidence")]),
            "/{deployment}/modules/{module}/other": op([]),
        },
    }


@pytest.fixture
def engine() -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=5.0, memory_limit_bytes=16 * MiB))
    yield eng
    eng.close()


def guest(engine: WasmEngine, tmp_path: Path, book: QualityBook | None) -> WasmInstance:
    compiled = engine.compile(bytes(wasmtime.wat2wasm(GUEST)))
    devices = HostDevices(None, None, qoa=book)
    return WasmInstance(engine, compiled, tmp_path, devices, deployment="lab", module="probe")


def test_every_device_offers_qoa_report() -> None:
    everything = frozenset({"camera", "dht", "broker", "images", "nn"})
    assert "wasmfleet.qoa_report" in offered_interfaces(everything)[1]


def test_reports_aggregate_exactly_per_function(engine: WasmEngine, tmp_path: Path) -> None:
    book = QualityBook()
    probe = guest(engine, tmp_path, book)
    for n in range(1, 101):  # latencies 1..100 ms, confidences 0.5 and 1.0 in turn
        assert probe.call("probe", (float(n), 0.5 if n % 2 else 1.0)) == 0
    assert probe.call("other", ()) == 0
    seen = book.snapshot()
    assert set(seen) == {"lab/probe/probe", "lab/probe/other"}
    stats = seen["lab/probe/probe"]
    assert stats["count"] == stats["window"] == 100
    assert (stats["latency_p50_ms"], stats["latency_p99_ms"], stats["latency_max_ms"]) == (
        50.0,
        99.0,
        100.0,
    )
    assert stats["confidence_mean"] == 0.75
    assert (stats["last_latency_ms"], stats["last_confidence"]) == (100.0, 1.0)
    other = seen["lab/probe/other"]
    assert (other["count"], other["latency_p50_ms"], other["confidence_mean"]) == (1, 2.5, 0.25)
    assert other["last_report_at"] >= stats["last_report_at"] > 0


@pytest.mark.parametrize(
    ("latency", "confidence"),
    [
        (math.nan, 0.5),
        (1.0, math.nan),
        (-0.5, 0.5),
        (1.0, -0.25),
        (1.0, 1.5),
        (math.inf, 0.5),
    ],
)
def test_bad_values_answer_minus_one_and_are_not_recorded(
    engine: WasmEngine, tmp_path: Path, latency: float, confidence: float
) -> None:
    book = QualityBook()
    probe = guest(engine, tmp_path, book)
    assert probe.call("probe", (latency, confidence)) == -1
    assert book.snapshot() == {} and book.reports == 0
    assert probe.call("probe", (0.0, 1.0)) == 0  # the edges are fine
    assert book.snapshot()["lab/probe/probe"]["count"] == 1


def test_without_a_book_reports_are_accepted(engine: WasmEngine, tmp_path: Path) -> None:
    assert guest(engine, tmp_path, None).call("probe", (3.0, 0.5)) == 0


def test_the_book_is_bounded() -> None:
    book = QualityBook(max_functions=2, samples=3)
    for latency in (9.0, 1.0, 2.0, 3.0):
        book.record("d/m/a", latency, 0.5)
    a = book.snapshot()["d/m/a"]
    assert (a["count"], a["window"], a["latency_max_ms"]) == (4, 3, 3.0)  # 9.0 fell out
    book.record("d/m/b", 1.0, 1.0)
    book.record("d/m/a", 1.0, 1.0)  # a is now the most recent
    book.record("e/m/c", 1.0, 1.0)  # full: b, reported least recently, goes
    assert set(book.snapshot()) == {"d/m/a", "e/m/c"} and book.forgotten == 1
    book.removed("d")
    assert set(book.snapshot()) == {"e/m/c"}


def test_nearest_rank() -> None:
    assert nearest_rank([], 50) is None
    assert nearest_rank([7.0], 99) == 7.0
    assert [nearest_rank([1.0, 2.0, 3.0, 4.0], p) for p in (25, 50, 51, 99, 100)] == [
        1.0,
        2.0,
        3.0,
        4.0,
        4.0,
    ]


def test_a_supervisor_serves_the_aggregates(
    start_supervisor: Any, files: FileServer, tmp_path: Path
) -> None:
    sup: SupervisorProcess = start_supervisor("qoa")
    binary = files.add("probe/probe.wasm", bytes(wasmtime.wat2wasm(GUEST)))
    described = files.add("probe/description.json", json.dumps(probe_description()).encode())
    body = {
        "deploymentId": "q",
        "modules": [
            {"id": "p", "name": "probe", "urls": {"binary": binary, "description": described}}
        ],
    }
    assert sup.deploy(body).status_code == 200
    assert sup.get("/health").json()["qoa"] == {}
    for latency, confidence in ((10, 0.5), (30, 1), (20, 0)):
        answer = sup.get(f"/q/modules/probe/probe?latency={latency}&confidence={confidence}")
        assert answer.json()["result"] == "0", answer.text
    assert sup.get("/q/modules/probe/probe?latency=5&confidence=2").json()["result"] == "-1"
    health = sup.get("/health").json()
    assert 0.0 <= health["cpuUsage"] <= 1.0
    stats = health["qoa"]["q/probe/probe"]
    assert (stats["count"], stats["latency_p50_ms"], stats["latency_p99_ms"]) == (3, 20.0, 30.0)
    assert stats["confidence_mean"] == 0.5
    assert sup.get("/api/v1/status").json()["qoa"] == health["qoa"]
    assert httpx.delete(f"{sup.url}/deploy/q", timeout=10).status_code == 200
    assert sup.get("/health").json()["qoa"] == {}
