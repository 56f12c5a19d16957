"""From stored state to the pure solver and back: snapshots, requests and plan records.

``snapshot`` freezes the fleet (devices, their capacity and what other deployments already
reserve) for ``core.placement.place``; ``request_for`` resolves a manifest's modules and
devices; ``plan_record`` turns the solver's answer into the JSON kept with the deployment.

Bridge steps are placed like function steps but resolve no module: they need a wasmfleet
supervisor (``BRIDGE_INTERFACE``) and, without ``from``, one with a broker of its own.

Original wasmiot supervisors (``core.dialect``) are in the snapshot with ``wasmiot=True``
and the whole of WASI preview1 (which they link, whatever their interface list says); a
step that needs a wasmfleet feature (``step_features``) is placed only on wasmfleet
supervisors, and every original one is rejected with the feature it lacks.
"""

from __future__ import annotations

from typing import Any

from wasmfleet.core.bridge_step import BRIDGE_INTERFACE, safe_route
from wasmfleet.core.dialect import WASI_ALL, Dialect, dialect_of, wasmiot_limits
from wasmfleet.core.errors import InvalidDocument, PlacementFailed, WasmfleetError
from wasmfleet.core.lifecycle import RESERVING
from wasmfleet.core.manifest import Manifest, ManifestStep, parse_manifest
from wasmfleet.core.message_cycles import Deployed, check_message_cycles
from wasmfleet.core.openapi import description_operations
from wasmfleet.core.placement import (
    DeviceState,
    PlacementRequest,
    Plan,
    Resources,
    Snapshot,
    StepRequest,
    Unplaceable,
    place,
)
from wasmfleet.core.versions import parse_module_ref, version_list
from wasmfleet.orchestrator.devices import capacity_of
from wasmfleet.orchestrator.store import DeploymentRecord, DeviceRecord, ModuleRecord

BROKER_INTERFACE = "wasmfleet.publish"
"""Offered only by supervisors started with --broker."""
STATEFUL = "hold a fencing lease (stateful: true)"
TRIGGER = "run a step on MQTT messages (trigger)"
PUBLISH = "publish results to MQTT (publish)"
BRIDGE = "run a store-and-forward bridge"
NN = "run WASI-NN models ({})"
HOST = "link wasmfleet host functions ({})"


def snapshot(
    devices: list[DeviceRecord],
    deployments: list[DeploymentRecord],
    *,
    exclude: str | None = None,
    reasons: dict[str, str] | None = None,
    unavailable: dict[str, str] | None = None,
    tolerate: frozenset[str] = frozenset(),
) -> Snapshot:
    """The fleet as the solver sees it, leaving out the reservations of deployment ``exclude``.

    ``unavailable`` names devices that are up but must not get new work (flapping), with why;
    ``tolerate`` names devices that count as active anyway (a suspect device keeps the steps
    it already runs when another step of the same deployment moves).
    """
    unavailable = unavailable or {}
    used: dict[str, dict[str, Any]] = {}
    for dep in deployments:
        if dep.id == exclude or dep.status not in RESERVING or not dep.plan:
            continue
        for step in dep.plan.get("steps", []):
            res = step.get("resources") or {}
            slot = used.setdefault(step["device"], {"cores": {}, "memory": 0, "accel": 0})
            for core, amount in zip(step.get("cores") or [], res.get("cpu") or [], strict=False):
                slot["cores"][core] = slot["cores"].get(core, 0) + int(amount)
            slot["memory"] += int(res.get("memory_mb") or 0)
            slot["accel"] += int(res.get("accelerator_pct") or 0)
    states = []
    for device in devices:
        capacity = capacity_of(device.description)
        cores = tuple(int(c) for c in capacity["cores"])
        slot = used.get(device.name, {"cores": {}, "memory": 0, "accel": 0})
        wasmiot = dialect_of(device.description) is Dialect.WASMIOT
        interfaces = frozenset(device.interfaces) | ({WASI_ALL} if wasmiot else set())
        states.append(
            DeviceState(
                name=device.name,
                active=(device.status == "active" and device.name not in unavailable)
                or device.name in tolerate,
                status_reason=unavailable.get(device.name)
                or (reasons or {}).get(device.name, device.status),
                interfaces=interfaces,
                labels=dict(device.labels),
                core_capacity=cores,
                core_used=tuple(slot["cores"].get(i, 0) for i in range(len(cores))),
                memory_mb=int(capacity["memory_mb"]),
                memory_used_mb=int(slot["memory"]),
                accelerator_pct=int(capacity["accelerator_pct"]),
                accelerator_used_pct=int(slot["accel"]),
                wasmiot=wasmiot,
            )
        )
    return Snapshot(devices=tuple(sorted(states, key=lambda d: d.name)))


