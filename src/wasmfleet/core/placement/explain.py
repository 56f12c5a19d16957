"""Reasons, named on demand: which devices a step's filters rejected, and why.

The fast solver records only where each step (each copy) went. ``ReplayExplainer`` rebuilds
the free capacity every device had just before step ``i`` (the snapshot plus the
reservations of every copy of steps ``0..i-1``) and runs the readable filters of
``filters`` over every device, so the reasons are exactly those the solver's masks
implied, at a cost paid only when asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from wasmfleet.core.placement.filters import (
    Ledger,
    ledger_of,
    missing_device_reason,
    reject_reason,
)
from wasmfleet.core.placement.model import (
    DeviceState,
    PlacementRequest,
    Rejection,
    StepRequest,
    Unplaceable,
)


def evaluate_step(
    step: StepRequest,
    devices: Sequence[DeviceState],
    ledgers: Sequence[Ledger],
    names: Mapping[str, int],
) -> tuple[tuple[Rejection, ...], list[int]]:
    """The rejections of ``step`` (a missing pinned device first, then by name) and who fits.

    ``devices`` must be sorted by name; the indices of fitting devices are returned in order.
    """
    rejections: list[Rejection] = []
    if step.device is not None and step.device not in names:
        rejections.append(Rejection(step.device, missing_device_reason(step)))
    fits: list[int] = []
    for index, (device, ledger) in enumerate(zip(devices, ledgers, strict=True)):
        reason = reject_reason(device, ledger, step)
        if reason is None:
            fits.append(index)
        else:
            rejections.append(Rejection(device.name, reason))
    return tuple(rejections), fits


class FixedExplainer:
    """Rejections computed while solving (the reference solver keeps them all)."""

    __slots__ = ("_by_step",)

    def __init__(self, by_step: list[tuple[Rejection, ...]]) -> None:
        self._by_step = by_step

    def rejections(self, step: int) -> tuple[Rejection, ...]:
        """The stored rejections of ``step``."""
        return self._by_step[step]


class ReplayExplainer:
    """Rejections of a solved plan's steps, recomputed (once each) when first asked for."""

    __slots__ = (
        "_at",
        "_cache",
        "_chosen",
        "_cores",
        "_devices",
        "_ledgers",
        "_names",
        "_request",
        "_steps",
    )

    def __init__(
        self,
        request: PlacementRequest,
        devices: Sequence[DeviceState],
        chosen: Sequence[int],
        cores: Sequence[tuple[int, ...]],
        steps: Sequence[int] | None = None,
    ) -> None:
        self._request = request
        self._devices = devices
        self._names = {d.name: i for i, d in enumerate(devices)}
        self._chosen = chosen
        self._cores = cores
        self._steps = steps
        """The step index of each placement (None: one placement per step, in order)."""
        self._cache: dict[int, tuple[Rejection, ...]] = {}
        self._ledgers: list[Ledger] | None = None
        self._at = 0

    def _ledgers_before(self, step: int) -> list[Ledger]:
        """Every device's free capacity just before ``step`` (valid until the next call).

        A cursor is kept, so asking for the steps in order replays each placement once.
        """
        if self._ledgers is None or (self._at > 0 and self._step_of(self._at - 1) >= step):
            self._ledgers = [ledger_of(d) for d in self._devices]
            self._at = 0
        while self._at < len(self._chosen) and self._step_of(self._at) < step:
            placed = self._request.steps[self._step_of(self._at)]
            self._ledgers[self._chosen[self._at]].take(placed, self._cores[self._at])
            self._at += 1
        return self._ledgers

    def _step_of(self, placement: int) -> int:
        return placement if self._steps is None else self._steps[placement]

    def rejections(self, step: int) -> tuple[Rejection, ...]:
        """The devices rejected for ``step``, with reasons, sorted by device name."""
        found = self._cache.get(step)
        if found is None:
            found, _ = evaluate_step(
                self._request.steps[step], self._devices, self._ledgers_before(step), self._names
            )
            self._cache[step] = found
        return found

    def unplaceable(self, step: int, wanted: int = 1, placed: int = 0) -> Unplaceable:
        """The answer for a step that fits nowhere (or whose ``wanted`` copies do not all
        fit), given the steps before it were placed."""
        return Unplaceable(
            step=step,
            step_name=self._request.steps[step].name,
            rejections=self.rejections(step),
            total=len(self._devices),
            wanted=wanted,
            placed=placed,
        )
