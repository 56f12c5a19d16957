"""The filters of placement, one device at a time, with the sentence each rejection gives.

Filters run in this order and the first that fails names the device's reason: requested
device, active, dialect (an original wasmiot supervisor has no wasmfleet feature), host
interfaces, labels, function already served (a device serves each module function once per
deployment, so steps repeating one go to different devices), resources (per-core CPU,
memory, accelerator).
This is the readable definition; ``solver`` computes the same masks for all devices at
once with numpy, and ``explain`` uses these functions to name the reasons on demand.

Capacity that a device does not declare, it does not have: CPU is declared by listing
``core_capacity``, memory by ``memory_mb > 0``, an accelerator by ``accelerator_pct > 0``.
A device takes only steps that ask for none (or 0) of what it does not declare, so a
wasmiot supervisor that reports no capacity still hosts steps with no resource asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wasmfleet.core.placement.model import DeviceState, Resources, StepRequest
from wasmfleet.core.quantities import cpu_text


@dataclass(slots=True)
class Ledger:
    """The free capacity of one device during a solve; usage above capacity counts as full."""

    free_cores: list[int]
    free_memory: int
    free_accel: int
    functions: dict[tuple[str, str], str] = field(default_factory=dict)
    """(module, function) served by a step placed here during this solve -> that step."""

    def reserve(self, resources: Resources, cores: Sequence[int]) -> None:
        """Take a placed step's resources, its CPU asks on the given cores."""
        for core, amount in zip(cores, resources.cpu, strict=True):
            self.free_cores[core] -= amount
        self.free_memory -= resources.memory_mb
        self.free_accel -= resources.accelerator_pct

    def take(self, step: StepRequest, cores: Sequence[int]) -> None:
        """Place ``step`` here: its resources, and the function it serves."""
        self.reserve(step.resources, cores)
        pair = function_of(step)
        if pair is not None:
            self.functions.setdefault(pair, step.name)


def function_of(step: StepRequest) -> tuple[str, str] | None:
    """The (module, function) a step serves, or None (a bridge step serves none)."""
    return (step.module, step.function) if step.module and step.function else None


def ledger_of(device: DeviceState) -> Ledger:
    """The free capacity of a device as the snapshot reports it."""
    used = device.core_used or (0,) * len(device.core_capacity)
    return Ledger(
        free_cores=[max(0, cap - use) for cap, use in zip(device.core_capacity, used, strict=True)],
        free_memory=max(0, device.memory_mb - device.memory_used_mb),
        free_accel=max(0, device.accelerator_pct - device.accelerator_used_pct),
    )


def assign_cores(free: Sequence[int], ask: Sequence[int]) -> tuple[int, ...] | None:
    """The core for each CPU ask (ROHE's sorted per-core check), or None when they do not fit.

    Asks sorted descending are paired with the cores sorted by free millicores descending
    (ties: lower core index first, and earlier ask first); every ask must fit its core.
    """
    if len(ask) > len(free):
        return None
    # sorted() is stable, also with reverse=True: equal amounts keep ascending positions.
    by_free = sorted(range(len(free)), key=free.__getitem__, reverse=True)
    by_ask = sorted(range(len(ask)), key=ask.__getitem__, reverse=True)
    cores = [0] * len(ask)
    for rank, i in enumerate(by_ask):
        core = by_free[rank]
        if ask[i] > free[core]:
            return None
        cores[i] = core
    return tuple(cores)


def offers(interfaces: frozenset[str], requirement: str) -> bool:
    """True when a device offers ``module.name``: listed qualified, (wasmiot style) bare, or
    as the whole module ``module.*``."""
    if requirement in interfaces:
        return True
    module, dot, bare = requirement.rpartition(".")
    return bool(dot) and (bare in interfaces or f"{module}.*" in interfaces)


def _more(count: int) -> str:
    return f" +{count} more" if count > 0 else ""


def _cores(count: int) -> str:
    return f"{count} core" if count == 1 else f"{count} cores"


_STATUS_WORDS = ("inactive", "suspect", "dead", "flapping")


def inactive_reason(device: DeviceState) -> str:
    """``cam-pi inactive``, ``cam-pi dead: no heartbeat for 2.6 s (phi 8.3 >= 8)`` ..."""
    status = device.status_reason.strip()
    if not status or status == "inactive":
        return f"{device.name} inactive"
    if status.startswith(_STATUS_WORDS):
        return f"{device.name} {status}"
    return f"{device.name} inactive: {status}"


