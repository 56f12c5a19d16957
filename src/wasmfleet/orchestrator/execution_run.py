"""The state of one execution walk and the small pure helpers it needs (orchestrator/execution.py
drives the walk): the run in progress, its step error, a call's answer, a step's function URL
and output file, and a step as /api/v1 shows it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.core.hops import UNCONFIRMED, StepOutcome
from wasmfleet.core.openapi import as_object, raw_body_media
from wasmfleet.core.protocol import Answer, result_url_in
from wasmfleet.core.tracing import TraceContext, is_trace_id
from wasmfleet.orchestrator.answers import Answered, answer_of
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord

FileParts = dict[str, tuple[str, bytes, str]]
RawBody = tuple[bytes, str]
"""A request body passed to the first step as it came: (bytes, media type)."""

WAIT_S = 0.05
MAX_CALL_ATTEMPTS = 40


@dataclass
class Run:
    """One execution in progress: where the deployment is now and what it waits for."""

    deployment: DeploymentRecord
    args: list[tuple[str, str]]
    files: FileParts
    execution: ExecutionRecord
    steps: list[dict[str, Any]] = field(default_factory=list)
    waiting: str | None = None
    retried: int = 0
    first: str | None = None
    """The device of the first step's copy to start from (None: by the rule)."""
    turn: int = 0
    """This call's turn in the round robin over the first step's copies."""
    span: TraceContext | None = None
    """The orchestrator's span of this execution: the parent of the steps it calls."""
    body: RawBody | None = None
    """The caller's raw body, for a first step that takes one (a bytes-ABI function)."""


class StepError(WasmfleetError):
    """A step of the walk failed (the message says which and why)."""


def call_answer(response: Answered) -> Answer:
    """A call's answer; a "result" that is only the URL of the next hop's entry (a hop to an
    original wasmiot supervisor, which answers no value) says nothing of the result."""
    answer = answer_of(response)
    if result_url_in(answer.result) is not None:
        return replace(answer, result=None)
    return answer


def function_url_and_output(run: Run, index: int) -> tuple[str, str | None]:
    """Step ``index``'s function URL and the output file it writes (or None)."""
    step = run.steps[index]
    document = run.deployment.documents.get(step["device"]) or {}
    endpoint = ((document.get("endpoints") or {}).get(step["module"]) or {}).get(
        step["function"]
    ) or {}
    url = str(endpoint.get("url", "")).rstrip("/") + str(endpoint.get("path", ""))
    mounts = ((document.get("mounts") or {}).get(step["module"]) or {}).get(step["function"])
    outputs = (mounts or {}).get("output") or []
    return url, (str(outputs[0].get("path")) if outputs else None)


SPAN_KEYS = ("span_id", "parent_span_id")
TIME_KEYS = ("started_at_ms", "step_ms", "call_ms")


def span_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """A history entry's place in the trace, for its step view: ``trace_id``, ``span_id``,
    ``parent_span_id``, ``started_at_ms``, ``step_ms`` and ``call_ms`` (the whole call, its
    hop included); keys a supervisor did not write (or wrote oddly) are left out."""
    found: dict[str, Any] = {}
    if is_trace_id(raw.get("trace_id")):
        found["trace_id"] = raw["trace_id"]
    for key in SPAN_KEYS:
        value = raw.get(key)
        if isinstance(value, str) and len(value) == 16:
            found[key] = value
    times = {"started_at_ms": raw.get("started_at_ms"), "step_ms": raw.get("step_ms")}
    times["call_ms"] = raw.get("duration_ms")
    for key, value in times.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            found[key] = float(value)
    return found


def step_view(
    outcome: StepOutcome, step: dict[str, Any], spans: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A step of an execution record, as /api/v1 shows it (``spans``: see span_fields)."""
    shown = {
        "step": int(step.get("step", outcome.index)),  # the manifest's index (no bridges)
        "device": step["device"],
        "module": step["module"],
        "function": step["function"],
        "result": outcome.result,
        "duration_ms": outcome.duration_ms,
        "result_url": outcome.result_url,
        "success": outcome.success,
    }
    if outcome.unconfirmed:
        shown["unconfirmed"] = UNCONFIRMED
    if spans:
        shown.update(spans)
    return shown


def first_function_step(deployment: DeploymentRecord) -> int:
    """The manifest index of a deployment's first function (non-bridge) step."""
    steps = deployment.manifest.get("steps") or []
    return next((i for i, s in enumerate(steps) if "bridge" not in s), 0)


def first_step_body(deployment: DeploymentRecord) -> str | None:
    """The media type of the raw body the first function step takes (its description's
    non-form ``requestBody``: a bytes-ABI function), else None."""
    index = first_function_step(deployment)
    for step in (deployment.plan or {}).get("steps", []):
        if not isinstance(step, dict) or "device" not in step:
            continue
        if str(step.get("step")) != str(index):
            continue
        document = as_object((deployment.documents or {}).get(step["device"]))
        per_module = as_object(as_object(document.get("endpoints")).get(str(step.get("module"))))
        endpoint = as_object(per_module.get(str(step.get("function"))))
        body = as_object(as_object(endpoint.get("request")).get("request_body"))
        return raw_body_media(body.get("media_type"))
    return None
