"""``place``: the vectorised solver (filter -> score -> select, one step after another).

Steps are placed in order and each placement reserves its resources (and the module
function it serves), so later steps see earlier ones. Per step the solver builds one
feasibility mask over all devices with numpy (see ``fleet``), scores the feasible ones as
they would be after the step, and picks by the step's strategy; ties go to the lowest
device name. A fleet-wide step (``replicas``) repeats this once per copy, each copy on a
device no other copy of the step took: the devices of ``keep`` first while they fit, then
by strategy, until N copies are placed (fewer is ``Unplaceable``) or, for ``"all"``, no
device fits any more (zero copies is a valid answer). No reason strings are built here: a
placement's ``rejections`` are recomputed on first access by ``explain``, and only the
first unplaceable step pays for its reasons while solving.
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
    StepRequest,
    Unplaceable,
)
from wasmfleet.core.placement.scorers import BoolArray
from wasmfleet.core.placement.validate import check_request, check_snapshot


def place(request: PlacementRequest, snapshot: Snapshot) -> Plan | Unplaceable:
    """Place every step (every copy) of ``request`` on the devices of ``snapshot``;
    deterministic."""
    check_request(request)
    check_snapshot(snapshot)
    devices = tuple(sorted(snapshot.devices, key=lambda d: d.name))
    fleet = FleetArrays(devices)
    chosen: list[int] = []
    cores: list[tuple[int, ...]] = []
    steps: list[int] = []
    explainer = ReplayExplainer(request, devices, chosen, cores, steps)
    placements: list[Placement] = []
    for index, step in enumerate(request.steps):
        taken: BoolArray | None = None  # devices holding a copy of this step already
        keep = [fleet.index[d] for d in sorted(set(step.keep)) if d in fleet.index]
        copies: list[Placement] = []
        first_fit = 0
        for _ in range(copies_wanted(step, fleet.size)):
            ok = fleet.feasible(step)
            if taken is not None:
                ok = ok & ~taken
            fit = int(np.count_nonzero(ok))
            if not copies:
                first_fit = fit
            if fit == 0:
                if step.replicas == "all":
                    break
                return explainer.unplaceable(index, copies_wanted(step, 0), len(copies))
            strategy = step.strategy or request.strategy
            kept = next((k for k in keep if ok[k]), None)
            if kept is not None:
                only = np.zeros(fleet.size, dtype=np.bool_)
                only[kept] = True
                ok, strategy = only, "first"
            device, score = fleet.choose(ok, step.resources, strategy, request.scorer)
            given = fleet.reserve(device, step.resources)
            fleet.serve(device, step)
            if taken is None:
                taken = np.zeros(fleet.size, dtype=np.bool_)
            taken[device] = True
            chosen.append(device)
            cores.append(given)
            steps.append(index)
            copies.append(
                Placement(
                    step=index,
                    step_name=step.name,
                    device=devices[device].name,
                    score=score,
                    cores=given,
                    fit=first_fit,
                    explainer=explainer,
                )
            )
        placements.extend(sorted(copies, key=lambda p: p.device))
    return Plan(request=request, placements=tuple(placements))


def copies_wanted(step: StepRequest, devices: int) -> int:
    """How many copies of ``step`` to place among ``devices`` (``"all"``: at most one each)."""
    return devices if step.replicas == "all" else step.replicas
