"""Placement's data: a frozen snapshot and a request in, a plan or the reasons it failed out.

Every class here is immutable. Amounts are integers: CPU in millicores *per core*
(ROHE style: ``(500, 50)`` asks for two cores, 500m on one and 50m on another; a manifest's
scalar ``cpu: 2.5`` arrives as ``(1000, 1000, 500)``), memory in MiB, accelerator in percent
of the device's accelerator.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from wasmfleet.core.errors import PlacementFailed

STRATEGIES: tuple[str, ...] = ("first", "spread", "pack")
"""``first``: first feasible device by name; ``spread``: highest score; ``pack``: lowest."""

SCORERS: tuple[str, ...] = ("least_allocated", "balanced", "rohe")
"""How a feasible device is scored, as it would be after the step is placed on it."""


@dataclass(frozen=True, slots=True)
class Resources:
    """What a step asks for (or, in ``Plan.usage``, what a plan reserves on a device)."""

    cpu: tuple[int, ...] = ()
    memory_mb: int = 0
    accelerator_pct: int = 0

    @property
    def millicores(self) -> int:
        """Total millicores over all cores."""
        return sum(self.cpu)


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One device of the frozen snapshot: what it offers and what is already used on it."""

    name: str
    active: bool = True
    status_reason: str = ""
    interfaces: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    core_capacity: tuple[int, ...] = ()
    core_used: tuple[int, ...] = ()
    memory_mb: int = 0
    memory_used_mb: int = 0
    accelerator_pct: int = 0
    accelerator_used_pct: int = 0
    wasmiot: bool = False
    """An original wasmiot supervisor: it runs no step that needs a wasmfleet feature."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The fleet as placement sees it; device names are unique."""

    devices: tuple[DeviceState, ...]


@dataclass(frozen=True, slots=True)
class StepRequest:
    """One step of a pipeline to place."""

    name: str
    module: str
    function: str
    requires: frozenset[str] = frozenset()
    device: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    resources: Resources = Resources()
    strategy: str | None = None
    features: tuple[str, ...] = ()
    """The wasmfleet features the step needs, each a phrase that completes "which cannot
    ..." (e.g. "hold a fencing lease (stateful: true)"): original wasmiot supervisors are
    rejected. Steps with the same non-empty ``module`` and ``function`` never share a
    device (a device serves each function once per deployment)."""
    replicas: int | Literal["all"] = 1
    """Copies of the step, each on its own device: N (N devices, or Unplaceable when fewer
    fit) or ``"all"`` (every device that fits; none is a valid answer)."""
    keep: tuple[str, ...] = ()
    """Devices that already hold a copy: they are taken first when they still fit, so a
    re-solve does not move copies (a fleet-wide step's copies never move)."""


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """A named pipeline of steps, with how to choose among the devices that fit."""

    name: str
    steps: tuple[StepRequest, ...]
    strategy: str = "spread"
    scorer: str = "least_allocated"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one device cannot host one step; ``reason`` is a sentence naming the device."""

    device: str
    reason: str


class Explainer(Protocol):
    """Gives the rejections of a step of a solved plan (possibly computed on demand)."""

    def rejections(self, step: int) -> tuple[Rejection, ...]:
        """The devices that failed the filters of ``step``, sorted by device name."""
        ...


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one step (or one copy of a fleet-wide step) goes, its score there, and the
    cores its CPU asks were given; the copies of a step share ``step``, ordered by device."""

    step: int
    step_name: str
    device: str
    score: float
    cores: tuple[int, ...]
    """Core index for each entry of the step's ``resources.cpu``, in the same order."""
    fit: int
    """How many devices passed the filters for this step."""
    explainer: Explainer | None = field(default=None, compare=False, repr=False)

    @property
    def rejections(self) -> tuple[Rejection, ...]:
        """The devices rejected for this step with their reasons, sorted by device name."""
        return () if self.explainer is None else self.explainer.rejections(self.step)


@dataclass(frozen=True, slots=True)
class Plan:
    """A solved request: one placement per copy, ordered by (step, device); a plain step
    has one copy, a ``replicas: all`` step that fits nowhere has none."""

    request: PlacementRequest
    placements: tuple[Placement, ...]

    def devices(self) -> tuple[str, ...]:
        """The device of each placement (copy), in (step, device) order."""
        return tuple(p.device for p in self.placements)

    def usage(self) -> dict[str, Resources]:
        """What the plan reserves per device; ``cpu[i]`` is the millicores taken on core ``i``."""
        cores: dict[str, dict[int, int]] = {}
        memory: dict[str, int] = {}
        accel: dict[str, int] = {}
        for placement in self.placements:
            res = self.request.steps[placement.step].resources
            per_core = cores.setdefault(placement.device, {})
            for core, amount in zip(placement.cores, res.cpu, strict=True):
                per_core[core] = per_core.get(core, 0) + amount
            memory[placement.device] = memory.get(placement.device, 0) + res.memory_mb
            accel[placement.device] = accel.get(placement.device, 0) + res.accelerator_pct
        usage: dict[str, Resources] = {}
        for name in sorted(cores):
            per_core = cores[name]
            width = max(per_core) + 1 if per_core else 0
            usage[name] = Resources(
                cpu=tuple(per_core.get(i, 0) for i in range(width)),
                memory_mb=memory[name],
                accelerator_pct=accel[name],
            )
        return usage


@dataclass(frozen=True, slots=True)
class Unplaceable:
    """The first step that fits on no device, with every device's reason."""

    step: int
    step_name: str
    rejections: tuple[Rejection, ...]
    total: int
    """Devices in the snapshot."""
    wanted: int = 1
    """Copies the step asks for (``replicas: N``)."""
    placed: int = 0
    """Copies that found a device before the others did not."""

    @property
    def message(self) -> str:
        """One sentence: ``0/3 devices fit step s: a inactive; b lacks camera.x; ...``."""
        head = f"0/{self.total} devices fit step {self.step_name}"
        if self.wanted > 1:
            head = (
                f"only {self.placed} of the {self.wanted} copies of step {self.step_name} fit "
                f"on distinct devices ({self.total} devices)"
            )
        if not self.rejections:
            return f"{head}: no devices are registered"
        return f"{head}: " + "; ".join(r.reason for r in self.rejections)

    @property
    def reasons(self) -> dict[str, str]:
        """Device name -> reason, in the order of ``rejections``."""
        return {r.device: r.reason for r in self.rejections}

    def error(self) -> PlacementFailed:
        """The 422 error to raise for this answer."""
        return PlacementFailed(self.message, self.reasons, self.step_name)
