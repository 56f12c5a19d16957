"""Turn a solved manifest into one deployment document per device (orchestrator shape).

The documents follow the wasmiot orchestrator's shape (docs/api.md) — ``modules`` with
URLs, ``endpoints`` with url/path/method/request/response, ``instructions`` with from/to and
``mounts`` per stage — because that is the shape the original wasmiot Python supervisor
requires; wasmfleet supervisors read it too. Pure: URLs and descriptions come in as data.

MQTT steps: a step's ``trigger`` and ``publish`` go into its instructions beside from/to
(``instructions.modules[M][F].trigger = {"topic", "qos"}``, ``.publish = {"topic", "qos",
"retain"}``; wasmiot supervisors ignore them). An app install's step also carries
``things`` (binding name → thing document) and ``params`` there (``core.step_things``),
which the supervisor's host functions serve and the wasmiot dialect leaves out.
When step i publishes to a topic that step i+1's trigger matches, the topic *is* the hop:
step i gets ``to: null`` (else step i+1 would run twice per result, once per route); its
``from`` still names step i. Otherwise step i chains to step i+1 over HTTP as usual, and
publishing is an extra output.

Bridge steps (``core.bridge_step``) are not in that chain: the function steps chain among
themselves, and each bridge step adds an entry to its device's top-level ``"bridges"``
list, ``{"name": "<deployment id>-<step index>", "from", "to", "topics", "qos"}``. A
device that hosts only bridges gets a document with no modules.

Each device is spoken to in its own dialect (``core.dialect``): a wasmfleet supervisor gets
the full document; an original wasmiot supervisor gets ``wasmiot_document`` of it (only
the keys and schema values it parses, its ``to`` endpoints rendered the same way). A
module function may be in several steps, each on its own device; two on one device would
overwrite each other, which placement prevents (``Conflict`` here if a plan still does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wasmfleet.core.dialect import Dialect, wasmiot_document
from wasmfleet.core.errors import Conflict, InvalidDocument
from wasmfleet.core.models import BridgeRoute, BridgeSpec, Mount, Publication, Trigger
from wasmfleet.core.openapi import (
    as_object,
    description_operations,
    operation_mounts,
)
from wasmfleet.core.replicas import pick_copy
from wasmfleet.core.topics import matches


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One step of a solved pipeline, with everything its document needs."""

    index: int
    module_id: str
    module_name: str
    function: str
    device: str
    device_url: str
    """Base URL of the device's supervisor, e.g. http://10.0.0.5:5000."""
    binary_url: str
    description_url: str
    description: dict[str, Any]
    """The module's OpenAPI description."""
    data_files: dict[str, str] = field(default_factory=dict)
    """Deployment-stage data files: name -> URL."""
    sha256: str | None = None
    file_sha256: dict[str, str] = field(default_factory=dict)
    description_sha256: str | None = None
    """sha256 of the bytes served at ``description_url``."""
    stateful: bool = False
    """Served only while the device holds its lease (never two live copies)."""
    trigger: Trigger | None = None
    """Run for every MQTT message on a topic matching this filter."""
    publish: Publication | None = None
    """Publish every result to this topic."""
    things: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, hash=False)
    """An app install's things the step reaches: binding name → thing document."""
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """An app install's parameter values."""


@dataclass(frozen=True, slots=True)
class PlannedBridge:
    """A bridge step of a solved manifest and the device it runs on."""

    index: int
    """The step's index in the manifest (it names the bridge)."""
    device: str
    route: BridgeRoute


def bridge_name(deployment_id: str, index: int) -> str:
    """The name of step ``index``'s bridge: unique on a device, stable across redeploys."""
    return f"{deployment_id}-{index}"


