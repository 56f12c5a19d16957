"""An execution as a trace: the spans of its hops, for a waterfall (docs/tracing.md).

``trace_view`` turns an execution record into ``GET /api/v1/executions/{id}/trace``'s answer:
the orchestrator's span (the root of the waterfall: the whole execution) and one span per step
from what the supervisors wrote into their history entries (``started_at_ms``, ``step_ms``,
``duration_ms``, read into the step views by ``execution_run.span_fields``). Offsets are from
the execution's start; a step's ``start_ms`` is read on its device's clock, so skew between
clocks shifts its bar (docs/tracing.md, "Clocks"). A step whose entry said nothing about its
span (an original wasmiot supervisor, or one whose record could not be read) still gets a
span, with ``null`` times.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wasmfleet.core.errors import BadRequest, NotFound
from wasmfleet.core.tracing import TRACEPARENT, TraceContext, is_trace_id, parse
from wasmfleet.orchestrator import schemas
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord


def caller_trace(request: Request) -> TraceContext | None:
    """The caller's ``traceparent`` (None when absent or invalid: a new trace starts)."""
    return parse(request.headers.get(TRACEPARENT))


def check_trace_id(value: str | None) -> str | None:
    """A ``trace_id`` query value, checked (BadRequest naming the expected form)."""
    if value is None:
        return None
    if not is_trace_id(value):
        raise BadRequest(
            f"trace_id must be 32 lower-case hex digits (not all zero), as in a traceparent "
            f"header, got {value!r}."
        )
    return value


def _ms(value: float) -> float:
    return round(value, 3)


def trace_view(execution: ExecutionRecord, deployment: DeploymentRecord | None) -> dict[str, Any]:
    """The execution's spans, root first, then the steps in pipeline order."""
    request = execution.request
    started = execution.started_at
    start_ms = started.timestamp() * 1000 if started is not None else None
    duration = request.get("duration_ms")
    if duration is None and started is not None and execution.finished_at is not None:
        duration = (execution.finished_at - started).total_seconds() * 1000
    root_id = request.get("span_id")
    spans: list[dict[str, Any]] = [
        {
            "span_id": root_id,
            "parent_span_id": request.get("parent_span_id"),
            "name": f"execute {deployment.name if deployment else execution.deployment_id}",
            "kind": "orchestrator",
            "device": None,
            "start_ms": 0.0,
            "duration_ms": _ms(duration) if duration is not None else None,
            "self_ms": None,
            "success": execution.success,
            "error": execution.error,
        }
    ]
    for step in execution.steps:
        began = step.get("started_at_ms")
        offset = _ms(began - start_ms) if began is not None and start_ms is not None else None
        own = step.get("step_ms", step.get("duration_ms"))
        whole = step.get("call_ms", own)
        spans.append(
            {
                "span_id": step.get("span_id"),
                "parent_span_id": step.get("parent_span_id"),
                "name": f"{step.get('module')}.{step.get('function')}",
                "kind": "step",
                "device": step.get("device"),
                "start_ms": offset,
                "duration_ms": _ms(whole) if whole is not None else None,
                "self_ms": _ms(own) if own is not None else None,
                "success": bool(step.get("success")),
                "error": None if step.get("success") else _error_text(step.get("result")),
            }
        )
    return {
        "trace_id": execution.trace_id,
        "execution": execution.id,
        "deployment": deployment.name if deployment else execution.deployment_id,
        "started_at_ms": _ms(start_ms) if start_ms is not None else None,
        "duration_ms": _ms(duration) if duration is not None else None,
        "spans": spans,
    }


def _error_text(result: Any) -> str | None:
    return None if result is None else str(result)


def trace_routes(router: APIRouter, store: Any) -> None:
    """Add ``GET /executions/{id}/trace`` to the /api/v1 ``router``."""

    @router.get(
        "/executions/{execution_id}/trace",
        response_model=schemas.ExecutionTrace,
        tags=["executions"],
    )
    def execution_trace(execution_id: str) -> Any:
        """The execution as a trace: one span for the orchestrator and one per step, with
        offsets from the execution's start (for a waterfall; docs/tracing.md)."""
        found = store.get_execution(execution_id)
        if found is None:
            raise NotFound(
                f"No execution {execution_id!r}: list them with GET /api/v1/executions "
                "(executions of a removed deployment are removed with it)."
            )
        return trace_view(found, store.get_deployment(found.deployment_id))
