"""Executions: call a deployment's first step and follow the result chain to the end.

Supervisors forward results device to device themselves (the ``to`` instructions); the
orchestrator starts the pipeline at the first step and then walks the request-history
entries — ``next_result_url`` on wasmfleet supervisors, a result URL on wasmiot ones — to
report each step's device, function, result and duration. What to do at each step is
decided by ``core.hops.next_hop`` (pure, unit-tested); this module does the HTTP it asks for.
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
    Resend,
    StepOutcome,
    Walk,
    conclude,
    next_hop,
)
from wasmfleet.core.lifecycle import IN_FLIGHT, RUNNABLE, DeploymentStatus
from wasmfleet.core.protocol import (
    CALLER_ERRORS,
    EPOCH_HEADER,
    ErrorCode,
    entry_ready,
    is_refusal,
    output_file_url,
    read_entry,
)
from wasmfleet.core.replicas import pick_copy, route
from wasmfleet.core.tracing import TRACEPARENT, TraceContext
from wasmfleet.core.tracing import header as trace_header
from wasmfleet.orchestrator.answers import code_of, error_of
from wasmfleet.orchestrator.events import Notify, quiet
from wasmfleet.orchestrator.execution_run import (
    MAX_CALL_ATTEMPTS,
    WAIT_S,
    FileParts,
    Run,
    StepError,
    call_answer,
    first_function_step,
    function_url_and_output,
    span_fields,
    step_view,
)
from wasmfleet.orchestrator.metrics import OrchestratorMetrics
from wasmfleet.orchestrator.planning import copies_of, is_bridge
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord, Store
from wasmfleet.service import tracing
from wasmfleet.service.backoff import backoff_delay

log = logging.getLogger(__name__)


def _call_headers(run: Run) -> dict[str, str]:
    """The fencing epoch and (for a traced run) ``traceparent`` of a step's call."""
    headers = {EPOCH_HEADER: str(run.deployment.epoch)}
    if run.span is not None:
        headers[TRACEPARENT] = trace_header(run.span)
    return headers


class ExecutionFailed(ChainFailed):
    """A step of the pipeline failed; ``execution`` holds what was learned."""

    def __init__(self, message: str, execution: ExecutionRecord, *, bad_input: bool) -> None:
        super().__init__(message)
        self.execution = execution
        if bad_input:  # the first step refused the caller's arguments: the caller must act
            self.status = 400
            self.code = ErrorCode.INVALID_ARGUMENT