def endpoint_of(step: PlannedStep, deployment_id: str) -> dict[str, Any]:
    """The orchestrator-shape endpoint of a step's function on its device."""
    method, op = _operation(step)
    request_body: dict[str, Any] | None = None
    content = as_object(as_object(op.get("requestBody")).get("content"))
    if content:
        media_type, media = next(iter(content.items()))
        media = as_object(media)
        request_body = {
            "media_type": media_type,
            "schema": as_object(media.get("schema")),
            "encoding": as_object(media.get("encoding")),
        }
    response_media, response_schema = _response(op)
    parameters = [
        p for p in (op.get("parameters") or []) if isinstance(p, dict) and p.get("in") != "path"
    ]
    return {
        "url": step.device_url.rstrip("/"),
        "path": f"/{deployment_id}/modules/{step.module_name}/{step.function}",
        "method": method,
        "request": {"parameters": parameters, "request_body": request_body},
        "response": {"media_type": response_media, "schema": response_schema},
    }


def mounts_of(step: PlannedStep) -> dict[str, list[dict[str, str]]]:
    """The step's mounts grouped by stage, in the orchestrator's shape."""
    _method, op = _operation(step)
    mounts: tuple[Mount, ...] = operation_mounts(op, f"{step.module_name}.{step.function}") or ()
    grouped: dict[str, list[dict[str, str]]] = {"execution": [], "deployment": [], "output": []}
    for mount in mounts:
        grouped[mount.stage].append(
            {"path": mount.name, "media_type": mount.media_type, "stage": mount.stage}
        )
    return grouped


def device_documents(
    deployment_id: str,
    steps: list[PlannedStep],
    *,
    bridges: tuple[PlannedBridge, ...] | list[PlannedBridge] = (),
    epoch: int = 0,
    lease_s: float = 0.0,
    dialects: Mapping[str, Dialect] | None = None,
    chain: Sequence[int] | None = None,
) -> dict[str, dict[str, Any]]:
    """One deployment document per device name; step i's ``to`` is step i+1's endpoint.

    ``steps`` are the function steps in order, a fleet-wide step once per copy (same
    ``index``, its own device): each copy's ``to`` is the copy of the next step that
    ``core.replicas.pick_copy`` names (the one on the same device, else by position).
    ``chain`` lists the function steps' indices in order, also those with no copy (a
    ``replicas: all`` step that no device matches): the step before one ends the chain.
    ``bridges`` go into their devices' ``bridges`` lists. ``epoch`` > 0 adds the fencing
    fields wasmfleet supervisors read: the document's ``epoch`` and, for stateful steps,
    ``fencing.stateful`` with the lease a device must hold to serve them.
    Devices whose ``dialects`` entry is wasmiot get ``wasmiot_document``."""
    order = list(chain) if chain is not None else list(dict.fromkeys(s.index for s in steps))
    copies: dict[int, list[PlannedStep]] = {k: [] for k in order}
    for step in steps:
        copies.setdefault(step.index, []).append(step)
        if step.index not in order:
            order.append(step.index)
    for group in copies.values():
        group.sort(key=lambda s: s.device)
    endpoints = {(s.index, s.device): endpoint_of(s, deployment_id) for s in steps}
    docs: dict[str, dict[str, Any]] = {}
    served: dict[tuple[str, str, str], PlannedStep] = {}
    for position, index in enumerate(order):
        before = copies[order[position - 1]] if position > 0 else []
        after = copies[order[position + 1]] if position + 1 < len(order) else []
        for turn, step in enumerate(copies[index]):
            earlier = served.setdefault((step.device, step.module_name, step.function), step)
            if earlier is not step:
                raise Conflict(
                    f"Steps {earlier.index + 1} and {step.index + 1} both put "
                    f"{step.module_name}.{step.function} on {step.device}, which serves a "
                    "function once per deployment; re-solve the deployment (PUT) to place "
                    "them apart."
                )
            source = pick_copy([s.device for s in before], near=step.device)
            target = pick_copy([s.device for s in after], near=step.device, turn=turn)
            topic = bool(after) and _topic_hop(step, after[0])
            _add_step(
                docs.setdefault(step.device, _empty_document(deployment_id, epoch, lease_s)),
                step,
                endpoints[(index, step.device)],
                {
                    "from": endpoints[(before[0].index, source)] if source else None,
                    "to": endpoints[(after[0].index, target)] if target and not topic else None,
                },
            )
    for bridge in sorted(bridges, key=lambda b: b.index):
        doc = docs.setdefault(bridge.device, _empty_document(deployment_id, epoch, lease_s))
        spec = BridgeSpec(name=bridge_name(deployment_id, bridge.index), route=bridge.route)
        doc.setdefault("bridges", []).append(spec.to_dict())
    for device, dialect in (dialects or {}).items():
        if dialect is Dialect.WASMIOT and device in docs:
            docs[device] = _for_wasmiot(device, docs[device])
    return docs


