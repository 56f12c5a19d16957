"""``place``: the vectorised solver (filter -> score -> select, one step after another).

Steps are placed in order and each placement reserves its resources (and the module
function it serves), so later steps see earlier ones. Per step the solver builds one
feasibility mask over all devices with numpy (see ``fleet``), scores the feasible ones as
they would be after the step, and picks by the step's strategy; ties go to the lowest
device name. No reason strings are built here: a placement's ``rejections`` are recomputed
on first access by ``explain``, and only the first unplaceable step pays for its reasons
while solving.
"""

from __future__ import annotations

import numpy as np

from wasmfleet.core.placement.explain import ReplayExplainer
from wasmfleet.core.placement.fleet import FleetArrays
from wasmfleet.core.placement.model import (
    Placement,
    PlacementRequest,
    Plan,
    Snapshot,
    Unplaceable,
)
from wasmfleet.core.placement.validate import check_request, check_snapshot


def place(request: PlacementRequest, snapshot: Snapshot) -> Plan | Unplaceable:
    """Place every step of ``request`` on the devices of ``snapshot``; deterministic."""
    check_request(request)
    check_snapshot(snapshot)
    devices = tuple(sorted(snapshot.devices, key=lambda d: d.name))
    fleet = FleetArrays(devices)
    chosen: list[int] = []
    cores: list[tuple[int, ...]] = []
    explainer = ReplayExplainer(request, devices, chosen, cores)
    placements: list[Placement] = []
    for index, step in enumerate(request.steps):
        ok = fleet.feasible(step)
        fit = int(np.count_nonzero(ok))
        if fit == 0:
            return explainer.unplaceable(index)
        device, score = fleet.choose(
            ok, step.resources, step.strategy or request.strategy, request.scorer
        )
        given = fleet.reserve(device, step.resources)
        fleet.serve(device, step)
        chosen.append(device)
        cores.append(given)
        placements.append(
            Placement(
                step=index,
                step_name=step.name,
                device=devices[device].name,
                score=score,
                cores=given,
                fit=fit,
                explainer=explainer,
            )
        )
    return Plan(request=request, placements=tuple(placements))
