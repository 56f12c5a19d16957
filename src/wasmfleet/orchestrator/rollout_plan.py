"""Planning a rollout from stored state, and the lookups its driver needs.

``RolloutPlanner.plan`` refuses, before anything is stored or sent, what cannot run: an
unknown deployment or module (404), a deployment with no copy of the module, a target every
copy already runs, options out of range (400), a version lacking a function the deployment
calls or needing host functions a target device does not offer (422 with each device's
reason, worded as placement words it). One active rollout per deployment is enforced by the
store (409).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from wasmfleet.core.bounds import whole_number
from wasmfleet.core.errors import InvalidDocument, NotFound, PlacementFailed
from wasmfleet.core.openapi import description_operations
from wasmfleet.core.rollout import (
    RolloutEvent,
    RolloutOptions,
    RolloutStatus,
    advance,
    check_options,
    parse_duration,
    parse_waves,
    plan_waves,
    unrunnable,
)
from wasmfleet.orchestrator.planning import is_bridge
from wasmfleet.orchestrator.rollout_gate import Copy
from wasmfleet.orchestrator.store import DeploymentRecord, ModuleRecord, RolloutRecord, Store

_OPTION_NAMES = {
    "canary",
    "growth",
    "waves",
    "pause",
    "pause_s",
    "max_error_rate_increase",
    "max_latency_increase",
    "min_calls",
    "probe_calls",
    "probe_args",
}


def options_of(raw: Mapping[str, Any]) -> RolloutOptions:
    """Options from a request body or a stored rollout; InvalidDocument naming what is wrong."""
    unknown = sorted(set(raw) - _OPTION_NAMES)
    if unknown:
        raise InvalidDocument(
            f"Unknown rollout option(s): {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_OPTION_NAMES))})."
        )
    defaults = RolloutOptions()
    try:
        waves = raw.get("waves") or ()
        pause = raw.get("pause", raw.get("pause_s", defaults.pause_s))
        probe = raw.get("probe_args") or {}
        if not isinstance(probe, Mapping):
            raise InvalidDocument("probe_args must be an object of query arguments.")
        options = RolloutOptions(
            canary=_int(raw.get("canary", defaults.canary), "canary"),
            growth=_float(raw.get("growth", defaults.growth), "growth"),
            waves=parse_waves(waves) if waves else (),
            pause_s=parse_duration(pause),
            max_error_rate_increase=_float(
                raw.get("max_error_rate_increase", defaults.max_error_rate_increase),
                "max_error_rate_increase",
            ),
            max_latency_increase=_float(
                raw.get("max_latency_increase", defaults.max_latency_increase),
                "max_latency_increase",
            ),
            min_calls=_int(raw.get("min_calls", defaults.min_calls), "min_calls"),
            probe_calls=_int(raw.get("probe_calls", defaults.probe_calls), "probe_calls"),
            probe_args=tuple((str(k), str(v)) for k, v in sorted(probe.items())),
        )
    except (TypeError, ValueError) as err:
        raise InvalidDocument(f"A rollout option is not valid: {err}.") from None
    return check_options(options)


def _int(value: Any, name: str) -> int:
    return whole_number(value, name)  # bounded: the options are stored with the rollout


def _float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidDocument(f"{name} must be a number, not {value!r}.")
    try:
        return float(value)
    except ValueError:
        raise InvalidDocument(f"{name} must be a number, not {value!r}.") from None


class RolloutPlanner:
    """Reads the store to plan rollouts and answer the driver's questions."""

    def __init__(self, store: Store, resolve: Callable[[str], ModuleRecord]) -> None:
        self.store = store
        self.resolve = resolve
        """Module reference (``fibo@4``, ``fibo``, an id) → the module; NotFound if none."""

    def deployment(self, key: str) -> DeploymentRecord:
        """The deployment with this id or name, or NotFound."""
        found = self.store.get_deployment(key)
        if found is None:
            known = ", ".join(d.name for d in self.store.list_deployments()) or "none yet"
            raise NotFound(f"No deployment {key!r} (deployments: {known}).")
        return found

    def rollout(self, rollout_id: str) -> RolloutRecord:
        """The rollout with this id, or NotFound."""
        found = self.store.get_rollout(rollout_id)
        if found is None:
            raise NotFound(f"No rollout {rollout_id!r}; list them with GET /api/v1/rollouts.")
        return found

    def move(self, record: RolloutRecord, event: RolloutEvent) -> RolloutStatus:
        """The status after a user's ``event``; Conflict with a sentence when not allowed."""
        from wasmfleet.core.errors import Conflict, IllegalTransition

        try:
            return advance(record.status, event)
        except IllegalTransition:
            raise Conflict(
                f"Rollout {record.id} of {record.deployment!r} is {record.status}: it cannot "
                f"be {_PAST[event]} now."
            ) from None

    def plan(self, key: str, to: str, options: RolloutOptions) -> RolloutRecord:
        """A stored-to-be rollout of deployment ``key`` to module ``to``; 4xx if it cannot run."""
        if not isinstance(to, str) or not to.strip():
            raise InvalidDocument('Say which version to roll out to, e.g. "to": "fibo@4".')
        deployment = self.deployment(key)
        target = self.resolve(to.strip())
        entries = copies(deployment, target.name)
        if not entries:
            used = sorted({str(e.get("module")) for e in _entries(deployment)}) or ["none"]
            raise InvalidDocument(
                f"Deployment {deployment.name!r} runs no copy of module {target.name!r} "
                f"(it runs: {', '.join(used)}); roll out a version of one of those."
            )
        devices = sorted({str(e["device"]) for e in entries})
        if all(e.get("module_id") == target.id for e in entries):
            raise InvalidDocument(
                f"Every copy of {target.name!r} in deployment {deployment.name!r} already runs "
                f"{to} (module {target.id}); nothing to roll out."
            )
        described = description_operations(target.description or {})
        functions = sorted({str(e.get("function")) for e in entries})
        missing = [f for f in functions if f not in described]
        if missing:
            raise InvalidDocument(
                f"{to} has no function {missing[0]!r}, which deployment {deployment.name!r} "
                f"calls (it describes: {', '.join(sorted(described)) or 'nothing'})."
            )
        requires = frozenset(
            f"{r['module']}.{r['name']}" for r in target.requirements if r.get("kind") == "func"
        )
        interfaces = {}
        for name in devices:
            device = self.store.get_device(name)
            interfaces[name] = frozenset(device.interfaces) if device is not None else frozenset()
        reasons = unrunnable(requires, interfaces)
        if reasons:
            raise PlacementFailed(
                f"Cannot roll out {to}: {len(reasons)} of {len(devices)} device(s) cannot run it "
                f"({'; '.join(reasons.values())}).",
                reasons,
            )
        return RolloutRecord(
            deployment_id=deployment.id,
            deployment=deployment.name,
            target=to.strip(),
            module_id=target.id,
            options=options.to_dict(),
            waves=plan_waves(devices, options),
        )

    def sources(self, deployment: DeploymentRecord, record: RolloutRecord) -> dict[str, str]:
        """Device → the module id its copy runs now (what to put back)."""
        module = self.store.get_module(record.module_id)
        name = module.name if module is not None else None
        return {
            str(e["device"]): str(e["module_id"])
            for e in _entries(deployment)
            if name is not None and e.get("module") == name and e.get("module_id")
        }

    def copy_of(self, deployment: DeploymentRecord, record: RolloutRecord) -> Copy:
        """The rolled-out module as the gate looks for it."""
        module = self.store.get_module(record.module_id)
        if module is None:
            raise NotFound(f"Module {record.module_id!r} of rollout {record.id} was deleted.")
        functions = frozenset(str(e.get("function")) for e in copies(deployment, module.name))
        return Copy(module.name, functions, module.id, module.sha256)

    def holders(self, deployment: DeploymentRecord, module: str) -> list[str]:
        """Devices that hold a copy of ``module`` in the deployment."""
        return sorted({str(e["device"]) for e in copies(deployment, module)})

    def dead(self, devices: Collection[str]) -> dict[str, str]:
        """Devices of ``devices`` that are not active → why."""
        down: dict[str, str] = {}
        for name in devices:
            device = self.store.get_device(name)
            if device is None:
                down[name] = "forgotten"
            elif device.status != "active":
                down[name] = device.status
        return down


_PAST = {
    RolloutEvent.PAUSE: "paused",
    RolloutEvent.RESUME: "resumed (only a paused rollout can)",
    RolloutEvent.UNDO: "undone (it is being put back already, or was)",
}


def _entries(deployment: DeploymentRecord) -> list[dict[str, Any]]:
    return [e for e in (deployment.plan or {}).get("steps", []) if not is_bridge(e)]


def copies(deployment: DeploymentRecord, module: str) -> list[dict[str, Any]]:
    """The plan entries (one per copy) that run module ``module``."""
    return [e for e in _entries(deployment) if e.get("module") == module and e.get("device")]