def _add_step(
    doc: dict[str, Any], step: PlannedStep, endpoint: dict[str, Any], instruction: dict[str, Any]
) -> None:
    """Put one copy of a step into its device's document, ``instruction`` its from/to."""
    if all(m["name"] != step.module_name for m in doc["modules"]):
        module: dict[str, Any] = {
            "id": step.module_id,
            "name": step.module_name,
            "urls": {
                "binary": step.binary_url,
                "description": step.description_url,
                "other": dict(step.data_files),
            },
        }
        if step.sha256:
            module["sha256"] = step.sha256
        if step.file_sha256:
            module["files_sha256"] = dict(step.file_sha256)
        if step.description_sha256:
            module["description_sha256"] = step.description_sha256
        doc["modules"].append(module)
    doc["endpoints"].setdefault(step.module_name, {})[step.function] = endpoint
    if step.trigger is not None:
        instruction["trigger"] = step.trigger.to_dict()
    if step.publish is not None:
        instruction["publish"] = step.publish.to_dict()
    if step.things:
        instruction["things"] = {name: dict(thing) for name, thing in step.things.items()}
    if step.params:
        instruction["params"] = dict(step.params)
    doc["instructions"]["modules"].setdefault(step.module_name, {})[step.function] = instruction
    doc["mounts"].setdefault(step.module_name, {})[step.function] = mounts_of(step)
    if step.stateful and "fencing" in doc:
        doc["fencing"]["stateful"].append({"module": step.module_name, "function": step.function})


def _for_wasmiot(device: str, doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` in the wasmiot dialect; Conflict when it holds what the original cannot run
    (placement keeps such steps off it: the plan predates the device's dialect)."""
    wasmfleet_only = [
        *(["bridges"] if doc.get("bridges") else []),
        *(["stateful steps"] if (doc.get("fencing") or {}).get("stateful") else []),
        *sorted(
            {
                key
                for functions in doc["instructions"]["modules"].values()
                for link in functions.values()
                for key in ("trigger", "publish")
                if key in link
            }
        ),
    ]
    if wasmfleet_only:
        raise Conflict(
            f"Device {device} is an original wasmiot supervisor, which cannot run "
            f"{', '.join(wasmfleet_only)}; re-solve the deployment (PUT) to place them elsewhere."
        )
    return wasmiot_document(doc)


def _topic_hop(step: PlannedStep, following: PlannedStep) -> bool:
    """True when ``step`` publishes to a topic that ``following``'s trigger matches."""
    published, trigger = step.publish, following.trigger
    return published is not None and trigger is not None and matches(trigger.topic, published.topic)


def _empty_document(deployment_id: str, epoch: int, lease_s: float) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "deploymentId": deployment_id,
        "modules": [],
        "endpoints": {},
        "instructions": {"modules": {}},
        "mounts": {},
    }
    if epoch > 0:
        doc["epoch"] = epoch
        doc["fencing"] = {"lease_s": lease_s, "stateful": []}
    return doc


def _operation(step: PlannedStep) -> tuple[str, dict[str, Any]]:
    operations = description_operations(step.description)
    found = operations.get(step.function)
    if found is None:
        described = ", ".join(sorted(operations)) or "none"
        raise InvalidDocument(
            f"Module {step.module_name!r} has no description of function {step.function!r} "
            f"(described: {described}); describe it with POST /file/module/{{id}}/upload."
        )
    return found


def _response(op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    content = as_object(as_object(as_object(op.get("responses")).get("200")).get("content"))
    if not content:
        return "application/json", {}
    media_type, media = next(iter(content.items()))
    return str(media_type), as_object(as_object(media).get("schema"))