def interface_reason(device: DeviceState, requires: frozenset[str]) -> str | None:
    """``edge-box lacks camera.takeImageStaticSize +2 more``, or None when all are offered."""
    missing = sorted(r for r in requires if not offers(device.interfaces, r))
    if not missing:
        return None
    return f"{device.name} lacks {missing[0]}{_more(len(missing) - 1)}"


def dialect_reason(device: DeviceState, features: Sequence[str]) -> str | None:
    """``orig is an original wasmiot supervisor, which cannot run bridges``, or None."""
    if not device.wasmiot or not features:
        return None
    return (
        f"{device.name} is an original wasmiot supervisor, which cannot {features[0]}"
        f"{_more(len(features) - 1)}"
    )


def repeat_reason(device: DeviceState, ledger: Ledger, step: StepRequest) -> str | None:
    """``b already serves fibo.fibo for step 1:fibo.fibo ...``, or None."""
    pair = function_of(step)
    earlier = ledger.functions.get(pair) if pair is not None else None
    if earlier is None:
        return None
    return (
        f"{device.name} already serves {step.module}.{step.function} for step {earlier} "
        "(a device serves each module function once per deployment)"
    )


def label_reason(device: DeviceState, wanted: Mapping[str, str]) -> str | None:
    """``edge-box has location=hall, step needs location=lab`` or ``... lacks label location``."""
    bad = [key for key in sorted(wanted) if device.labels.get(key) != wanted[key]]
    if not bad:
        return None
    key = bad[0]
    have = device.labels.get(key)
    if have is None:
        text = f"{device.name} lacks label {key}"
    else:
        text = f"{device.name} has {key}={have}, step needs {key}={wanted[key]}"
    return text + _more(len(bad) - 1)


def _cpu_ask(cpu: Sequence[int]) -> str:
    """``500m``, or ``3 cores (2x1000m, 500m)``: a step's CPU ask in Kubernetes units."""
    if len(cpu) == 1:
        return f"{cpu[0]}m"
    return f"{_cores(len(cpu))} ({cpu_text(cpu)})"


def resource_reason(device: DeviceState, ledger: Ledger, ask: Resources) -> str | None:
    """Why the device's free CPU, memory or accelerator cannot take ``ask``, or None.

    CPU speaks millicores (``1000m`` = one core) and memory MiB (``512Mi``), as manifests do.
    """
    name = device.name
    if ask.cpu:
        have = len(ledger.free_cores)
        if have == 0:
            return f"{name} declares no CPU, step needs {_cpu_ask(ask.cpu)}"
        if len(ask.cpu) > have:
            return f"{name} has {_cores(have)}, step needs {_cpu_ask(ask.cpu)}"
        if assign_cores(ledger.free_cores, ask.cpu) is None:
            free = cpu_text(ledger.free_cores)
            return f"{name} has cores with {free} free, step needs {cpu_text(ask.cpu)}"
    if ask.memory_mb > 0:
        if device.memory_mb == 0:
            return f"{name} declares no memory, step needs {ask.memory_mb}Mi"
        if ask.memory_mb > ledger.free_memory:
            return f"{name} has {ledger.free_memory}Mi memory free, step needs {ask.memory_mb}Mi"
    if ask.accelerator_pct > 0:
        if device.accelerator_pct == 0:
            return f"{name} has no accelerator, step needs {ask.accelerator_pct}%"
        if ask.accelerator_pct > ledger.free_accel:
            return (
                f"{name} has {ledger.free_accel}% accelerator free, "
                f"step needs {ask.accelerator_pct}%"
            )
    return None


def reject_reason(device: DeviceState, ledger: Ledger, step: StepRequest) -> str | None:
    """The first filter ``device`` fails for ``step`` as a sentence, or None when it fits."""
    if step.device is not None and step.device != device.name:
        return f"{device.name} is not the requested device {step.device}"
    if not device.active:
        return inactive_reason(device)
    return (
        dialect_reason(device, step.features)
        or interface_reason(device, step.requires)
        or label_reason(device, step.labels)
        or repeat_reason(device, ledger, step)
        or resource_reason(device, ledger, step.resources)
    )


def missing_device_reason(step: StepRequest) -> str:
    """The reason given when a step pins a device that is not in the snapshot."""
    return f"requested device {step.device} is not registered"