def request_for(
    manifest: Manifest,
    modules: dict[str, ModuleRecord],
    devices: list[DeviceRecord],
    keep: dict[int, tuple[str, ...]] | None = None,
) -> tuple[PlacementRequest, list[ModuleRecord | None]]:
    """The placement request of a manifest, with each step's module resolved (by id, by name:
    the latest version, or by ``name@N``; None for a bridge step); ``keep`` names, per
    fleet-wide step, the devices whose copies stay where they are."""
    keep = keep or {}
    by_key: dict[str, ModuleRecord] = {}
    for module in sorted(modules.values(), key=lambda m: (m.name, m.version, m.id)):
        by_key[module.id] = module
        by_key[module.name] = module  # the newest version comes last
        by_key[f"{module.name}@{module.version}"] = module
    device_names = {d.id: d.name for d in devices} | {d.name: d.name for d in devices}
    steps: list[StepRequest] = []
    resolved: list[ModuleRecord | None] = []
    for i, step in enumerate(manifest.steps):
        if step.bridge is not None:
            steps.append(_bridge_request(i, step, device_names, keep.get(i, ())))
            resolved.append(None)
            continue
        found = by_key.get(step.module)
        if found is None and "@" in step.module:
            ref = parse_module_ref(step.module)
            existing = [m.version for m in modules.values() if m.name == ref.name]
            if existing:
                raise InvalidDocument(
                    f"Step {i + 1} names module {step.module!r}, but {ref.name!r} has no "
                    f"version {ref.version} (versions: {version_list(existing)}); pin one of "
                    f"those or write {ref.name!r} to follow the latest."
                )
        if found is None:
            known = ", ".join(sorted({m.name for m in modules.values()})) or "none uploaded yet"
            raise InvalidDocument(
                f"Step {i + 1} names module {step.module!r}, which is not uploaded "
                f"(modules: {known}); push it first with `wasmfleet module push`."
            )
        module = found
        described = description_operations(module.description or {})
        if step.function not in described:
            raise InvalidDocument(
                f"Step {i + 1}: module {module.name!r} has no function {step.function!r} "
                f"(it describes: {', '.join(sorted(described)) or 'nothing'})."
            )
        requires = frozenset(
            f"{r['module']}.{r['name']}" for r in module.requirements if r.get("kind") == "func"
        )
        features = step_features(step, requires, described[step.function][1])
        reached_by_topic = any(thing.via.kind == "topic" for thing in step.things.values())
        if step.trigger is not None or step.publish is not None or reached_by_topic:
            # Triggered or publishing steps, and steps reaching an app's sensor or controller
            # on a topic, need a device with an MQTT broker: only such devices offer (and
            # advertise) the wasmfleet publish interface.
            requires |= {BROKER_INTERFACE}
        steps.append(
            StepRequest(
                name=f"{i + 1}:{module.name}.{step.function}",
                module=module.name,
                function=step.function,
                requires=requires,
                device=device_names.get(step.device, step.device) if step.device else None,
                labels=dict(step.labels),
                resources=Resources(
                    cpu=tuple(step.cpu),
                    memory_mb=step.memory_mb,
                    accelerator_pct=step.accelerator_pct,
                ),
                strategy=step.strategy,
                features=features,
                replicas=step.replicas,
                keep=keep.get(i, ()),
            )
        )
        resolved.append(module)

    request = PlacementRequest(
        name=manifest.name,
        steps=tuple(steps),
        strategy=manifest.strategy or "spread",
        scorer=manifest.scorer or "least_allocated",
    )
    return request, resolved


def _bridge_request(
    i: int, step: ManifestStep, device_names: dict[str, str], keep: tuple[str, ...]
) -> StepRequest:
    """A bridge step: a wasmfleet supervisor, with a broker of its own unless ``from`` is set."""
    assert step.bridge is not None
    requires = {BRIDGE_INTERFACE}
    if step.bridge.source is None:
        requires.add(BROKER_INTERFACE)  # it bridges from the broker of the device it runs on
    return StepRequest(
        name=f"{i + 1}:bridge",
        module="",
        function="",
        requires=frozenset(requires),
        device=device_names.get(step.device, step.device) if step.device else None,
        labels=dict(step.labels),
        resources=Resources(
            cpu=tuple(step.cpu), memory_mb=step.memory_mb, accelerator_pct=step.accelerator_pct
        ),
        strategy=step.strategy,
        features=(BRIDGE,),
        replicas=step.replicas,
        keep=keep,
    )


def step_features(
    step: ManifestStep, requires: frozenset[str], operation: dict[str, Any]
) -> tuple[str, ...]:
    """The wasmfleet features a function step needs (an original wasmiot supervisor has
    none), each a phrase completing "which cannot ..."; ``requires`` are the module's
    imports."""
    features: list[str] = []
    if step.stateful:
        features.append(STATEFUL)
    if step.trigger is not None:
        features.append(TRIGGER)
    if step.publish is not None:
        features.append(PUBLISH)
    nn = sorted(r for r in requires if r.startswith("wasi_ephemeral_nn."))
    if nn:
        features.append(NN.format(", ".join(nn)))
    host = sorted(r for r in requires if r.startswith("wasmfleet."))
    if host:
        features.append(HOST.format(", ".join(host)))
    features.extend(wasmiot_limits(operation))
    return tuple(features)


