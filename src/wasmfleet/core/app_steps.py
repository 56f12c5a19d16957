"""From an app bound at a place to the deployment manifest of one install.

``install_manifest`` gives each function step of the app the things it ``uses`` (binding
name → the bound thing, ``core.step_things``) and the install's parameter values, so the
supervisor can answer the module's host calls (``wasmfleet.thing_read``, ``thing_send``,
``param``) by the app's own names. A step that uses a thing reached through a device (a
sensor wired to ``edge-1``) must run on that device, so it is pinned there; a step using
things on two different devices cannot run anywhere and is refused with a sentence.
Bridge steps run no module and get neither things nor parameters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from wasmfleet.core.app_binding import Binding
from wasmfleet.core.apps import App, resolve_parameters
from wasmfleet.core.errors import Unprocessable
from wasmfleet.core.manifest import Manifest, ManifestStep
from wasmfleet.core.places import Thing
from wasmfleet.core.step_things import parse_step_params


def install_manifest(
    app: App, binding: Binding, params: Mapping[str, object], name: str
) -> Manifest:
    """The manifest deploying ``app`` as install ``name`` with its bound things and params."""
    if binding.app != app.name:
        raise Unprocessable(
            f"The binding is for app {binding.app!r}, not {app.name!r}; bind the app first."
        )
    values = parse_step_params(resolve_parameters(app, params), "params")
    base = app.manifest(name)
    steps = tuple(_step(app, binding, i, step, values) for i, step in enumerate(app.steps))
    return dataclasses.replace(base, steps=steps)


def _step(
    app: App, binding: Binding, index: int, step: ManifestStep, values: Mapping[str, object]
) -> ManifestStep:
    if step.bridge is not None:
        return step
    uses = app.uses[index] if index < len(app.uses) else ()
    unbound = [n for n in uses if n not in binding.things]
    if unbound:
        raise Unprocessable(
            f"Step {index} ({step.label}) of app {app.name!r} uses {', '.join(unbound)}, "
            "which the binding does not resolve; bind the app again at its location."
        )
    things = {n: binding.things[n] for n in uses}
    device = _device_of(app.name, index, step, things)
    changes: dict[str, object] = {"things": things, "params": dict(values)}
    if device is not None:
        if step.replicas != 1:
            raise Unprocessable(
                f"Step {index} ({step.label}) of app {app.name!r} asks for replicas "
                f"{step.replicas} but uses a thing attached to device {device!r}, where only "
                "one copy can run; drop 'replicas' or bind things reached through a topic."
            )
        changes["device"] = device
    return dataclasses.replace(step, **changes)  # type: ignore[arg-type]


def _device_of(app: str, index: int, step: ManifestStep, things: Mapping[str, Thing]) -> str | None:
    """The one device the step's device-attached things are on (None: no such thing)."""
    on: dict[str, list[str]] = {}
    for name, thing in things.items():
        if thing.via.kind == "device":
            on.setdefault(thing.via.target, []).append(f"{name} ({thing.name})")
    if len(on) > 1:
        where = "; ".join(f"{', '.join(names)} on {dev}" for dev, names in sorted(on.items()))
        raise Unprocessable(
            f"Step {index} ({step.label}) of app {app!r} uses things attached to different "
            f"devices ({where}); one step runs on one device, so split the step in two or "
            "bind things reached through an MQTT topic."
        )
    return next(iter(on), None)
