"""What a rollout's health gate observes: devices alive, copies answering, calls and latency.

Sources, all real:

- the store's device status (``active`` or not, with the last status sentence);
- each supervisor's ``GET /deploy``: the copy answers, and runs the target module (by id
  or sha256);
- optional probe calls the gate makes itself (``probe_args``) to every copy of the wave;
- each supervisor's call history (``GET /request-history``, the last calls it served,
  with success and duration): every call of the function counts, whether it came through
  the orchestrator's ``/execute`` (which the executions table also records: reading both
  would count those calls twice) or straight from a client. Calls are split by a *mark*:
  the newest request id a device had served when its update was sent. Calls after the
  mark on an updated device are the new version's; the rest are the previous version's.
  Marks make the split independent of the devices' clocks.

QoA reports (``health.qoa``) are not used for the decision: the supervisor aggregates them
per function over a window that spans both versions during a swap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from wasmfleet.core.rollout import GateInput, Metrics, RolloutOptions, median
from wasmfleet.orchestrator.devices import url_of
from wasmfleet.orchestrator.store import DeploymentRecord, Store


class Gate(Protocol):
    """Observes the fleet for the health gate (FleetGate below)."""

    async def mark(self, devices: Collection[str]) -> dict[str, str | None]:
        """Device → a mark separating the calls served before its update from those after."""
        ...

    async def observe(
        self,
        deployment: DeploymentRecord,
        copy: Copy,
        wave: Collection[str],
        updated: Mapping[str, str | None],
        everyone: Collection[str],
        options: RolloutOptions,
    ) -> GateInput:
        """What the gate judges after a wave."""
        ...


@dataclass(frozen=True, slots=True)
class Copy:
    """What the gate needs about the rolled-out module: its name, functions and target."""

    module: str
    functions: frozenset[str]
    module_id: str
    sha256: str | None


class FleetGate:
    """Marks devices before their update and observes a wave after it (HTTP to supervisors)."""

    def __init__(self, store: Store, client: httpx.AsyncClient, timeout_s: float = 5.0) -> None:
        self.store = store
        self.client = client
        self.timeout_s = timeout_s

    async def mark(self, devices: Collection[str]) -> dict[str, str | None]:
        """Device → the newest request id it has served (None: none, or unreachable)."""
        histories = await asyncio.gather(*(self._history(d) for d in devices))
        return {
            d: (str(h[-1].get("request_id")) if h else None)
            for d, h in zip(devices, histories, strict=True)
        }

    async def observe(
        self,
        deployment: DeploymentRecord,
        copy: Copy,
        wave: Collection[str],
        updated: Mapping[str, str | None],
        everyone: Collection[str],
        options: RolloutOptions,
    ) -> GateInput:
        """Liveness and answers of the ``wave``'s copies; calls split old/new by ``updated``
        (device → mark) over every device in ``everyone`` that holds a copy."""
        dead = await asyncio.to_thread(self._dead, wave)
        alive = [d for d in wave if d not in dead]
        answers = await asyncio.gather(*(self._answers(deployment, copy, d) for d in alive))
        unanswered = {d: why for d, why in zip(alive, answers, strict=True) if why}
        if options.probe_args and options.probe_calls:
            await asyncio.gather(
                *(self._probe(deployment, copy, d, options) for d in alive if d not in unanswered)
            )
        names = sorted(set(everyone))
        histories = await asyncio.gather(*(self._history(d) for d in names))
        old: list[dict[str, Any]] = []
        new: list[dict[str, Any]] = []
        for device, history in zip(names, histories, strict=True):
            calls = [e for e in history if _of(e, deployment.id, copy)]
            if device not in updated:
                old.extend(calls)
                continue
            before, after = _split(history, calls, updated[device])
            old.extend(before)
            new.extend(after)
        return GateInput(
            baseline=metrics_of(old), candidate=metrics_of(new), dead=dead, unanswered=unanswered
        )

    def _dead(self, devices: Collection[str]) -> dict[str, str]:
        dead: dict[str, str] = {}
        for name in devices:
            device = self.store.get_device(name)
            if device is None:
                dead[name] = "it was forgotten"
            elif device.status != "active":
                last = self.store.status_log(name, limit=1)
                dead[name] = last[-1].reason if last else device.status
        return dead

    def _url(self, name: str) -> str | None:
        device = self.store.get_device(name)
        return url_of(device) if device is not None else None

    async def _history(self, name: str) -> list[dict[str, Any]]:
        url = await asyncio.to_thread(self._url, name)
        if url is None:
            return []
        try:
            response = await self.client.get(url + "/request-history", timeout=self.timeout_s)
            entries = response.json() if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return []
        return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

    async def _answers(self, deployment: DeploymentRecord, copy: Copy, name: str) -> str | None:
        """None when the device lists the deployment with the target module; else why not."""
        url = await asyncio.to_thread(self._url, name)
        if url is None:
            return "the device is not known any more"
        try:
            response = await self.client.get(url + "/deploy", timeout=self.timeout_s)
        except httpx.HTTPError as err:
            return f"GET /deploy failed: {str(err) or type(err).__name__}"
        if response.status_code != 200:
            return f"GET /deploy answered HTTP {response.status_code}"
        try:
            listed = response.json()
        except ValueError:
            return "GET /deploy did not answer JSON"
        for dep in listed if isinstance(listed, list) else []:
            if not isinstance(dep, dict) or dep.get("deploymentId") != deployment.id:
                continue
            for module in dep.get("modules") or []:
                if module.get("id") == copy.module_id or (
                    copy.sha256 and module.get("sha256") == copy.sha256
                ):
                    return None
            return "the device does not run the new version of the module"
        return "the device does not hold the deployment"

    async def _probe(
        self, deployment: DeploymentRecord, copy: Copy, name: str, options: RolloutOptions
    ) -> None:
        """Call each function of the copy ``probe_calls`` times; the history records them."""
        document = deployment.documents.get(name) or {}
        endpoints = (document.get("endpoints") or {}).get(copy.module) or {}
        for function in sorted(copy.functions):
            endpoint = endpoints.get(function) or {}
            if not endpoint.get("url"):
                continue
            target = str(endpoint["url"]).rstrip("/") + str(endpoint.get("path", ""))
            target = target.replace("{deployment}", deployment.id)
            method = str(endpoint.get("method", "get")).upper()
            for _ in range(options.probe_calls):
                try:
                    await self.client.request(
                        method, target, params=list(options.probe_args), timeout=self.timeout_s
                    )
                except httpx.HTTPError:
                    break


def _of(entry: Mapping[str, Any], deployment_id: str, copy: Copy) -> bool:
    return (
        entry.get("deployment_id") == deployment_id
        and entry.get("module_name") == copy.module
        and entry.get("function_name") in copy.functions
        and (entry.get("duration_ms") is not None or entry.get("step_ms") is not None)
    )


def _split(
    history: list[dict[str, Any]], calls: list[dict[str, Any]], mark: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Calls served up to ``mark`` (the previous version) and after it (the new one)."""
    ids = [str(e.get("request_id")) for e in history]
    if mark is None:
        cut = -1
    elif mark in ids:
        cut = ids.index(mark)
    else:  # the mark scrolled out of the device's history: everything there is newer
        cut = -1
    position = {id(e): i for i, e in enumerate(history)}
    before = [c for c in calls if position[id(c)] <= cut]
    after = [c for c in calls if position[id(c)] > cut]
    return before, after


def metrics_of(calls: list[dict[str, Any]]) -> Metrics:
    """Calls, failures and median duration of history entries."""
    durations = [
        float(e["step_ms"] if e.get("step_ms") is not None else e["duration_ms"]) for e in calls
    ]
    return Metrics(
        calls=len(calls),
        errors=sum(1 for e in calls if not e.get("success")),
        latency_ms=median(durations),
    )
