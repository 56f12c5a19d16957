"""Apps: a manifest that needs sensors, controllers and modules by type, and binding it to a place.

An app document (YAML or JSON; the store numbers its versions, ``name@N`` like modules)::

    name: too-warm
    parameters:
      threshold: {type: "float -20..60", default: 26}
      speed: "int 0..3"                  # no default: the install must give it
    needs:
      room_temp: {sensor: temperature}
      room_fan: {controller: fan, exclusive: true}
      logic: {module: too-warm-logic}    # a module name, or name@N to pin a version
    steps:
      - module: logic                    # a module need, by its binding name
        function: check
        uses: [room_temp, room_fan]      # the things this step reaches, by binding name
        trigger: {topic: campus/lab-1/temp}

A step is a deployment manifest step (``core.manifest``: labels, resources, trigger, publish,
replicas, ...) whose ``module`` is the name of a module need and whose ``uses`` lists sensor or
controller needs; it may not pin a ``device`` (an app does not know which device is where).
``parse_app`` refuses, with a sentence naming it, a need of an unknown kind, a module that is not
stored, a step naming a binding that is not declared. Binding an app to a place is
core/app_binding.py.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from wasmfleet.core.errors import (
    InvalidArgument,
    InvalidDocument,
)
from wasmfleet.core.manifest import Manifest, ManifestStep, parse_manifest
from wasmfleet.core.manifest_fields import flag_field, kind_of, no_unknown_keys
from wasmfleet.core.names import check_identifier
from wasmfleet.core.places import (
    ParamType,
    check_type_name,
    check_value,
    parse_type,
)
from wasmfleet.core.quantities import show
from wasmfleet.core.versions import parse_module_ref, version_list

NeedKind = Literal["sensor", "controller", "module"]
NEED_KINDS: tuple[NeedKind, ...] = ("sensor", "controller", "module")
MAX_NEEDS = 64
MAX_PARAMETERS = 64
_TOP_KEYS = ("name", "description", "parameters", "needs", "steps")


@dataclass(frozen=True, slots=True)
class Parameter:
    """An app parameter: its type and, when the install may leave it out, a default."""

    type: ParamType
    default: object = None
    required: bool = True


@dataclass(frozen=True, slots=True)
class Need:
    """A named binding: a sensor or controller of a type, or a module (``name`` or ``name@N``)."""

    name: str
    kind: NeedKind
    type: str
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class App:
    """A validated app manifest: parameters, needs by binding name, and steps."""

    name: str
    parameters: Mapping[str, Parameter] = field(hash=False)
    needs: Mapping[str, Need] = field(hash=False)
    steps: tuple[ManifestStep, ...]
    """Steps with ``module`` already replaced by the module need's reference."""
    uses: tuple[tuple[str, ...], ...]
    """Per step, the sensor and controller needs it reaches (binding names)."""
    description: str = ""

    def manifest(self, deployment_name: str) -> Manifest:
        """The deployment manifest for one install of this app (placement as for any manifest)."""
        return Manifest(
            name=check_identifier("The deployment name", deployment_name), steps=self.steps
        )


def parse_app_text(text: str, known_modules: Mapping[str, Collection[int]]) -> App:
    """Parse an app manifest from YAML or JSON text; InvalidDocument says what is wrong."""
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidDocument(f"The app manifest is not valid YAML or JSON{where}.") from None
    return parse_app(obj, known_modules)


def parse_app(doc: object, known_modules: Mapping[str, Collection[int]]) -> App:
    """Validate an app document; ``known_modules`` maps each stored module name to its versions."""
    if not isinstance(doc, dict):
        raise InvalidDocument(
            f"An app manifest must be an object with name, needs and steps, not a {kind_of(doc)}."
        )
    no_unknown_keys(doc, _TOP_KEYS, "The app manifest")
    if "name" not in doc:
        raise InvalidDocument("The app manifest has no 'name'; name the app, e.g. name: too-warm.")
    name = check_identifier("The app name", doc["name"])
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise InvalidDocument(f"description must be a string, got {show(description)}.")
    parameters = _parameters(doc.get("parameters"))
    needs = _needs(doc.get("needs"))
    _check_modules(needs, known_modules)
    steps, uses = _steps(doc.get("steps"), name, needs)
    return App(name, parameters, needs, steps, uses, description)


def _parameters(raw: object) -> dict[str, Parameter]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidDocument(
            "parameters must be an object like {threshold: {type: float, default: 26}}, "
            f"got {show(raw)}."
        )
    if len(raw) > MAX_PARAMETERS:
        raise InvalidDocument(f"parameters has {len(raw)} entries; at most {MAX_PARAMETERS}.")
    out: dict[str, Parameter] = {}
    for key, spec in raw.items():
        where = f"parameters.{key}"
        check_identifier(f"Parameter name {key!r}", key)
        if isinstance(spec, str):
            out[key] = Parameter(parse_type(spec, where))
            continue
        if not isinstance(spec, dict) or "type" not in spec:
            raise InvalidDocument(
                f"{where} must be a type like 'float' or {{type: float, default: 26}}, "
                f"got {show(spec)}."
            )
        no_unknown_keys(spec, ("type", "default", "description"), where)
        ptype = parse_type(spec["type"], f"{where}.type")
        if "default" not in spec:
            out[key] = Parameter(ptype)
            continue
        try:
            check_value(ptype, spec["default"], f"{where}.default")
        except InvalidArgument as err:
            raise InvalidDocument(err.message) from None
        out[key] = Parameter(ptype, spec["default"], required=False)
    return out


