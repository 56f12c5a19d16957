"""The reference solver: plain Python, one device at a time, reasons built eagerly.

It is the readable definition of ``place`` and the baseline of ``bench/placement.py``; the
property tests check that the numpy solver gives exactly the same plans.
"""

from __future__ import annotations

from wasmfleet.core.placement.explain import FixedExplainer, evaluate_step
from wasmfleet.core.placement.filters import Ledger, assign_cores, ledger_of
from wasmfleet.core.placement.model import (
    DeviceState,
    Placement,
    PlacementRequest,
    Plan,
    Rejection,
    Resources,
    Snapshot,
    Unplaceable,
)
from wasmfleet.core.placement.scorers import score_one
from wasmfleet.core.placement.solver import copies_wanted
from wasmfleet.core.placement.validate import check_request, check_snapshot


def score_device(scorer: str, device: DeviceState, ledger: Ledger, ask: Resources) -> float:
    """The score of ``device`` after it would take ``ask``."""
    return score_one(
        scorer,
        sum(device.core_capacity),
        len(device.core_capacity),
        sum(ledger.free_cores) - ask.millicores,
        device.memory_mb,
        ledger.free_memory - ask.memory_mb,
    )


def place_reference(request: PlacementRequest, snapshot: Snapshot) -> Plan | Unplaceable:
    """Place every step (every copy) in order, evaluating every device in Python (slow,
    obviously right)."""
    check_request(request)
    check_snapshot(snapshot)
    devices = sorted(snapshot.devices, key=lambda d: d.name)
    names = {d.name: i for i, d in enumerate(devices)}
    ledgers = [ledger_of(d) for d in devices]
    explained: list[tuple[Rejection, ...]] = []
    explainer = FixedExplainer(explained)
    placements: list[Placement] = []
    for index, step in enumerate(request.steps):
        copies: list[Placement] = []
        for _ in range(copies_wanted(step, len(devices))):
            rejections, fits = evaluate_step(step, devices, ledgers, names)
            taken = {p.device for p in copies}
            fits = [j for j in fits if devices[j].name not in taken]
            if not copies:
                explained.append(rejections)
                first_fit = len(fits)
            if not fits:
                if step.replicas == "all":
                    break
                return Unplaceable(
                    index,
                    step.name,
                    explained[index],
                    len(devices),
                    copies_wanted(step, 0),
                    len(copies),
                )
            ask = step.resources
            strategy = step.strategy or request.strategy
            kept = [j for j in fits if devices[j].name in step.keep]
            if kept:
                fits, strategy = kept[:1], "first"
            scores = [score_device(request.scorer, devices[j], ledgers[j], ask) for j in fits]
            if strategy == "first":
                pick = 0
            elif strategy == "spread":
                pick = scores.index(max(scores))
            else:
                pick = scores.index(min(scores))
            chosen = fits[pick]
            cores = assign_cores(ledgers[chosen].free_cores, ask.cpu)
            assert cores is not None, "a device that passed the filters must fit its cores"
            ledgers[chosen].take(step, cores)
            copies.append(
                Placement(
                    step=index,
                    step_name=step.name,
                    device=devices[chosen].name,
                    score=scores[pick],
                    cores=cores,
                    fit=first_fit,
                    explainer=explainer,
                )
            )
        if not copies and len(explained) == index:
            explained.append(())
        placements.extend(sorted(copies, key=lambda p: p.device))
    return Plan(request=request, placements=tuple(placements))
