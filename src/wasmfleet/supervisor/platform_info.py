"""What this device is and how loaded it is: the device description and the health report.

``describe_platform`` reads the hardware once (it does not change while the supervisor runs);
``health_report`` is cheap and never sleeps, so it is safe on the ``/health`` request path.
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import socket
import threading
from pathlib import Path
from typing import Any

import psutil

import wasmfleet
from wasmfleet.core.device_wire import description_body, health_body
from wasmfleet.runtime.limits import MiB
from wasmfleet.service.setting_values import CapacitySpec
from wasmfleet.supervisor.settings import SupervisorSettings

_CPUINFO = Path("/proc/cpuinfo")
# Keys that name the CPU in /proc/cpuinfo, best first (x86, ARM boards, MIPS, RISC-V, POWER).
_CPU_NAME_KEYS = ("model name", "model", "hardware", "cpu model", "uarch", "cpu")
_percent_lock = threading.Lock()


def _cpu_model_name() -> str:
    """The CPU's human-readable name from /proc/cpuinfo, else from the platform module."""
    try:
        text = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if sep and value and key in _CPU_NAME_KEYS and key not in found:
            found[key] = value
    for key in _CPU_NAME_KEYS:
        # On x86 "model" is a number; only accept it when it is not a bare integer.
        if key in found and not found[key].isdigit():
            return found[key]
    return platform.processor() or platform.machine() or "unknown"


def _clock_speed_hz() -> int | None:
    """The CPU's maximum (else current) frequency in Hz, or None when the OS does not say."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError, AttributeError, RuntimeError):
        return None
    if freq is None:
        return None
    mhz = freq.max or freq.current
    return int(mhz * 1_000_000) if mhz and mhz > 0 else None


@functools.cache
def _platform_once() -> dict[str, Any]:
    uname = platform.uname()
    return {
        "cpu": {
            "humanReadableName": _cpu_model_name(),
            "architecture": platform.machine(),
            "coreCount": psutil.cpu_count(logical=True) or 1,
            "physicalCoreCount": psutil.cpu_count(logical=False),
            "clockSpeed": {"Hz": _clock_speed_hz()},
        },
        "memory": {"bytes": int(psutil.virtual_memory().total)},
        "system": {
            "os": uname.system,
            "kernel": uname.release,
            "python": platform.python_version(),
            "hostname": socket.gethostname(),
        },
    }


def describe_platform() -> dict[str, Any]:
    """The device's hardware in the wasmiot device description's "platform" shape (cached)."""
    return copy.deepcopy(_platform_once())


def declared_capacity(spec: CapacitySpec) -> dict[str, Any]:
    """What placement may reserve here: millicores per core, memory in MiB, accelerator %.

    Keys not declared take this machine's values: every logical CPU, all physical memory.
    """
    cores = spec.cores if spec.cores is not None else (os.cpu_count() or 1)
    memory_mb = (
        spec.memory_mb
        if spec.memory_mb is not None
        else int(_platform_once()["memory"]["bytes"]) // MiB
    )
    return {
        "cores": [spec.millicores] * cores,
        "memory_mb": memory_mb,
        "accelerator_pct": spec.accelerator_pct,
    }


def device_description(
    settings: SupervisorSettings,
    interfaces: list[str],
    qualified: list[str],
    *,
    nn: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of GET /.well-known/wasmiot-device-description (``nn``: the WASI-NN
    backends and model names, under ``wasmfleet.nn`` when given)."""
    return description_body(
        name=settings.name,
        platform=describe_platform(),
        interfaces=interfaces,
        qualified=qualified,
        labels=settings.labels,
        version=wasmfleet.__version__,
        capacity=declared_capacity(settings.capacity),
        heartbeat_interval_s=settings.heartbeat_interval_s,
        nn=nn,
    )


def _prime_cpu_percent() -> None:
    """Start psutil's CPU accounting so that the first real reading covers a real interval."""
    with _percent_lock:
        psutil.cpu_percent(interval=None)
        psutil.cpu_percent(interval=None, percpu=True)


def health_report() -> dict[str, Any]:
    """CPU and memory load as fractions in [0, 1], computed without sleeping."""
    with _percent_lock:
        total = psutil.cpu_percent(interval=None)
        per_core = psutil.cpu_percent(interval=None, percpu=True)
    return health_body(
        total / 100.0,
        psutil.virtual_memory().percent / 100.0,
        [value / 100.0 for value in per_core],
    )


_prime_cpu_percent()