class ExecutionService:
    """Runs deployments and records each execution."""

    def __init__(self, store: Store, client: httpx.AsyncClient, timeout_s: float, retries: int):
        self.store = store
        self.client = client
        self.timeout_s = timeout_s
        self.retries = retries
        self.notify: Notify = quiet
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
            *(self.execute(deployment, args, files, first=d, trace=trace) for d in devices),
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
    ) -> ExecutionRecord:
        """Run the pipeline once (from the copy of the first step on device ``first``, else
        the one ``core.replicas`` picks); raises ExecutionFailed (recorded) when a step fails.

        ``trace`` is the caller's span (its ``traceparent``); without one a trace starts here."""
        self._check_runnable(deployment)
        span = tracing.child(trace)
        request: dict[str, Any] = {"args": dict(args), "files": sorted(files)}
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
        run = Run(deployment, args, files, execution, first=first, turn=turn, span=span)
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
        stored = await asyncio.to_thread(self.store.add_execution, execution)
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
        run.deployment = await self._ready(run.deployment, run)
        execution = run.execution
        response = await self._call_step(run, 0, list(run.args), run.files)
        if response.status_code in CALLER_ERRORS:
            execution.request["refused_with"] = 400
        walk = Walk.start(len(run.steps), call_answer(response))
        records: list[StepOutcome] = []
        unknown: dict[str, Any] | None = None  # a shown step whose value the next one holds
        for _ in range(len(run.steps) + 1):  # every decision but Finish moves one step on
            execution.result = walk.answer.result
            raw = await self._entry(walk.at) if walk.at and walk.index < walk.total else None
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
                walk = walk.resent(call_answer(await self._resend(run, decision)))
        end = conclude(walk, records)
        execution.result, execution.result_url = end.result, end.result_url
        if end.error is not None:
            raise StepError(end.error)

    async def _ready(self, deployment: DeploymentRecord, run: Run) -> DeploymentRecord:
        """Wait (within the deadline) while a deployment is being sent or moved."""
        while deployment.status in IN_FLIGHT:
            run.waiting = f"deployment {deployment.name!r} was still {deployment.status}"
            await asyncio.sleep(WAIT_S)
            found = await asyncio.to_thread(self.store.get_deployment, deployment.id)
            if found is None:
                raise StepError(f"Deployment {deployment.name!r} was deleted meanwhile.")
            deployment = found
        if deployment.status != DeploymentStatus.ACTIVE:
            raise StepError(
                f"Deployment {deployment.name!r} is {deployment.status}: {deployment.error}"
            )
        run.waiting = None
        run.steps = await self._route(deployment, run)
        return deployment

    async def _route(self, deployment: DeploymentRecord, run: Run) -> list[dict[str, Any]]:
        """The plan entry of each function step this execution goes through (one copy each)."""
        # Bridge steps are not part of the HTTP chain: the function steps chain among themselves.
        entries = [s for s in (deployment.plan or {}).get("steps", []) if not is_bridge(s)]
        manifest_steps = deployment.manifest.get("steps") or []
        chain = [i for i, s in enumerate(manifest_steps) if "bridge" not in s]
        if not chain:  # an old record without a canonical manifest: the plan's own order
            chain = sorted({int(s["step"]) for s in entries})
        copies = copies_of({"steps": entries})
        empty = [i for i in chain if not copies.get(i)]
        if empty:
            raise StepError(
                f"Step {empty[0] + 1} of deployment {deployment.name!r} has no copy: no device "
                "matches it yet (it gets one when a matching device joins)."
            )
        starts = copies[chain[0]]
        if run.first is not None and run.first in starts:
            first = run.first
        else:
            devices = await asyncio.to_thread(self.store.list_devices)
            active = {d.name for d in devices if d.status == "active"}
            candidates = [d for d in starts if d in active] or starts
            first = pick_copy(candidates, turn=run.turn) or starts[0]
        path = route([copies[i] for i in chain], first)
        by_copy = {(int(s["step"]), s["device"]): s for s in entries}
        return [by_copy[(i, d)] for i, d in zip(chain, path, strict=True) if d is not None]

    async def _call_step(
        self,
        run: Run,
        index: int,
        params: list[tuple[str, str]],
        files: FileParts,
    ) -> httpx.Response:
        """Call step ``index`` where the deployment has it now.

        A call that certainly did not run (connection refused, or refused as fenced or
        without lease by a device whose step was just moved) waits for the deployment to
        move on and is retried there; anything else is answered as it is."""
        error = ""
        for attempt in range(MAX_CALL_ATTEMPTS):
            step = run.steps[index]
            document = run.deployment.documents[step["device"]]
            endpoint = document["endpoints"][step["module"]][step["function"]]
            url = endpoint["url"].rstrip("/") + endpoint["path"]
            method = "POST" if files else str(endpoint.get("method", "GET")).upper()
            try:
                query: list[tuple[str, str | int | float | bool | None]] = list(params)
                response = await self.client.request(
                    method,
                    url,
                    params=query,
                    files=files or None,
                    headers=_call_headers(run),
                    timeout=None,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as err:
                error = f"could not be reached at {url}: {str(err) or type(err).__name__}"
            except httpx.HTTPError as err:
                raise StepError(
                    f"Step {index + 1} ({step['function']} on {step['device']}) failed: the "
                    f"connection broke during the call ({str(err) or type(err).__name__}); it may "
                    "have run, so it is not retried."
                ) from None
            else:
                if not is_refusal(response.status_code, code_of(response)):
                    return response
                error = f"refused the call: {error_of(response)}"
            run.waiting = f"step {index + 1} ({step['function']} on {step['device']}) {error}"
            if attempt + 1 < MAX_CALL_ATTEMPTS:
                await self._moved_on(run, step["device"], attempt)
        raise StepError(
            f"Step {index + 1} ({run.steps[index]['function']} on "
            f"{run.steps[index]['device']}) {error} (after {MAX_CALL_ATTEMPTS} attempts)."
        )

    async def _moved_on(self, run: Run, device: str, attempt: int) -> None:
        """Wait until the deployment has a newer epoch or ``device`` answers again."""
        epoch = run.deployment.epoch
        waited = 0.0
        pause = min(0.05 * 2**attempt, 1.0)
        while True:
            await asyncio.sleep(WAIT_S)
            waited += WAIT_S
            found = await asyncio.to_thread(self.store.get_deployment, run.deployment.id)
            if found is None:
                raise StepError(f"Deployment {run.deployment.name!r} was deleted meanwhile.")
            if found.status == DeploymentStatus.DEGRADED:
                raise StepError(
                    f"{(run.waiting or 'a step failed').capitalize()}; the deployment could "
                    f"not be moved: {found.error}"
                )
            if found.epoch > epoch and found.status == DeploymentStatus.ACTIVE:
                run.deployment = await self._ready(found, run)
                return
            if waited >= pause and found.status == DeploymentStatus.ACTIVE:
                dev = await asyncio.to_thread(self.store.get_device, device)
                if dev is not None and dev.status == "active":
                    return  # not moved, but up: try it again

    async def _resend(self, run: Run, resend: Resend) -> httpx.Response:
        """Send a step's result again to the next step, where that step is now."""
        index, previous = resend.step, run.steps[resend.step - 1]
        failed = run.steps[index]
        run.waiting = (
            f"step {index + 1} ({failed['function']} on {failed['device']}) could not be "
            f"reached from step {index}: {resend.error}"
        )
        log.warning(
            "retrying a hop after a device failure",
            extra={"deployment": run.deployment.name, "step": index + 1, "error": resend.error},
        )
        await self._moved_on(run, failed["device"], 0)
        step = run.steps[index]
        document = run.deployment.documents[step["device"]]
        endpoint = document["endpoints"][step["module"]][step["function"]]
        mounts = (document.get("mounts", {}).get(step["module"], {}) or {}).get(
            step["function"], {}
        )
        params: list[tuple[str, str]] = []
        files: FileParts = {}
        output = output_file_url(resend.value)
        if output is not None:
            got = await self.client.get(output, timeout=None)
            if got.status_code != 200:
                raise StepError(
                    f"Step {index} ({previous['function']}) ran, but its output could not be "
                    f"fetched again from {output} to retry step {index + 1}."
                )
            part = (mounts.get("execution") or [{"path": "input"}])[0]["path"]
            media = got.headers.get("content-type", "application/octet-stream")
            files[part] = (output.rsplit("/", 1)[-1], got.content, media)
        elif resend.value is not None:
            declared = (endpoint.get("request") or {}).get("parameters") or []
            name = declared[0].get("name", "param0") if declared else "param0"
            params.append((str(name), str(resend.value)))
        return await self._call_step(run, index, params, files)

    async def _entry(self, url: str) -> dict[str, Any] | None:
        """The request-history entry at ``url``, waiting (bounded) until it has a result.

        An original wasmiot supervisor answers a failed call's entry with HTTP 500 (and
        404 until a POST's queued work is done)."""
        for attempt in range(self.retries + 2):
            try:
                response = await self.client.get(url, timeout=None)
                if response.status_code in (200, 500):
                    body = response.json()
                    if entry_ready(body) and (response.status_code == 200 or "request_id" in body):
                        return dict(body)
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(backoff_delay(attempt, 0.05, 1.0))
        return None