def _needs(raw: object) -> dict[str, Need]:
    if not isinstance(raw, dict) or not raw:
        raise InvalidDocument(
            "needs must be a non-empty object of binding name: what, like "
            "{room_temp: {sensor: temperature}, logic: {module: my-module}}, "
            f"got {show(raw)}."
        )
    if len(raw) > MAX_NEEDS:
        raise InvalidDocument(f"needs has {len(raw)} entries; at most {MAX_NEEDS}.")
    out: dict[str, Need] = {}
    for key, spec in raw.items():
        where = f"needs.{key}"
        check_identifier(f"Binding name {key!r}", key)
        if not isinstance(spec, dict):
            raise InvalidDocument(
                f"{where} must be an object like {{sensor: temperature}}, "
                f"{{controller: fan}} or {{module: my-module}}, got {show(spec)}."
            )
        kinds = [k for k in NEED_KINDS if k in spec]
        if len(kinds) != 1:
            raise InvalidDocument(
                f"{where} must give exactly one of sensor, controller or module (the type it "
                f"needs), got {', '.join(map(str, spec)) or 'none'}."
            )
        kind = kinds[0]
        no_unknown_keys(spec, (kind, "exclusive"), where)
        exclusive = flag_field(spec.get("exclusive"), f"{where}.exclusive")
        if exclusive and kind != "controller":
            raise InvalidDocument(
                f"{where} is a {kind} need marked exclusive; only controllers can be held by one "
                "install (sensors are shared, modules are copied); drop 'exclusive'."
            )
        if kind == "module":
            ref = str(parse_module_ref(spec[kind]))
        else:
            ref = check_type_name(spec[kind], f"{where}.{kind}")
        out[key] = Need(key, kind, ref, exclusive)
    return out


def _check_modules(needs: Mapping[str, Need], known: Mapping[str, Collection[int]]) -> None:
    missing: list[str] = []
    for need in needs.values():
        if need.kind != "module":
            continue
        ref = parse_module_ref(need.type)
        if ref.name not in known:
            missing.append(f"{need.name} needs module {ref.name!r}, which is not stored")
        elif ref.version is not None and ref.version not in known[ref.name]:
            have = version_list(list(known[ref.name]))
            missing.append(f"{need.name} needs {ref}, but {ref.name!r} has version(s) {have} only")
    if missing:
        raise InvalidDocument(
            f"The app needs modules that are missing: {'; '.join(missing)}. Push them first "
            "(wasmfleet module push) or correct the names."
        )


def _steps(
    raw: object, name: str, needs: Mapping[str, Need]
) -> tuple[tuple[ManifestStep, ...], tuple[tuple[str, ...], ...]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidDocument(f"steps must be a non-empty list of steps, got {show(raw)}.")
    modules = sorted(n for n, need in needs.items() if need.kind == "module")
    things = sorted(n for n, need in needs.items() if need.kind != "module")
    rewritten: list[Any] = []
    uses: list[tuple[str, ...]] = []
    for i, item in enumerate(raw):
        where = f"steps[{i}]"
        if not isinstance(item, dict):
            raise InvalidDocument(f"{where} must be an object with module and function.")
        step = dict(item)
        if "device" in step:
            raise InvalidDocument(
                f"{where} pins a device; an app does not know which device is where; select "
                "devices with 'labels' or let placement choose."
            )
        uses.append(_uses(step.pop("uses", None), f"{where}.uses", needs, things))
        if "module" in step and "bridge" not in step:
            module = step["module"]
            if module not in modules:
                raise InvalidDocument(
                    f"{where}.module {show(module)} is not a module need of the app; declare "
                    f"it under needs (e.g. logic: {{module: my-module}}) and name the need here "
                    f"(module needs: {', '.join(modules) or 'none'})."
                )
            step["module"] = needs[module].type
        rewritten.append(step)
    manifest = parse_manifest({"name": name, "steps": rewritten})
    return manifest.steps, tuple(uses)


def _uses(
    raw: object, where: str, needs: Mapping[str, Need], things: Sequence[str]
) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list):
        raise InvalidDocument(f"{where} must be a list of binding names, got {show(raw)}.")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or item not in needs or needs[item].kind == "module":
            raise InvalidDocument(
                f"{where} names {show(item)}, which is not a sensor or controller need of the "
                f"app; declare it under needs (sensor and controller needs: "
                f"{', '.join(things) or 'none'})."
            )
        if item not in out:
            out.append(item)
    return tuple(out)


def resolve_parameters(app: App, given: Mapping[str, object] | None) -> dict[str, object]:
    """An install's parameter values: given ones checked, defaults filled, missing ones refused."""
    given = dict(given or {})
    unknown = [k for k in given if k not in app.parameters]
    if unknown:
        raise InvalidArgument(
            f"App {app.name!r} has no parameter {unknown[0]!r}; its parameters are: "
            f"{', '.join(app.parameters) or 'none'}."
        )
    values: dict[str, object] = {}
    missing: list[str] = []
    for key, param in app.parameters.items():
        if key in given:
            values[key] = check_value(param.type, given[key], f"Parameter {key!r}")
        elif param.required:
            missing.append(f"{key} ({param.type})")
        else:
            values[key] = param.default
    if missing:
        raise InvalidArgument(
            f"App {app.name!r} needs a value for parameter(s) {', '.join(missing)}; "
            "give them when installing."
        )
    return values
