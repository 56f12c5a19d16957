"""Parse what a user asks to deploy: a manifest, in either of its two shapes.

*wasmiot shape* (the original orchestrator's): ``{"name", "sequence": [{"device", "module",
"func"}]}``; ``device`` null, missing or ``""`` lets the solver choose.

*wasmfleet shape* (YAML or JSON): ``{"name", "strategy"?, "scorer"?, "steps": [{"module",
"function" (or "func"), "device"?, "labels"?, "resources"?: {"cpu", "memory", "accelerator"},
"strategy"?, "failovers"?, "stateful"?, "trigger"?, "publish"?, "replicas"?, "things"?,
"params"?}]}``. Resources are
spelled as in Kubernetes (``core.resources``): ``cpu`` in cores (``1``, ``0.5``, ``"2"``)
or millicores (``"500m"``), or as millicores per core (ROHE style: ``[500, 100]`` asks for
two cores); ``memory`` in bytes (``"512Mi"``, ``"512M"``), or ``memory_mb`` in whole MiB;
``accelerator`` in percent. A spelling that meant something else before (``cpu: 2`` was 2
millicores, ``512M`` was 512 MiB) is either refused or read the new way with a sentence in
``Manifest.warnings``; the canonical form never warns.
``failovers`` lists devices (ids or names) to try first, in order, when the step's device
dies; ``stateful: true`` asks that at no moment two devices serve the step (leases + epochs).
``trigger: {topic: "site/+/temperature", qos: 1}`` runs the step for every MQTT message on a
matching topic; ``publish: {topic, qos: 1, retain: false}`` publishes each of its results
(see ``core.deploy_streams``; a step may not publish to a topic its own trigger matches;
longer cycles, also across deployments, are refused by ``core.message_cycles``).
A *bridge step* ``{"bridge": {"to", "from"?, "topic", "qos"?}, "device"?, "labels"?, ...}``
runs a store-and-forward bridge on the device instead of a function (``core.bridge_step``);
it is not part of the from/to chain, which links the function steps in order.

``replicas`` makes a step fleet-wide, like a Kubernetes DaemonSet: ``replicas: all`` puts one
copy on every device that passes the step's filters (labels, requirements, resources), and
keeps it so as devices join and leave (``orchestrator.fleetwide``); ``replicas: N`` puts N
copies on N distinct devices chosen by the step's strategy (``spread`` unless set). A
fleet-wide step cannot be pinned with ``device`` (pinning names one device) and cannot be
``stateful`` (stateful means never two live copies). The wasmiot shape has no replicas.

An app install (``core.app_steps.install_manifest``) adds ``things`` (binding name → the
bound sensor or controller document) and ``params`` (parameter name → value) to the steps
of its app; the supervisor serves them to the module through host functions. Both are
optional and travel as extra keys of the deployment document, which older devices ignore.

A module function may appear in several steps (``fibo -> fibo``): placement puts them on
different devices, as each device serves a function once per deployment.

Both parse to one ``Manifest``; ``Manifest.to_dict`` is its canonical wasmfleet form.
Every problem is an ``InvalidDocument`` naming the field path (``steps[1].resources.cpu``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import yaml

from wasmfleet.core.bridge_step import parse_bridge_step
from wasmfleet.core.broker_url import parse_broker_url
from wasmfleet.core.deploy_streams import parse_publish, parse_trigger
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.manifest_fields import (
    Replicas,
    choice_field,
    device_field,
    failovers_field,
    flag_field,
    function_field,
    kind_of,
    labels_field,
    module_field,
    no_unknown_keys,
    replicas_field,
)
from wasmfleet.core.models import BridgeRoute, Publication, Trigger
from wasmfleet.core.names import check_identifier
from wasmfleet.core.places import Thing
from wasmfleet.core.quantities import show
from wasmfleet.core.resources import Warnings, merge_warnings, parse_resources
from wasmfleet.core.step_things import Scalar, parse_step_params, parse_step_things, things_dict
from wasmfleet.core.topics import matches

STRATEGIES: tuple[str, ...] = ("first", "spread", "pack")
"""Placement strategies (the same names as ``core.placement.STRATEGIES``)."""
SCORERS: tuple[str, ...] = ("least_allocated", "balanced", "rohe")
"""Placement scorers (the same names as ``core.placement.SCORERS``)."""

_TOP_KEYS = ("name", "strategy", "scorer", "steps")
_STEP_KEYS = (
    "module",
    "function",
    "func",
    "device",
    "labels",
    "resources",
    "strategy",
    "failovers",
    "stateful",
    "trigger",
    "publish",
    "bridge",
    "replicas",
    "things",
    "params",
)


@dataclass(frozen=True, slots=True)
class ManifestStep:
    """One step of a pipeline: a module function (or a bridge) and where or how to place it."""

    module: str
    """Module id or name, resolved by the orchestrator ("" for a bridge step)."""
    function: str
    device: str | None = None
    """Device id or name to pin the step to; None lets the solver choose."""
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Labels a device must carry (all of them, exact values)."""
    cpu: tuple[int, ...] = ()
    """Millicores asked per core (a scalar ask is spread: ``2.5`` -> ``(1000, 1000, 500)``)."""
    memory_mb: int = 0
    """MiB to reserve (a byte quantity rounded up)."""
    accelerator_pct: int = 0
    strategy: str | None = None
    failovers: tuple[str, ...] = ()
    """Devices (ids or names) to try first, in order, when the step must move."""
    stateful: bool = False
    """True: never two live copies (the supervisor serves it only while its lease holds)."""
    trigger: Trigger | None = None
    """Run the step for every MQTT message on a topic matching this filter."""
    publish: Publication | None = None
    """Publish every result of the step to this topic."""
    bridge: BridgeRoute | None = None
    """Set for a bridge step: it runs this bridge instead of a module function."""
    replicas: Replicas = 1
    """How many copies: 1 (a plain step), N (N distinct devices) or ``"all"`` (every match)."""
    things: Mapping[str, Thing] = field(default_factory=dict, hash=False)
    """An app install's bound sensors and controllers this step reaches, by binding name."""
    params: Mapping[str, Scalar] = field(default_factory=dict, hash=False)
    """An app install's parameter values (``core.step_things``)."""

    @property
    def fleet_wide(self) -> bool:
        """True for a step with several copies (``replicas`` other than 1)."""
        return self.replicas != 1

    @property
    def label(self) -> str:
        """``module.function``, or ``bridge to <broker>`` for a bridge step (for messages)."""
        if self.bridge is not None:
            return f"bridge to {parse_broker_url(self.bridge.destination).url}"
        return f"{self.module}.{self.function}"