def check_failovers(manifest: Manifest, devices: list[DeviceRecord]) -> None:
    """Refuse failover devices nobody knows (a typo would silently never be tried)."""
    known = {d.id for d in devices} | {d.name for d in devices}
    for i, step in enumerate(manifest.steps):
        for failover in step.failovers:
            if failover not in known:
                names = ", ".join(sorted(d.name for d in devices)) or "none yet"
                raise InvalidDocument(
                    f"Step {i + 1} lists failover device {failover!r}, which is not known "
                    f"(devices: {names}); register it first or fix the name."
                )


def check_cycles(
    record: DeploymentRecord, manifest: Manifest, deployments: list[DeploymentRecord]
) -> None:
    """Refuse (MessageCycle, 422) a solved manifest whose steps or bridges pass messages round
    a loop, alone or with any other stored deployment (whatever its status: one request
    deploys it again)."""
    others: list[Deployed] = []
    for dep in deployments:
        if dep.name == record.name or (record.id and dep.id == record.id):
            continue
        try:
            stored = parse_manifest(dep.manifest)
        except WasmfleetError:
            continue  # a stored manifest this version cannot read has no topics to check
        others.append(Deployed(stored, dep.name, _devices(dep.plan)))
    check_message_cycles(Deployed(manifest, record.name, _devices(record.plan)), others)


def _devices(plan: dict[str, Any] | None) -> dict[int, str]:
    """Step index -> device of a plan record (a fleet-wide step: its first copy's)."""
    found: dict[int, str] = {}
    for s in (plan or {}).get("steps", []):
        found.setdefault(int(s["step"]), str(s["device"]))
    return found


def copies_of(plan: dict[str, Any] | None) -> dict[int, list[str]]:
    """Step index -> the devices of its copies (one for a plain step), by device name."""
    found: dict[int, list[str]] = {}
    for s in (plan or {}).get("steps", []):
        found.setdefault(int(s["step"]), []).append(str(s["device"]))
    return {k: sorted(v) for k, v in found.items()}


def solve(request: PlacementRequest, fleet: Snapshot) -> Plan:
    """Run the solver; PlacementFailed (422) with per-device reasons when a step fits nowhere."""
    answer = place(request, fleet)
    if isinstance(answer, Unplaceable):
        raise PlacementFailed(
            answer.message, {r.device: r.reason for r in answer.rejections}, answer.step_name
        )
    return answer


def plan_record(
    plan: Plan, modules: list[ModuleRecord | None], manifest: Manifest | None = None
) -> dict[str, Any]:
    """The JSON form of a plan kept with the deployment (and shown by the CLI): one entry
    per copy, ordered by (step, device); a fleet-wide step's entries share ``step``.

    A bridge step (module None) has ``module``, ``module_id`` and ``function`` null and a
    ``bridge`` with its route (passwords left out) taken from ``manifest``."""
    steps = []
    for placement in plan.placements:
        module = modules[placement.step]
        step = plan.request.steps[placement.step]
        bridge: dict[str, Any] = {}
        if module is None and manifest is not None:
            route = manifest.steps[placement.step].bridge
            bridge = safe_route(route) if route is not None else {}
        steps.append(
            {
                "step": placement.step,
                "name": placement.step_name,
                "module": module.name if module is not None else None,
                "module_id": module.id if module is not None else None,
                "version": module.version if module is not None else None,
                "function": step.function if module is not None else None,
                **({"bridge": bridge} if module is None else {}),
                "device": placement.device,
                "score": round(float(placement.score), 4),
                "cores": list(placement.cores),
                "fit": placement.fit,
                "resources": {
                    "cpu": list(step.resources.cpu),
                    "memory_mb": step.resources.memory_mb,
                    "accelerator_pct": step.resources.accelerator_pct,
                },
                "rejected": [
                    {"device": r.device, "reason": r.reason} for r in placement.rejections
                ],
            }
        )
    return {"strategy": plan.request.strategy, "scorer": plan.request.scorer, "steps": steps}


def is_bridge(step: dict[str, Any]) -> bool:
    """True for a bridge step of a plan record (it has no module function to call)."""
    return step.get("bridge") is not None


def step_label(step: dict[str, Any]) -> str:
    """``module.function`` of a plan record's step, or ``bridge to <broker>``."""
    if is_bridge(step):
        return f"bridge to {(step.get('bridge') or {}).get('to', '?')}"
    return f"{step.get('module')}.{step.get('function')}"
