"""Scorers: a number for a device as it would be *after* a step is placed on it.

All three look at CPU (summed over cores) and memory; the accelerator is only a filter.
A kind of capacity the device does not declare counts as nothing free (as kube-scheduler
scores a resource of zero capacity 0), and ``balanced`` leaves it out.

- ``least_allocated`` (kube-scheduler NodeResourcesFit/LeastAllocated, weights 1:1, scaled
  to 0..1 instead of 0..100): ``(cpu_free/cpu_cap + mem_free/mem_cap) / 2``.
- ``balanced`` (kube-scheduler NodeResourcesBalancedAllocation, 0..1): ``1 - std`` of the
  used fractions; for two resources ``std = |cpu_used/cpu_cap - mem_used/mem_cap| / 2``.
  With fewer than two declared kinds there is nothing to unbalance: the score is 1.
- ``rohe`` (ROHE's PriorityAlgorithm ranking): ``w_cpu * sum(core_free) / (cores * 100) +
  w_mem * mem_free / mem_cap`` with ROHE's default weights ``cpu = memory = 1``. As in ROHE,
  the CPU term is the mean free millicores per core in units of 100 m (an idle 1000 m
  core gives 10), so CPU dominates memory about 10:1. ROHE's services carry a
  ``sensitivity`` (0 none, 1 CPU, 2 memory, 3 both) but its ranking does not read it;
  neither do we. Unlike ROHE (which drops devices whose score is <= 0) an exactly full
  device stays feasible.

``spread`` picks the highest score and ``pack`` the lowest, for every scorer. The scalar
functions below and ``score_array`` perform the same float operations in the same order,
from integer sums, so the reference solver and the numpy solver agree bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

ROHE_WEIGHTS: tuple[float, float] = (1.0, 1.0)
"""ROHE's default ``{"cpu": 1, "memory": 1}``."""

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator > 0 else 0.0


def score_one(
    scorer: str, cpu_cap: int, cores: int, cpu_free: int, mem_cap: int, mem_free: int
) -> float:
    """The score of one device, given its capacities and what would be free after placing."""
    if scorer == "least_allocated":
        return (_ratio(cpu_free, cpu_cap) + _ratio(mem_free, mem_cap)) / 2
    if scorer == "balanced":
        if cpu_cap > 0 and mem_cap > 0:
            cpu_used = (cpu_cap - cpu_free) / cpu_cap
            mem_used = (mem_cap - mem_free) / mem_cap
            return 1.0 - abs(cpu_used - mem_used) / 2
        return 1.0
    w_cpu, w_mem = ROHE_WEIGHTS
    return w_cpu * _ratio(cpu_free, cores * 100) + w_mem * _ratio(mem_free, mem_cap)


@dataclass(frozen=True, slots=True)
class ScoreColumns:
    """Per-device capacities as float64 (whole numbers, exact), zero denominators made 1."""

    cpu_cap: FloatArray
    cpu_cap_safe: FloatArray
    cores100_safe: FloatArray
    mem_cap: FloatArray
    mem_cap_safe: FloatArray
    both_declared: BoolArray

    @classmethod
    def of(cls, cpu_cap: FloatArray, cores: FloatArray, mem_cap: FloatArray) -> ScoreColumns:
        """Columns for devices with these total millicores, core counts and memory."""
        return cls(
            cpu_cap=cpu_cap,
            cpu_cap_safe=np.where(cpu_cap > 0, cpu_cap, 1.0),
            cores100_safe=np.where(cores > 0, cores * 100, 1.0),
            mem_cap=mem_cap,
            mem_cap_safe=np.where(mem_cap > 0, mem_cap, 1.0),
            both_declared=(cpu_cap > 0) & (mem_cap > 0),
        )


def score_array(
    scorer: str, cols: ScoreColumns, cpu_free: FloatArray, mem_free: FloatArray
) -> FloatArray:
    """``score_one`` for every device at once (meaningful where the step fits).

    Where a kind is undeclared its free amount is 0 on every feasible device, so dividing
    by the safe denominator 1 gives the scalar version's 0.0. The inputs hold whole numbers
    below 2**53 as float64, so each operation rounds exactly as the scalar one does.
    """
    if scorer == "least_allocated":
        # (a + b) / 2 in place (halving is exact, so * 0.5 rounds the same): one new array.
        result: FloatArray = np.divide(cpu_free, cols.cpu_cap_safe)
        result += np.divide(mem_free, cols.mem_cap_safe)
        result *= 0.5
        return result
    if scorer == "balanced":
        cpu_used = (cols.cpu_cap - cpu_free) / cols.cpu_cap_safe
        mem_used = (cols.mem_cap - mem_free) / cols.mem_cap_safe
        return np.where(cols.both_declared, 1.0 - np.abs(cpu_used - mem_used) / 2, 1.0)
    w_cpu, w_mem = ROHE_WEIGHTS
    rohe: FloatArray = w_cpu * (cpu_free / cols.cores100_safe) + w_mem * (
        mem_free / cols.mem_cap_safe
    )
    return rohe
