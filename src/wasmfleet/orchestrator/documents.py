"""From a stored plan to each device's deployment document, in the device's own dialect.

The pure part is ``core.deploy_plan.device_documents``; here the plan's steps are joined
with the stored modules and devices (URLs, descriptions, data files) and each device's
dialect is read from its device description (``core.dialect``): a wasmfleet supervisor
gets the full document, an original wasmiot supervisor the wasmiot one.
"""

from __future__ import annotations

import hashlib
from typing import Any

from wasmfleet.core.bridge_step import parse_bridge_step
from wasmfleet.core.deploy_plan import PlannedBridge, PlannedStep, device_documents
from wasmfleet.core.deploy_streams import parse_publish, parse_trigger
from wasmfleet.core.dialect import Dialect, dialect_of
from wasmfleet.core.errors import Conflict
from wasmfleet.core.step_things import parse_step_params, parse_step_things, things_dict
from wasmfleet.orchestrator.devices import url_of
from wasmfleet.orchestrator.planning import is_bridge
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import DeploymentRecord, ModuleRecord, Store
from wasmfleet.service.http import json_bytes

Documents = dict[str, dict[str, Any]]


def build_documents(
    store: Store, record: DeploymentRecord, settings: OrchestratorSettings
) -> tuple[Documents, dict[str, str], dict[str, Dialect]]:
    """Each device's document, and the URL and dialect of each device it was built for."""
    assert record.plan is not None
    public = settings.resolved_public_url
    steps: list[PlannedStep] = []
    bridges: list[PlannedBridge] = []
    urls: dict[str, str] = {}
    dialects: dict[str, Dialect] = {}
    manifest_steps = record.manifest.get("steps") or []
    for step in record.plan["steps"]:
        index = int(step["step"])
        wanted = manifest_steps[index] if index < len(manifest_steps) else {}
        if is_bridge(step):
            bridges.append(_planned_bridge(store, step, wanted, urls))
            continue
        module = store.get_module(step["module_id"])
        device = store.get_device(step["device"])
        if module is None or device is None:
            missing = "module" if module is None else "device"
            raise Conflict(
                f"The {missing} of step {step['name']} was deleted since the plan was made; "
                "re-solve the deployment (PUT)."
            )
        urls[device.name] = url_of(device)
        dialects[device.name] = dialect_of(device.description)
        steps.append(planned_step(step, module, urls[device.name], public, wanted))
    documents = device_documents(
        record.id,
        steps,
        bridges=bridges,
        epoch=record.epoch,
        lease_s=settings.lease_s,
        dialects=dialects,
        chain=[i for i, s in enumerate(manifest_steps) if "bridge" not in s],
    )
    return documents, urls, dialects


def _planned_bridge(
    store: Store, step: dict[str, Any], wanted: dict[str, Any], urls: dict[str, str]
) -> PlannedBridge:
    """A bridge step of the plan on its device (its route from the manifest)."""
    device = store.get_device(step["device"])
    if device is None or "bridge" not in wanted:
        raise Conflict(
            f"The device of step {step['name']} was deleted since the plan was made; "
            "re-solve the deployment (PUT)."
        )
    urls[device.name] = url_of(device)
    route = parse_bridge_step(wanted, f"steps[{step['step']}]")
    return PlannedBridge(index=int(step["step"]), device=device.name, route=route)


def planned_step(
    step: dict[str, Any],
    module: ModuleRecord,
    device_url: str,
    public: str,
    wanted: dict[str, Any],
) -> PlannedStep:
    """The plan's step on its device, as the documents need it; ``wanted`` is the manifest
    step (stateful, topics, an app install's things and params)."""
    base = f"{public}/file/module/{module.id}"
    where = f"steps[{step['step']}]"
    return PlannedStep(
        index=int(step["step"]),
        module_id=module.id,
        module_name=module.name,
        function=step["function"],
        device=step["device"],
        device_url=device_url,
        binary_url=f"{base}/wasm",
        description_url=f"{base}/description",
        description=module.description or {},
        description_sha256=hashlib.sha256(description_bytes(module)).hexdigest(),
        data_files={name: f"{base}/{name}" for name in module.data_files},
        sha256=module.sha256,
        file_sha256={n: str(meta["sha256"]) for n, meta in module.data_files.items()},
        stateful=bool(wanted.get("stateful")),
        trigger=parse_trigger(wanted.get("trigger"), f"steps[{step['step']}].trigger"),
        publish=parse_publish(wanted.get("publish"), f"steps[{step['step']}].publish"),
        things=things_dict(parse_step_things(wanted.get("things"), f"{where}.things")),
        params=parse_step_params(wanted.get("params"), f"{where}.params"),
    )


def description_bytes(module: ModuleRecord) -> bytes:
    """The exact bytes ``GET /file/module/{id}/description`` serves (documents name their
    sha256, so a device can reuse a description it holds)."""
    return json_bytes(module.description or {})