@dataclass(frozen=True, slots=True)
class Manifest:
    """A named pipeline of steps, with optional placement defaults."""

    name: str
    steps: tuple[ManifestStep, ...]
    strategy: str | None = None
    scorer: str | None = None
    shape: Literal["wasmiot", "wasmfleet"] = "wasmfleet"
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """Sentences about spellings read differently than before (not part of ``to_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        """The canonical JSON-able form (wasmfleet shape); ``parse_manifest`` reads it back."""
        doc: dict[str, Any] = {"name": self.name}
        if self.strategy is not None:
            doc["strategy"] = self.strategy
        if self.scorer is not None:
            doc["scorer"] = self.scorer
        doc["steps"] = [_step_dict(s) for s in self.steps]
        return doc


def _step_dict(step: ManifestStep) -> dict[str, Any]:
    out: dict[str, Any] = {"module": step.module, "function": step.function}
    if step.bridge is not None:
        route = step.bridge.to_dict()
        out = {"bridge": {k: v for k, v in route.items() if v is not None}}
    if step.device is not None:
        out["device"] = step.device
    if step.labels:
        out["labels"] = dict(step.labels)
    if step.cpu or step.memory_mb or step.accelerator_pct:
        out["resources"] = {
            "cpu": list(step.cpu),
            "memory_mb": step.memory_mb,
            "accelerator_pct": step.accelerator_pct,
        }
    if step.strategy is not None:
        out["strategy"] = step.strategy
    if step.failovers:
        out["failovers"] = list(step.failovers)
    if step.stateful:
        out["stateful"] = True
    if step.trigger is not None:
        out["trigger"] = step.trigger.to_dict()
    if step.publish is not None:
        out["publish"] = step.publish.to_dict()
    if step.replicas != 1:
        out["replicas"] = step.replicas
    if step.things:
        out["things"] = things_dict(step.things)
    if step.params:
        out["params"] = dict(step.params)
    return out


def parse_manifest_text(text: str) -> Manifest:
    """Parse a manifest from YAML or JSON text (YAML reads JSON too)."""
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or "unreadable text"
        raise InvalidDocument(
            f"The manifest is not valid YAML or JSON: {problem}{where}."
        ) from None
    if obj is None:
        raise InvalidDocument("The manifest is empty; give a name and a list of steps.")
    return parse_manifest(obj)


def parse_manifest(obj: Any) -> Manifest:
    """Validate an already-parsed manifest of either shape; InvalidDocument says what is wrong."""
    if not isinstance(obj, dict):
        raise InvalidDocument(
            "A manifest must be an object with 'name' and 'steps' (or wasmiot's 'sequence'), "
            f"not a {kind_of(obj)}."
        )
    if "sequence" in obj and "steps" in obj:
        raise InvalidDocument(
            "The manifest has both 'steps' (wasmfleet) and 'sequence' (wasmiot); use one."
        )
    if "sequence" in obj:
        name = _name(obj)
        steps = _steps(obj["sequence"], "sequence", _wasmiot_step)
        return Manifest(name=name, steps=steps, shape="wasmiot")
    if "steps" not in obj:
        raise InvalidDocument(
            "The manifest has no 'steps': give a list like "
            "[{module: fibo, function: fibo}] (or wasmiot's 'sequence')."
        )
    no_unknown_keys(obj, _TOP_KEYS, "The manifest")
    name = _name(obj)
    strategy = choice_field(obj.get("strategy"), STRATEGIES, "strategy")
    scorer = choice_field(obj.get("scorer"), SCORERS, "scorer")
    warnings: Warnings = []
    steps = _steps(obj["steps"], "steps", partial(_wasmfleet_step, warnings=warnings))
    return Manifest(
        name=name,
        steps=steps,
        strategy=strategy,
        scorer=scorer,
        shape="wasmfleet",
        warnings=merge_warnings(warnings),
    )


def _name(obj: dict[str, Any]) -> str:
    if "name" not in obj:
        raise InvalidDocument("The manifest has no 'name'; name the pipeline, e.g. name: fib-pipe.")
    return check_identifier("The manifest name", obj["name"])


def _steps(
    raw: Any, key: str, parse_step: Callable[[dict[str, Any], str], ManifestStep]
) -> tuple[ManifestStep, ...]:
    if not isinstance(raw, list) or not raw:
        raise InvalidDocument(f"'{key}' must be a non-empty list of steps, got {_show(raw)}.")
    steps: list[ManifestStep] = []
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise InvalidDocument(f"{where} must be an object with module and function.")
        steps.append(parse_step(item, where))
    return tuple(steps)


def _wasmiot_step(item: dict[str, Any], where: str) -> ManifestStep:
    # Lenient like the wasmiot orchestrator: keys other than device/module/func are ignored.
    return ManifestStep(
        module=module_field(item.get("module"), f"{where}.module"),
        function=function_field(item.get("func", item.get("function")), f"{where}.func"),
        device=device_field(item.get("device"), f"{where}.device"),
    )


def _wasmfleet_step(item: dict[str, Any], where: str, warnings: Warnings) -> ManifestStep:
    no_unknown_keys(item, _STEP_KEYS, where)
    if "bridge" in item:
        bridge = parse_bridge_step(item, where)
        placement = _placement(item, where, warnings)
        return ManifestStep(module="", function="", bridge=bridge, **placement)
    stateful = flag_field(item.get("stateful"), f"{where}.stateful")
    placement = _placement(item, where, warnings)
    if stateful and placement["replicas"] != 1:
        raise InvalidDocument(
            f"{where} is stateful and asks for replicas {placement['replicas']}: a stateful "
            "step is served by one device at a time (its lease fences every other copy), so "
            "it cannot have several copies; drop 'replicas' or 'stateful'."
        )
    if "function" in item and "func" in item and item["function"] != item["func"]:
        raise InvalidDocument(f"{where} gives both 'function' and 'func'; keep one.")
    fn_key = "function" if "function" in item else "func"
    trigger = parse_trigger(item.get("trigger"), f"{where}.trigger")
    publish = parse_publish(item.get("publish"), f"{where}.publish")
    if trigger is not None and publish is not None and matches(trigger.topic, publish.topic):
        raise InvalidDocument(
            f"{where}.publish.topic {publish.topic!r} matches the step's own trigger "
            f"{trigger.topic!r}: each result would trigger the step again, without end; "
            "publish to a topic outside the trigger."
        )
    module = module_field(item.get("module"), f"{where}.module")
    function = function_field(item.get(fn_key), f"{where}.{fn_key}")
    return ManifestStep(
        module=module,
        function=function,
        stateful=stateful,
        trigger=trigger,
        publish=publish,
        things=parse_step_things(item.get("things"), f"{where}.things"),
        params=parse_step_params(item.get("params"), f"{where}.params"),
        **placement,
    )


def _placement(item: dict[str, Any], where: str, warnings: Warnings) -> dict[str, Any]:
    """The keys that say where a step (function or bridge) may go, as ManifestStep fields."""
    cpu, memory_mb, accelerator_pct = parse_resources(
        item.get("resources"), f"{where}.resources", warnings
    )
    device = device_field(item.get("device"), f"{where}.device")
    replicas = replicas_field(item.get("replicas", 1), f"{where}.replicas")
    if device is not None and replicas != 1:
        raise InvalidDocument(
            f"{where} pins device {device!r} and asks for replicas {replicas}: a pinned step "
            "runs on that one device; select the devices with 'labels' instead, or drop "
            "'replicas'."
        )
    return {
        "device": device,
        "replicas": replicas,
        "labels": labels_field(item.get("labels"), f"{where}.labels"),
        "cpu": cpu,
        "memory_mb": memory_mb,
        "accelerator_pct": accelerator_pct,
        "strategy": choice_field(item.get("strategy"), STRATEGIES, f"{where}.strategy"),
        "failovers": failovers_field(item.get("failovers"), f"{where}.failovers"),
    }


_show = show
