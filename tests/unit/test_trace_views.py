"""The trace view of an execution record, and the terminal waterfall drawn from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wasmfleet.cli.trace_view import BAR_WIDTH, OWN, ROOT, WAIT, bar, waterfall_rows
from wasmfleet.orchestrator.execution_run import span_fields
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord
from wasmfleet.orchestrator.traces import trace_view

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
MS0 = T0.timestamp() * 1000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def _step(device: str, span: str, parent: str, start: float, own: float, call: float) -> dict:
    raw = {
        "trace_id": TRACE,
        "span_id": span,
        "parent_span_id": parent,
        "started_at_ms": MS0 + start,
        "step_ms": own,
        "duration_ms": call,
    }
    return {
        "step": 0,
        "device": device,
        "module": "fibo",
        "function": "fibo",
        "result": "5",
        "duration_ms": own,
        "success": True,
        **span_fields(raw),
    }


def test_trace_view_offsets_and_parents() -> None:
    record = ExecutionRecord(
        "d1",
        id="e1",
        started_at=T0,
        finished_at=T0 + timedelta(milliseconds=30),
        success=True,
        request={"span_id": "a" * 16, "duration_ms": 30.0},
        steps=[
            _step("cam", "b" * 16, "a" * 16, 2.0, 1.0, 20.0),
            _step("edge", "c" * 16, "b" * 16, 5.5, 3.0, 3.0),
        ],
        trace_id=TRACE,
    )
    view = trace_view(record, DeploymentRecord(name="pipe", manifest={}, id="d1"))
    assert view["trace_id"] == TRACE and view["deployment"] == "pipe"
    assert view["started_at_ms"] == round(MS0, 3) and view["duration_ms"] == 30.0
    root, cam, edge = view["spans"]
    assert root["kind"] == "orchestrator" and root["parent_span_id"] is None
    assert (cam["start_ms"], cam["duration_ms"], cam["self_ms"]) == (2.0, 20.0, 1.0)
    assert (edge["start_ms"], edge["parent_span_id"]) == (5.5, "b" * 16)


def test_a_step_without_span_keeps_its_place_with_null_times() -> None:
    record = ExecutionRecord(
        "d1",
        id="e2",
        started_at=T0,
        request={"duration_ms": 5.0},
        steps=[{"device": "old", "module": "m", "function": "f", "success": False, "result": "x"}],
    )
    (_, step) = trace_view(record, None)["spans"]
    assert step["span_id"] is None and step["start_ms"] is None
    assert step["error"] == "x" and not step["success"]


def test_span_fields_drop_malformed_values() -> None:
    found = span_fields({"trace_id": "nope", "span_id": 3, "started_at_ms": True, "step_ms": -1})
    assert found == {}


def test_bars_are_to_scale() -> None:
    assert bar(0, 100, None, 100) == ROOT * BAR_WIDTH
    half = bar(50, 50, 10, 100)
    assert half.startswith(" " * (BAR_WIDTH // 2)) and half.strip() == OWN * 4 + WAIT * 16
    assert bar(None, 3, 1, 100) == "?"
    rows = waterfall_rows(
        {"duration_ms": 10, "spans": [{"name": "x", "kind": "step", "start_ms": 0,
                                       "duration_ms": 10, "self_ms": 10, "success": True}]}
    )  # fmt: skip
    assert rows[0][5] == OWN * BAR_WIDTH and rows[0][6] == "ok"
