"""Executions: call a deployment's first step and follow the result chain to the end.

Supervisors forward results device to device themselves (the ``to`` instructions); the
orchestrator starts the pipeline at the first step and then walks the request-history
entries — ``next_result_url`` on wasmfleet supervisors, a result URL on wasmiot ones — to
report each step's device, function, result and duration. What to do at each step is
decided by ``core.hops.next_hop`` (pure, unit-tested); orchestrator/step_calls.py does the HTTP
it asks for.
Every network step has bounded retries and the whole execution a deadline.

Entries of original wasmiot supervisors are read their way (``core.dialect``): a failed one
comes with HTTP 500, a step's own result is ``[json_text, files]`` (the value, or its
output file's URL), and a step that chained records only the next hop's URL, so the value
it passed on is shown from the next step's arguments. A manifest may repeat a function on
several devices: steps are followed by index, each on its own device's document.

A fleet-wide step (``replicas``) has several copies: an execution goes through one copy
of each step, chosen by ``core.replicas`` (the first step round robin over the copies on
active devices, each later one as the documents' ``to`` chain it); ``execute_all`` runs
the pipeline once from every copy of the first step.

Every execution is a W3C trace (core/tracing.py): the caller's ``traceparent`` is continued,
else a new trace starts; the orchestrator's own span is the root of the waterfall and the
first step's call carries it as ``traceparent``. The supervisors' entries name their spans,
which each step view keeps (``span_fields``), so ``GET /api/v1/executions/{id}/trace`` can draw
the execution across devices (orchestrator/traces.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from wasmfleet.core.dialect import passed_on, with_step_result
from wasmfleet.core.errors import ChainFailed, Conflict, WasmfleetError
from wasmfleet.core.hops import (
    Finish,
    Follow,
    StepOutcome,
    Walk,
    conclude,
    next_hop,
)
from wasmfleet.core.lifecycle import RUNNABLE, DeploymentStatus
from wasmfleet.core.protocol import (
    CALLER_ERRORS,
    ErrorCode,
    read_entry,
)
from wasmfleet.core.tracing import TraceContext
from wasmfleet.orchestrator.events import Notify, quiet
from wasmfleet.orchestrator.execution_run import (
    FileParts,
    RawBody,
    Run,
    StepError,
    call_answer,
    first_function_step,
    function_url_and_output,
    span_fields,
    step_view,
)
from wasmfleet.orchestrator.execution_writes import ExecutionWrites
from wasmfleet.orchestrator.metrics import OrchestratorMetrics
from wasmfleet.orchestrator.planning import copies_of, is_bridge
from wasmfleet.orchestrator.step_calls import StepCalls
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord, Store
from wasmfleet.service import tracing

log = logging.getLogger(__name__)

LOOKUP_S = 0.25
"""An execution reuses a deployment read this recently, unless this process changed one
since (another orchestrator's change is seen within this time)."""
LOOKUP_KEYS = 1024


class ExecutionFailed(ChainFailed):
    """A step of the pipeline failed; ``execution`` holds what was learned."""

    def __init__(self, message: str, execution: ExecutionRecord, *, bad_input: bool) -> None:
        super().__init__(message)
        self.execution = execution
        if bad_input:  # the first step refused the caller's arguments: the caller must act
            self.status = 400
            self.code = ErrorCode.INVALID_ARGUMENT


class DeploymentLookup:
    """The deployment an execution names (id or name), read from the store at most every
    ``LOOKUP_S`` per key: at thousands of executions a second, one read per execution (a
    worker thread and a query) cost more than the rest of the route."""

    def __init__(self, store: Store, get: Callable[[str], DeploymentRecord]) -> None:
        self.store = store
        self._get = get
        self._cache: dict[str, tuple[DeploymentRecord, int, float]] = {}
        self._reading: dict[tuple[str, int], asyncio.Task[DeploymentRecord]] = {}
        """Reads under way: executions arriving meanwhile wait for the same one (when the
        entry expires under 16 concurrent callers, one read instead of 16)."""

    async def get(self, key: str) -> DeploymentRecord:
        """The deployment with this id or name, or NotFound (from ``get``)."""
        now = time.monotonic()
        changes = self.store.deployment_changes  # before the read: a later write misses
        hit = self._cache.get(key)
        if hit is not None and hit[1] == changes and now - hit[2] < LOOKUP_S:
            return hit[0]
        flight = (key, changes)
        task = self._reading.get(flight)
        if task is None:  # a task of its own: a caller that is cancelled leaves it running
            task = asyncio.ensure_future(asyncio.to_thread(self._get, key))
            self._reading[flight] = task
            task.add_done_callback(lambda done: self._landed(flight, now, done))
        return await asyncio.shield(task)

    def _landed(
        self, flight: tuple[str, int], at: float, task: asyncio.Task[DeploymentRecord]
    ) -> None:
        self._reading.pop(flight, None)
        if task.cancelled() or task.exception() is not None:  # (NotFound: every waiter has it)
            return
        if len(self._cache) >= LOOKUP_KEYS:
            self._cache.clear()
        key, changes = flight
        self._cache[key] = (task.result(), changes, at)


class ExecutionService:
    """Runs deployments and records each execution."""

    def __init__(
        self,
        store: Store,
        client: httpx.AsyncClient,
        timeout_s: float,
        retries: int,
        *,
        flush_s: float = 0.0,
    ) -> None:
        self.store = store
        self.writes = ExecutionWrites(store, flush_s)
        """Records executions: each committed before answering, or in groups (``flush_s``)."""
        self.client = client
        self.timeout_s = timeout_s
        self.retries = retries
        self.notify: Notify = quiet
        self.calls = StepCalls(store, client, retries)
        self._turns: dict[str, int] = {}
        """Deployment id -> calls started (round robin over a fleet-wide first step)."""
        self.metrics: OrchestratorMetrics | None = None
        self.on_recorded: Callable[[ExecutionRecord, DeploymentRecord], None] | None = None
        """Called with each recorded execution (the OTLP export, service/otlp.py)."""

    async def execute_all(
        self,
        deployment: DeploymentRecord,
        args: list[tuple[str, str]],
        files: FileParts,
        trace: TraceContext | None = None,
        body: RawBody | None = None,
    ) -> list[dict[str, Any]]:
        """Run the pipeline once from every copy of its first step, in parallel; one answer
        per copy: ``{"device", "success", "result", "error", "execution"}``."""
        self._check_runnable(deployment)
        devices = copies_of(deployment.plan).get(first_function_step(deployment), [])
        if not devices:
            raise Conflict(
                f"Deployment {deployment.name!r} has no copy of its first step yet: no device "
                "matches it; it is placed when one does."
            )
        outcomes = await asyncio.gather(
            *(
                self.execute(deployment, args, files, first=d, trace=trace, body=body)
                for d in devices
            ),
            return_exceptions=True,
        )
        answers: list[dict[str, Any]] = []
        for device, outcome in zip(devices, outcomes, strict=True):
            if isinstance(outcome, ExecutionFailed):
                record: ExecutionRecord | None = outcome.execution
                error: str | None = outcome.message
            elif isinstance(outcome, WasmfleetError):
                record, error = None, outcome.message
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                record, error = outcome, None
            answers.append(
                {
                    "device": device,
                    "success": record is not None and bool(record.success) and error is None,
                    "result": record.result if record is not None else None,
                    "error": error,
                    "execution": record,
                }
            )
        return answers

    def _check_runnable(self, deployment: DeploymentRecord) -> None:
        if deployment.status not in RUNNABLE:
            why = f": {deployment.error}" if deployment.error else ""
            raise Conflict(
                f"Deployment {deployment.name!r} is {deployment.status}, not active{why}; "
                + (
                    "it is retried when the fleet changes."
                    if deployment.status == DeploymentStatus.DEGRADED
                    else "deploy it first (POST /file/manifest/{id} or "
                    "`wasmfleet deployment redeploy`)."
                )
            )
        planned = (deployment.plan or {}).get("steps", [])
        if planned and all(is_bridge(s) for s in planned):
            raise Conflict(
                f"Deployment {deployment.name!r} has only bridge steps: they forward MQTT "
                "messages on their own, so there is no function to execute."
            )

    async def execute(
        self,
        deployment: DeploymentRecord,
        args: list[tuple[str, str]],
        files: FileParts,
        *,
        first: str | None = None,
        trace: TraceContext | None = None,
        body: RawBody | None = None,
    ) -> ExecutionRecord:
        """Run the pipeline once (from the copy of the first step on device ``first``, else
        the one ``core.replicas`` picks); raises ExecutionFailed (recorded) when a step fails.

        ``trace`` is the caller's span (its ``traceparent``); without one a trace starts here.
        ``body`` goes to the first step as it came (a bytes-ABI function's payload)."""
        self._check_runnable(deployment)
        span = tracing.child(trace)
        request: dict[str, Any] = {"args": dict(args), "files": sorted(files)}
        if body is not None:
            request["body"] = {"media_type": body[1], "bytes": len(body[0])}
        request["span_id"] = span.span_id
        if trace is not None:
            request["parent_span_id"] = trace.span_id
        execution = ExecutionRecord(
            deployment_id=deployment.id,
            started_at=datetime.now(UTC),
            request=request,
            trace_id=span.trace_id,
        )
        started = time.perf_counter()
        if first is None:
            turn = self._turns.get(deployment.id, 0)
            self._turns[deployment.id] = turn + 1
        else:
            turn = 0
        run = Run(deployment, args, files, execution, first=first, turn=turn, span=span, body=body)
        error: str | None = None
        token = tracing.CURRENT.set(span)  # the orchestrator's log lines carry the trace
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._run(run)
        except TimeoutError:
            error = f"The execution did not finish within {self.timeout_s:g} s"
            error += f": {run.waiting}." if run.waiting else "."
        except StepError as err:
            error = str(err)
        finally:
            tracing.CURRENT.reset(token)
        execution.finished_at = datetime.now(UTC)
        execution.request["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        if run.retried:
            execution.request["retried_hops"] = run.retried
        execution.success = error is None and all(s.get("success") for s in execution.steps)
        if error is None and not execution.success:
            failed = next(s for s in execution.steps if not s.get("success"))
            error = (
                f"Step {failed['step'] + 1} ({failed['function']} on {failed['device']}) "
                f"failed: {failed.get('result')}"
            )
        execution.error = error
        if self.metrics is not None:
            bad_input = execution.request.get("refused_with") == 400
            outcome = "ok" if error is None else "bad_input" if bad_input else "failed"
            self.metrics.executed(deployment.name, outcome, time.perf_counter() - started)
        stored = await self.writes.record(execution)
        if self.on_recorded is not None:
            self.on_recorded(stored, run.deployment)
        self.notify(
            "execution",
            {
                "id": stored.id,
                "deployment_id": stored.deployment_id,
                "deployment": deployment.name,
                "success": stored.success,
                "error": stored.error,
            },
        )
        if error is not None:
            log.warning("execution failed", extra={"deployment": deployment.name, "error": error})
            raise ExecutionFailed(
                error, stored, bad_input=execution.request.get("refused_with") == 400
            )
        return stored

    async def _run(self, run: Run) -> None:
        """Call the first step, then walk the chain as ``core.hops.next_hop`` decides."""
        run.deployment = await self.calls.ready(run.deployment, run)
        execution = run.execution
        response = await self.calls.call_step(run, 0, list(run.args), run.files)
        if response.status_code in CALLER_ERRORS:
            execution.request["refused_with"] = 400
        walk = Walk.start(len(run.steps), call_answer(response))
        records: list[StepOutcome] = []
        unknown: dict[str, Any] | None = None  # a shown step whose value the next one holds
        for _ in range(len(run.steps) + 1):  # every decision but Finish moves one step on
            execution.result = walk.answer.result
            raw = await self.calls.entry(walk.at) if walk.at and walk.index < walk.total else None
            wasmiot_chained = raw is not None and "step_result" not in raw
            if raw is not None:
                raw = with_step_result(raw, *function_url_and_output(run, walk.index))
                if unknown is not None:
                    unknown["result"] = passed_on(raw)
                wasmiot_chained = wasmiot_chained and raw["step_result"] is None
            unknown = None
            decision = next_hop(walk, read_entry(raw) if raw is not None else None)
            done = decision.records if isinstance(decision, Finish) else (decision.record,)
            records.extend(done)
            spans = span_fields(raw) if raw is not None else {}
            execution.steps.extend(
                step_view(r, run.steps[r.index], spans if r.index == walk.index else None)
                for r in done
            )
            if isinstance(decision, Finish):
                break
            if wasmiot_chained:
                unknown = execution.steps[-1]
            if isinstance(decision, Follow):
                walk = walk.followed(decision.url)
            else:
                run.retried = walk.retried + 1
                walk = walk.resent(call_answer(await self.calls.resend(run, decision)))
        end = conclude(walk, records)
        execution.result, execution.result_url = end.result, end.result_url
        if end.error is not None:
            raise StepError(end.error)
