"""``wasmfleet.qoa_report``: a module reports the quality of analytics of one inference.

    wasmfleet.qoa_report(f32 latency_ms, f32 confidence) -> i32

The QoA probe of ROHE (seed 002) inside the guest: after each inference a module reports
how long it took (milliseconds, >= 0) and how confident its result is (0..1). The report is
attributed to the function being called (``GuestContext.function``) as
``<deployment>/<module>/<function>`` and handed to the device's ``QoaSink`` (the
supervisor's ``QualityBook``, which serves per-function aggregates). Returns 0, or
``E_QOA_VALUE`` (-1, nothing recorded) when a value is NaN, infinite or negative, or the
confidence is over 1. Every device offers it; without a sink the reports are accepted and
dropped. Never blocks, so it does not keep a module from running inline.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import wasmtime

from wasmfleet.runtime.host.guest import GuestContext

if TYPE_CHECKING:
    from wasmfleet.runtime.host.functions import HostDevices, HostImpl

E_QOA_VALUE = -1
"""A value is NaN, infinite or negative, or the confidence is over 1: nothing recorded."""


class QoaSink(Protocol):
    """Where the reports go (``supervisor.quality.QualityBook``)."""

    def record(self, key: str, latency_ms: float, confidence: float) -> None:
        """Add one report of the function ``key`` (``deployment/module/function``)."""
        ...


def valid_report(latency_ms: float, confidence: float) -> bool:
    """Whether ``qoa_report`` records these values (else it returns E_QOA_VALUE)."""
    return (
        math.isfinite(latency_ms)
        and math.isfinite(confidence)
        and latency_ms >= 0.0
        and 0.0 <= confidence <= 1.0
    )


def report_key(ctx: GuestContext) -> str:
    """``deployment/module/function`` of the call in progress."""
    return f"{ctx.deployment}/{ctx.module}/{ctx.function or '?'}"


def qoa_report(ctx: GuestContext, dev: HostDevices) -> HostImpl:
    """Build ``wasmfleet.qoa_report`` for one instance."""

    def report(caller: wasmtime.Caller, latency_ms: float, confidence: float) -> int:
        if not valid_report(latency_ms, confidence):
            return E_QOA_VALUE
        sink = dev.qoa
        if sink is not None:
            sink.record(report_key(ctx), latency_ms, confidence)
        return 0

    return report
