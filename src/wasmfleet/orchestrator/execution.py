"""Executions: call a deployment's first step and follow the result chain to the end.

Supervisors forward results device to device themselves (the ``to`` instructions); the
orchestrator starts the pipeline at the first step and then walks the request-history
entries — ``next_result_url`` on wasmfleet supervisors, a result URL on wasmiot ones — to
report each step's device, function, result and duration. Every network step has bounded
retries and the whole execution a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx

from wasmfleet.core.errors import ChainFailed, Conflict, WasmfleetError
from wasmfleet.orchestrator.answers import error_of
from wasmfleet.orchestrator.store import DeploymentRecord, ExecutionRecord, Store

log = logging.getLogger(__name__)

FileParts = dict[str, tuple[str, bytes, str]]


class ExecutionFailed(ChainFailed):
    """A step of the pipeline failed; ``execution`` holds what was learned."""

    def __init__(self, message: str, execution: ExecutionRecord, *, bad_input: bool) -> None:
        super().__init__(message)
        self.execution = execution
        if bad_input:  # the first step refused the caller's arguments: the caller must act
            self.status = 400
            self.code = "invalid_argument"


class ExecutionService:
    """Runs deployments and records each execution."""

    def __init__(self, store: Store, client: httpx.AsyncClient, timeout_s: float, retries: int):
        self.store = store
        self.client = client
        self.timeout_s = timeout_s
        self.retries = retries

    async def execute(
        self, deployment: DeploymentRecord, args: list[tuple[str, str]], files: FileParts
    ) -> ExecutionRecord:
        """Run the pipeline once; raises ExecutionFailed (recorded) when a step fails."""
        if deployment.status != "active":
            raise Conflict(
                f"Deployment {deployment.name!r} is {deployment.status}, not active; deploy it "
                "first (POST /file/manifest/{id} or `wasmfleet deployment redeploy`)."
            )
        steps = (deployment.plan or {}).get("steps", [])
        execution = ExecutionRecord(
            deployment_id=deployment.id,
            started_at=datetime.now(UTC),
            request={"args": dict(args), "files": sorted(files)},
        )
        started = time.perf_counter()
        error: str | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._run(deployment, steps, args, files, execution)
        except TimeoutError:
            error = f"The execution did not finish within {self.timeout_s:g} s."
        except _StepError as err:
            error = str(err)
        execution.finished_at = datetime.now(UTC)
        execution.request["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        execution.success = error is None and all(s.get("success") for s in execution.steps)
        if error is None and not execution.success:
            failed = next(s for s in execution.steps if not s.get("success"))
            error = (
                f"Step {failed['step'] + 1} ({failed['function']} on {failed['device']}) "
                f"failed: {failed.get('result')}"
            )
        execution.error = error
        stored = await asyncio.to_thread(self.store.add_execution, execution)
        if error is not None:
            log.warning("execution failed", extra={"deployment": deployment.name, "error": error})
            raise ExecutionFailed(
                error, stored, bad_input=execution.request.get("refused_with") == 400
            )
        return stored

    async def _run(
        self,
        deployment: DeploymentRecord,
        steps: list[dict[str, Any]],
        args: list[tuple[str, str]],
        files: FileParts,
        execution: ExecutionRecord,
    ) -> None:
        first = steps[0]
        endpoint = deployment.documents[first["device"]]["endpoints"][first["module"]][
            first["function"]
        ]
        url = endpoint["url"].rstrip("/") + endpoint["path"]
        method = "POST" if files else str(endpoint.get("method", "GET")).upper()
        response = await self._call(method, url, args, files, first)
        body = _json(response)
        answer_ok = response.status_code < 400 and body.get("success") is not False
        if response.status_code in (400, 413, 415):
            execution.request["refused_with"] = 400
        result_url = body.get("resultUrl")
        execution.result = body.get("result")
        for i, step in enumerate(steps):
            entry = await self._entry(result_url, step) if result_url else None
            if entry is None:
                if i == 0 and not answer_ok:
                    execution.steps.append(
                        _step(i, step, False, error_of(response), None, result_url)
                    )
                break
            own = entry.get("step_result", entry.get("result"))
            success = bool(entry.get("success", True))
            next_url = entry.get("next_result_url") or _url_in(entry.get("result"))
            if not success and next_url is None and i + 1 < len(steps) and "chained_to" in entry:
                # This step ran (a supervisor chains only after success); the next hop failed
                # and its error is this entry's result.
                execution.steps.append(_step(i, step, True, own, entry, result_url))
                execution.steps.append(
                    _step(i + 1, steps[i + 1], False, entry.get("result"), None, None)
                )
                break
            execution.steps.append(_step(i, step, success, own, entry, result_url))
            if not success:
                break
            result_url = next_url
            if result_url is None:
                break
        execution.result_url = (
            execution.steps[-1].get("result_url") if execution.steps else result_url
        )
        if execution.result is None and execution.steps:
            execution.result = execution.steps[-1].get("result")
        if not answer_ok and all(s.get("success") for s in execution.steps):
            raise _StepError(error_of(response))

    async def _call(
        self,
        method: str,
        url: str,
        args: list[tuple[str, str]],
        files: FileParts,
        step: dict[str, Any],
    ) -> httpx.Response:
        error = ""
        for attempt in range(self.retries):
            try:
                params: list[tuple[str, str | int | float | bool | None]] = list(args)
                return await self.client.request(
                    method, url, params=params, files=files or None, timeout=None
                )
            except httpx.HTTPError as err:
                error = str(err) or type(err).__name__
            await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
        raise _StepError(
            f"Step 1 ({step['function']} on {step['device']}) could not be reached at {url} "
            f"after {self.retries} attempts: {error}"
        )

    async def _entry(self, url: str, step: dict[str, Any]) -> dict[str, Any] | None:
        """The request-history entry at ``url``, waiting (bounded) until it has a result."""
        for attempt in range(self.retries + 2):
            try:
                response = await self.client.get(url, timeout=None)
                if response.status_code == 200:
                    body = response.json()
                    if isinstance(body, dict) and (
                        body.get("result") is not None or body.get("success") is not None
                    ):
                        return body
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        return None


class _StepError(WasmfleetError):
    pass


def _step(
    index: int,
    step: dict[str, Any],
    success: bool,
    result: Any,
    entry: dict[str, Any] | None,
    result_url: str | None = None,
) -> dict[str, Any]:
    duration = None
    if entry is not None:
        duration = entry.get("step_ms", entry.get("duration_ms"))
    return {
        "step": index,
        "device": step["device"],
        "module": step["module"],
        "function": step["function"],
        "result": result,
        "duration_ms": duration,
        "result_url": result_url,
        "success": success,
    }


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"result": body}


def _url_in(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("resultUrl")
    if isinstance(value, str) and "/request-history/" in value and value.startswith("http"):
        return value
    return None
