"""The snapshot as numpy columns, so that each step filters and scores every device at once.

Devices are indexed in name order. Static filters (requested device, active, dialect,
interfaces, labels) become boolean masks cached per requirement, per label and per distinct
combination, so a pipeline whose steps repeat a shape pays for the mask once. The devices
still free to serve a module function (``idle``) are a mask per (module, function). Free
capacity lives in arrays; the per-core check uses ``sorted_free``, the free millicores of
every device's cores sorted descending and stored *transposed* (row ``r`` = every device's
``r``-th freest core, padded with -1), so ROHE's check ``ask[r] <= free[r]`` is one
contiguous comparison per asked core. After a placement only the chosen device's column
and entries change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain, repeat
from operator import attrgetter, methodcaller
from typing import TypeVar

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

T = TypeVar("T")
StaticKey = tuple[str | None, frozenset[str], tuple[tuple[str, str], ...], bool]


class FleetArrays:
    """Free capacity and static masks of every device of a snapshot, in name order."""

    def __init__(self, devices: Sequence[DeviceState]) -> None:
        self.devices = devices
        self.index = dict(zip(map(_NAME, devices), range(len(devices)), strict=True))
        self.size = len(devices)
        n = self.size
        capacities = list(map(_CAPACITY, devices))
        counts = np.fromiter(map(len, capacities), np.int64, n)
        total = int(counts.sum())
        self.max_cores = int(counts.max()) if n else 0
        # Every device's cores in one flat column, and every column read with C-level maps:
        # the arrays below are whole-column numpy operations (a Python loop per device was
        # ~40 % of a solve at 10,000 devices, generator expressions still ~15 %).
        capacity = np.fromiter(chain.from_iterable(capacities), np.float64, total)
        used = np.fromiter(
            chain.from_iterable(map(_usage, devices, counts.tolist())), np.float64, total
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
        figures = np.fromiter(chain.from_iterable(map(_FIGURES, devices)), np.float64, 4 * n)
        memory, memory_used, accel, accel_used = figures.reshape(n, 4).T if n else (figures,) * 4
        self.mem_cap: FloatArray = np.ascontiguousarray(memory)
        self.mem_free: FloatArray = np.maximum(memory - memory_used, 0.0)
        self.acc_free: FloatArray = np.maximum(accel - accel_used, 0.0)
        self.columns = ScoreColumns.of(self.cpu_cap, self.cores, self.mem_cap)
        self.active: BoolArray = np.fromiter(map(_ACTIVE, devices), np.bool_, n)
        self.wasmfleet: BoolArray = ~np.fromiter(map(_WASMIOT, devices), np.bool_, n)
        self.idle: dict[tuple[str, str], BoolArray] = {}
        """(module, function) -> devices not serving it yet in this solve (once one does)."""
        self._scratch: BoolArray = np.empty(n, dtype=np.bool_)
        self._after: tuple[FloatArray, FloatArray] = (np.empty(n), np.empty(n))
        """Scratch columns for ``choose`` (free capacity after a step, masked scores)."""
        self._iface_group, self._iface_sets = _codes(list(map(_INTERFACES, devices)))
        self._label_codes: dict[str, tuple[IntArray, dict[str | None, int]]] = {}
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
                found = list(map(methodcaller("get", key), map(_LABELS, self.devices)))
                codes, values = _codes(found)
                coded = self._label_codes[key] = (codes, {v: i for i, v in enumerate(values)})
            codes_array, index = coded
            mask = codes_array == index.get(value, -1)  # (a device without the label: None)
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
        """Devices that pass every filter for ``step`` given what is free now (the cached
        static mask itself when no other filter applies: do not modify it)."""
        ask = step.resources
        if len(ask.cpu) > self.max_cores:
            return np.zeros(self.size, dtype=np.bool_)
        ok = self.static_mask(step)
        own = False  # whether ``ok`` is a new array of this call, safe to AND into in place
        pair = function_of(step)
        idle = self.idle.get(pair) if pair is not None else None
        if idle is not None:
            ok, own = ok & idle, True
        # Each further filter is one comparison into a scratch column and one AND, in place
        # once ``ok`` is our own: no new arrays per filter (a step is ~10 column operations).
        tests: list[tuple[FloatArray, int]] = []
        if ask.memory_mb > 0:
            tests.append((self.mem_free, ask.memory_mb))
        if ask.accelerator_pct > 0:
            tests.append((self.acc_free, ask.accelerator_pct))
        for rank, amount in enumerate(sorted(ask.cpu, reverse=True)):
            tests.append((self.sorted_free[rank], amount))
        for column, amount in tests:
            passes = np.greater_equal(column, amount, out=self._scratch)
            if own:
                np.logical_and(ok, passes, out=ok)
            else:
                ok, own = ok & passes, True
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
        cpu_after, mem_after = self.cpu_free, self.mem_free
        if ask.cpu:
            cpu_after = np.subtract(cpu_after, ask.millicores, out=self._after[0])
        if ask.memory_mb:
            mem_after = np.subtract(mem_after, ask.memory_mb, out=self._after[1])
        scores: FloatArray = score_array(scorer, self.columns, cpu_after, mem_after)
        if strategy == "spread":
            # Every scorer gives a device that fits 0 or more, so zeroing the others keeps
            # the argmax (the first of equal scores: the lowest name) where it would be
            # among the devices that fit, at a third of the cost of np.where.
            masked = np.multiply(scores, ok, out=self._after[0])
            chosen = int(masked.argmax())
            if masked[chosen] <= 0.0:  # the best that fits scores 0: ties with the zeroed
                chosen = int(np.where(ok, scores, -np.inf).argmax())
        else:
            chosen = int(np.where(ok, scores, np.inf).argmin())
        return chosen, float(scores[chosen])

    def serve(self, chosen: int, step: StepRequest) -> None:
        """Device ``chosen`` now serves ``step``'s module function."""
        pair = function_of(step)
        if pair is not None:
            mask = self.idle.get(pair)
            if mask is None:
                mask = self.idle[pair] = np.ones(self.size, dtype=np.bool_)
            mask[chosen] = False

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


def _usage(device: DeviceState, cores: int) -> Sequence[int]:
    """A device's per-core usage: none reported is none used on any of ``cores`` cores."""
    return device.core_used or repeat(0, cores)  # type: ignore[return-value]


def _codes(values: list[T]) -> tuple[IntArray, list[T]]:
    """Each value's position among the distinct ``values`` (in first-seen order), and those."""
    distinct = list(dict.fromkeys(values))
    position = {v: i for i, v in enumerate(distinct)}
    return np.fromiter(map(position.__getitem__, values), np.int64, len(values)), distinct


_NAME = attrgetter("name")
_LABELS = attrgetter("labels")
_CAPACITY = attrgetter("core_capacity")
_FIGURES = attrgetter("memory_mb", "memory_used_mb", "accelerator_pct", "accelerator_used_pct")
_ACTIVE = attrgetter("active")
_WASMIOT = attrgetter("wasmiot")
_INTERFACES = attrgetter("interfaces")
