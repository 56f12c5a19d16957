"""How an execution reaches its steps: find where each step is now, call it, follow its entry.

``StepCalls`` is the HTTP and waiting half of an execution (orchestrator/execution.py walks the
chain and records it): a step is called where the deployment has it now, a call that certainly
did not run waits (within the execution's deadline) for the deployment to move on or the device
to answer again and is retried, a hop that failed is resent to where the next step moved, and a
request-history entry is read with bounded retries until it has its result.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from wasmfleet.core.hops import Resend
from wasmfleet.core.lifecycle import IN_FLIGHT, DeploymentStatus
from wasmfleet.core.protocol import EPOCH_HEADER, entry_ready, is_refusal, output_file_url
from wasmfleet.core.replicas import pick_copy, route
from wasmfleet.core.tracing import TRACEPARENT
from wasmfleet.core.tracing import header as trace_header
from wasmfleet.orchestrator.answers import Answered, code_of, error_of
from wasmfleet.orchestrator.device_trust import ControlAuth
from wasmfleet.orchestrator.execution_run import (
    MAX_CALL_ATTEMPTS,
    WAIT_S,
    FileParts,
    Run,
    StepError,
)
from wasmfleet.orchestrator.planning import copies_of, is_bridge
from wasmfleet.orchestrator.step_http import StepHttp
from wasmfleet.orchestrator.store import DeploymentRecord, Store
from wasmfleet.service.backoff import backoff_delay

log = logging.getLogger(__name__)


def _call_headers(run: Run) -> dict[str, str]:
    """The fencing epoch and (for a traced run) ``traceparent`` of a step's call."""
    headers = {EPOCH_HEADER: str(run.deployment.epoch)}
    if run.span is not None:
        headers[TRACEPARENT] = trace_header(run.span)
    return headers


class StepCalls:
    """Calls the steps of executions over HTTP, where their deployment has them now."""

    def __init__(self, store: Store, client: httpx.AsyncClient, retries: int) -> None:
        self.store = store
        self.client = client
        self.retries = retries
        auth = client.auth
        bearer = auth.trust.bearer_for if isinstance(auth, ControlAuth) else None
        self.http: StepHttp | None = (
            StepHttp(client, bearer) if bearer is not None or auth is None else None
        )
        """The calls and entry reads (None: the client's own auth must see every request)."""

    async def _get(self, url: str) -> Answered:
        if self.http is not None:
            return await self.http.request("GET", url)
        return await self.client.get(url, timeout=None)

    async def ready(self, deployment: DeploymentRecord, run: Run) -> DeploymentRecord:
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
        run.steps = await self.route(deployment, run)
        return deployment

    async def route(self, deployment: DeploymentRecord, run: Run) -> list[dict[str, Any]]:
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
        elif len(starts) == 1:  # one copy: nothing to choose, no need to read the fleet
            first = starts[0]
        else:
            devices = await asyncio.to_thread(self.store.list_devices)
            active = {d.name for d in devices if d.status == "active"}
            candidates = [d for d in starts if d in active] or starts
            first = pick_copy(candidates, turn=run.turn) or starts[0]
        path = route([copies[i] for i in chain], first)
        by_copy = {(int(s["step"]), s["device"]): s for s in entries}
        return [by_copy[(i, d)] for i, d in zip(chain, path, strict=True) if d is not None]

    async def call_step(
        self,
        run: Run,
        index: int,
        params: list[tuple[str, str]],
        files: FileParts,
    ) -> Answered:
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
            body = run.body if index == 0 and not files else None
            method = "POST" if files or body else str(endpoint.get("method", "GET")).upper()
            response: Answered
            try:
                if body is not None:  # the caller's raw body, as it came (a bytes payload)
                    response = await self.client.request(
                        method,
                        url,
                        params=list(params),
                        content=body[0],
                        headers={**_call_headers(run), "content-type": body[1]},
                        timeout=None,
                    )
                elif self.http is not None and not files:
                    response = await self.http.request(method, url, params, _call_headers(run))
                else:
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
                await self.moved_on(run, step["device"], attempt)
        raise StepError(
            f"Step {index + 1} ({run.steps[index]['function']} on "
            f"{run.steps[index]['device']}) {error} (after {MAX_CALL_ATTEMPTS} attempts)."
        )

    async def moved_on(self, run: Run, device: str, attempt: int) -> None:
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
                run.deployment = await self.ready(found, run)
                return
            if waited >= pause and found.status == DeploymentStatus.ACTIVE:
                dev = await asyncio.to_thread(self.store.get_device, device)
                if dev is not None and dev.status == "active":
                    return  # not moved, but up: try it again

    async def resend(self, run: Run, resend: Resend) -> Answered:
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
        await self.moved_on(run, failed["device"], 0)
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
        return await self.call_step(run, index, params, files)

    async def entry(self, url: str) -> dict[str, Any] | None:
        """The request-history entry at ``url``, waiting (bounded) until it has a result.

        An original wasmiot supervisor answers a failed call's entry with HTTP 500 (and
        404 until a POST's queued work is done)."""
        for attempt in range(self.retries + 2):
            try:
                response = await self._get(url)
                if response.status_code in (200, 500):
                    body = response.json()
                    if entry_ready(body) and (response.status_code == 200 or "request_id" in body):
                        return dict(body)
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(backoff_delay(attempt, 0.05, 1.0))
        return None
