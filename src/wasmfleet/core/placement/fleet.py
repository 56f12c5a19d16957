"""The snapshot as numpy columns, so that each step filters and scores every device at once.

Devices are indexed in name order. Static filters (requested device, active, dialect,
interfaces, labels) become boolean masks cached per requirement, per label and per distinct
combination, so a pipeline whose steps repeat a shape pays for the mask once. The devices
already serving a module function (``serving``) are a mask per (module, function). Free
capacity lives in arrays; the per-core check uses ``sorted_free``, the free millicores of
every device's cores sorted descending and stored *transposed* (row ``r`` = every device's
``r``-th freest core, padded with -1), so ROHE's check ``ask[r] <= free[r]`` is one
contiguous comparison per asked core. After a placement only the chosen device's column
and entries change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, repeat

import numpy as np

from wasmfleet.core.placement.filters import assign_cores, function_of, ledger_of, offers
from wasmfleet.core.placement.model import DeviceState, Resources, StepRequest
from wasmfleet.core.placement.scorers import (
    BoolArray,
    FloatArray,
    IntArray,
    ScoreColumns,
    score_array,
    score_one,
)

StaticKey = tuple[str | None, frozenset[str], tuple[tuple[str, str], ...], bool]


class FleetArrays:
    """Free capacity and static masks of every device of a snapshot, in name order."""

    def __init__(self, devices: Sequence[DeviceState]) -> None:
        self.devices = devices
        self.index = {d.name: i for i, d in enumerate(devices)}
        self.size = len(devices)
        n = self.size
        counts = np.fromiter((len(d.core_capacity) for d in devices), np.int64, n)
        total = int(counts.sum())
        self.max_cores = int(counts.max()) if n else 0
        # Every device's cores in one flat column: the arrays below are whole-column numpy
        # operations (a Python loop per device was ~40 % of a solve at 10,000 devices).
        capacity = np.fromiter(
            chain.from_iterable(d.core_capacity for d in devices), np.float64, total
        )
        used = np.fromiter(
            chain.from_iterable(d.core_used or _idle(len(d.core_capacity)) for d in devices),
            np.float64,
            total,
        )
        free_flat = np.maximum(capacity - used, 0.0)
        owner = np.repeat(np.arange(n), counts)
        slot = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        free = np.full((n, max(self.max_cores, 1)), -1.0)
        free[owner, slot] = free_flat
        self._free_cores: dict[int, list[int]] = {}
        """Per-core free millicores as Python ints, made for a device when it is chosen."""
        self.sorted_free: FloatArray = np.ascontiguousarray(-np.sort(-free, axis=1).T)
        # Whole numbers kept as float64 (exact below 2**53): float division is several times
        # faster than int division in numpy and rounds exactly like Python's int / int.
        self.cpu_free: FloatArray = np.asarray(
            np.bincount(owner, weights=free_flat, minlength=n), dtype=np.float64
        )
        self.cpu_cap: FloatArray = np.asarray(
            np.bincount(owner, weights=capacity, minlength=n), dtype=np.float64
        )
        self.cores: FloatArray = counts.astype(np.float64)
        self.mem_cap: FloatArray = _column(devices, "memory_mb")
        self.mem_free: FloatArray = np.maximum(
            self.mem_cap - _column(devices, "memory_used_mb"), 0.0
        )
        self.acc_free: FloatArray = np.maximum(
            _column(devices, "accelerator_pct") - _column(devices, "accelerator_used_pct"), 0.0
        )
        self.columns = ScoreColumns.of(self.cpu_cap, self.cores, self.mem_cap)
        self.active: BoolArray = np.array([d.active for d in devices], dtype=np.bool_)
        self.wasmfleet: BoolArray = np.array([not d.wasmiot for d in devices], dtype=np.bool_)
        self.serving: dict[tuple[str, str], BoolArray] = {}
        groups: dict[frozenset[str], int] = {}
        self._iface_group: IntArray = np.array(
            [groups.setdefault(d.interfaces, len(groups)) for d in devices], dtype=np.int64
        )
        self._iface_sets = list(groups)
        self._label_codes: dict[str, tuple[IntArray, dict[str, int]]] = {}
        self._static: dict[StaticKey, BoolArray] = {}
        self._offers: dict[str, BoolArray] = {}
        self._labels: dict[tuple[str, str], BoolArray] = {}

    def _offer_mask(self, requirement: str) -> BoolArray:
        mask = self._offers.get(requirement)
        if mask is None:
            by_set = np.array([offers(s, requirement) for s in self._iface_sets], np.bool_)
            mask = by_set[self._iface_group] if self.size else np.zeros(0, np.bool_)
            self._offers[requirement] = mask
        return mask

    def _label_mask(self, key: str, value: str) -> BoolArray:
        mask = self._labels.get((key, value))
        if mask is None:
            coded = self._label_codes.get(key)
            if coded is None:
                values: dict[str, int] = {}
                codes = [
                    values.setdefault(v, len(values))
                    if (v := d.labels.get(key)) is not None
                    else -1
                    for d in self.devices
                ]
                coded = (np.array(codes, dtype=np.int64), values)
                self._label_codes[key] = coded
            codes_array, values = coded
            mask = codes_array == values.get(value, -2)
            self._labels[(key, value)] = mask
        return mask

    def static_mask(self, step: StepRequest) -> BoolArray:
        """Devices that pass the requested-device, active, dialect, interface and label filters."""
        key: StaticKey = (step.device, step.requires, _label_key(step.labels), bool(step.features))
        mask = self._static.get(key)
        if mask is None:
            if step.device is None:
                mask = self.active.copy()
            else:
                mask = np.zeros(self.size, dtype=np.bool_)
                pinned = self.index.get(step.device)
                if pinned is not None:
                    mask[pinned] = self.active[pinned]
            if step.features:
                mask &= self.wasmfleet
            for requirement in step.requires:
                mask &= self._offer_mask(requirement)
            for name, value in key[2]:
                mask &= self._label_mask(name, value)
            self._static[key] = mask
        return mask

    def feasible(self, step: StepRequest) -> BoolArray:
        """Devices that pass every filter for ``step`` given what is free now."""
        ok = self.static_mask(step)
        pair = function_of(step)
        if pair is not None and pair in self.serving:
            ok = ok & ~self.serving[pair]
        ask = step.resources
        if ask.memory_mb > 0:
            ok = ok & (self.mem_free >= ask.memory_mb)
        if ask.accelerator_pct > 0:
            ok = ok & (self.acc_free >= ask.accelerator_pct)
        if ask.cpu:
            if len(ask.cpu) > self.max_cores:
                return np.zeros(self.size, dtype=np.bool_)
            for rank, amount in enumerate(sorted(ask.cpu, reverse=True)):
                ok = ok & (self.sorted_free[rank] >= amount)
        return ok

    def choose(
        self, ok: BoolArray, ask: Resources, strategy: str, scorer: str
    ) -> tuple[int, float]:
        """The device index the strategy picks among ``ok`` (ties: lowest name) and its score."""
        if strategy == "first":
            chosen = int(ok.argmax())
            score = score_one(
                scorer,
                int(self.cpu_cap[chosen]),
                int(self.cores[chosen]),
                int(self.cpu_free[chosen]) - ask.millicores,
                int(self.mem_cap[chosen]),
                int(self.mem_free[chosen]) - ask.memory_mb,
            )
            return chosen, score
        cpu_after = self.cpu_free - ask.millicores if ask.cpu else self.cpu_free
        mem_after = self.mem_free - ask.memory_mb if ask.memory_mb else self.mem_free
        scores: FloatArray = score_array(scorer, self.columns, cpu_after, mem_after)
        if strategy == "spread":
            chosen = int(np.where(ok, scores, -np.inf).argmax())
        else:
            chosen = int(np.where(ok, scores, np.inf).argmin())
        return chosen, float(scores[chosen])

    def serve(self, chosen: int, step: StepRequest) -> None:
        """Device ``chosen`` now serves ``step``'s module function."""
        pair = function_of(step)
        if pair is not None:
            mask = self.serving.setdefault(pair, np.zeros(self.size, dtype=np.bool_))
            mask[chosen] = True

    def reserve(self, chosen: int, ask: Resources) -> tuple[int, ...]:
        """Take ``ask`` on device ``chosen``; the core given to each CPU ask."""
        cores: tuple[int, ...] = ()
        if ask.cpu:
            free = self._free_cores.get(chosen)
            if free is None:
                free = self._free_cores[chosen] = ledger_of(self.devices[chosen]).free_cores
            found = assign_cores(free, ask.cpu)
            assert found is not None, "a device that passed the filters must fit its cores"
            cores = found
            for core, amount in zip(cores, ask.cpu, strict=True):
                free[core] -= amount
            self.sorted_free[: len(free), chosen] = sorted(free, reverse=True)
            self.cpu_free[chosen] -= ask.millicores
        if ask.memory_mb:
            self.mem_free[chosen] -= ask.memory_mb
        if ask.accelerator_pct:
            self.acc_free[chosen] -= ask.accelerator_pct
        return cores


def _label_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items())) if labels else ()


def _idle(cores: int) -> repeat[int]:
    """No usage on any of ``cores`` cores (a device that reports none)."""
    return repeat(0, cores)


def _column(devices: Sequence[DeviceState], field: str) -> FloatArray:
    """One numeric field of every device, as float64."""
    return np.fromiter((getattr(d, field) for d in devices), np.float64, len(devices))
