"""Shape guards run before solving: bad names or amounts are ``InvalidDocument`` (400)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from operator import attrgetter

from wasmfleet.core.errors import InvalidDocument
from wasmfleet.core.placement.model import (
    SCORERS,
    STRATEGIES,
    DeviceState,
    PlacementRequest,
    Resources,
    Snapshot,
)


def check_strategy(strategy: str, where: str = "the request") -> None:
    """Raise InvalidDocument unless ``strategy`` is one of STRATEGIES."""
    if strategy not in STRATEGIES:
        raise InvalidDocument(
            f"Unknown placement strategy {strategy!r} in {where}; "
            f"use one of: {', '.join(STRATEGIES)}."
        )


def check_scorer(scorer: str) -> None:
    """Raise InvalidDocument unless ``scorer`` is one of SCORERS."""
    if scorer not in SCORERS:
        raise InvalidDocument(
            f"Unknown placement scorer {scorer!r}; use one of: {', '.join(SCORERS)}."
        )


def _amounts(values: Iterable[object], what: str) -> None:
    for value in values:
        if type(value) is not int or value < 0:  # bool is an int subclass: refused too
            raise InvalidDocument(f"{what} must be whole numbers of 0 or more, not {value!r}.")


def check_resources(resources: Resources, step: str) -> None:
    """Raise InvalidDocument when a step asks for negative or non-integer amounts."""
    _amounts(resources.cpu, f"Step {step}: cpu millicores per core")
    _amounts([resources.memory_mb], f"Step {step}: memory_mb")
    _amounts([resources.accelerator_pct], f"Step {step}: accelerator_pct")


def check_request(request: PlacementRequest) -> None:
    """Validate strategy and scorer names and every step's resources."""
    check_strategy(request.strategy)
    check_scorer(request.scorer)
    for step in request.steps:
        if step.strategy is not None:
            check_strategy(step.strategy, f"step {step.name}")
        check_resources(step.resources, step.name)


def check_device(device: DeviceState) -> None:
    """Raise InvalidDocument when a device's capacity or usage figures are inconsistent."""
    figures = (
        *device.core_capacity,
        *device.core_used,
        device.memory_mb,
        device.memory_used_mb,
        device.accelerator_pct,
        device.accelerator_used_pct,
    )
    if (
        set(map(type, figures)) == {int}
        and min(figures) >= 0
        and len(device.core_used) in (0, len(device.core_capacity))
    ):
        return  # the common case, checked at C speed; the slow path names the problem
    where = f"Device {device.name}"
    _amounts(device.core_capacity, f"{where}: core capacities")
    _amounts(device.core_used, f"{where}: core usage")
    if device.core_used and len(device.core_used) != len(device.core_capacity):
        raise InvalidDocument(
            f"{where} reports usage for {len(device.core_used)} cores but capacity for "
            f"{len(device.core_capacity)}; give one figure per core."
        )
    _amounts(
        [
            device.memory_mb,
            device.memory_used_mb,
            device.accelerator_pct,
            device.accelerator_used_pct,
        ],
        f"{where}: memory and accelerator figures",
    )


def check_snapshot(snapshot: Snapshot) -> None:
    """Validate every device and require unique device names."""
    devices = snapshot.devices
    names = list(map(_NAME, devices))
    if len(set(names)) != len(names):
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise InvalidDocument(f"The snapshot lists device {name!r} twice.")
            seen.add(name)
    if not _all_plain(devices):
        for device in devices:
            check_device(device)


_NAME = attrgetter("name")
_CAPACITY = attrgetter("core_capacity")
_USED = attrgetter("core_used")
_SCALARS = attrgetter("memory_mb", "memory_used_mb", "accelerator_pct", "accelerator_used_pct")


def _all_plain(devices: Sequence[DeviceState]) -> bool:
    """``check_device``'s common case for a whole fleet at once, in a few passes at C speed
    (a Python call per device was a sixth of a solve at 10,000 devices): every figure a
    plain int of 0 or more, and usage given for no core or for every core."""
    capacity = list(map(_CAPACITY, devices))
    used = list(map(_USED, devices))
    scalars = list(map(_SCALARS, devices))

    def figures() -> Iterator[int]:
        return chain(
            chain.from_iterable(capacity),
            chain.from_iterable(used),
            chain.from_iterable(scalars),
        )

    if not set(map(type, figures())) <= {int} or min(figures(), default=0) < 0:
        return False
    return not any(u and u != c for u, c in zip(map(len, used), map(len, capacity), strict=True))
