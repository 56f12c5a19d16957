"""The device description and health report read real values from this machine."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import pytest

import wasmfleet
from wasmfleet.supervisor import platform_info
from wasmfleet.supervisor.platform_info import (
    declared_capacity,
    describe_platform,
    device_description,
    health_report,
)
from wasmfleet.supervisor.settings import SupervisorSettings


def test_describe_platform_has_the_wasmiot_shape_with_real_values() -> None:
    described = describe_platform()

    cpu = described["cpu"]
    assert isinstance(cpu["humanReadableName"], str) and cpu["humanReadableName"]
    assert isinstance(cpu["architecture"], str) and cpu["architecture"]
    assert isinstance(cpu["coreCount"], int) and cpu["coreCount"] >= 1
    physical = cpu["physicalCoreCount"]
    assert physical is None or 1 <= physical <= cpu["coreCount"]
    hz = cpu["clockSpeed"]["Hz"]
    assert hz is None or (isinstance(hz, int) and hz > 1_000_000)  # above 1 MHz when known
    assert isinstance(described["memory"]["bytes"], int) and described["memory"]["bytes"] > 0
    system = described["system"]
    assert all(isinstance(system[key], str) and system[key] for key in system)
    assert set(system) == {"os", "kernel", "python", "hostname"}


def test_describe_platform_is_cached_and_hands_out_copies() -> None:
    first = describe_platform()
    first["cpu"]["coreCount"] = -1

    assert describe_platform()["cpu"]["coreCount"] >= 1
    assert describe_platform() == describe_platform()


def test_device_description_names_the_device_and_its_interfaces() -> None:
    settings = SupervisorSettings(name="dev-a", labels={"zone": "lab"})

    described = device_description(settings, ["takeImage", "millis"], ["camera.takeImage"])

    assert described["platform"] == describe_platform()
    assert described["supervisorInterfaces"] == ["takeImage", "millis"]
    assert described["wasmfleet"] == {
        "name": "dev-a",
        "labels": {"zone": "lab"},
        "interfaces": ["camera.takeImage"],
        "version": wasmfleet.__version__,
        "capacity": declared_capacity(settings.capacity),
        "heartbeat_interval_s": 0.5,
    }


def test_health_report_gives_fractions_without_sleeping(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sleeping(seconds: float) -> None:
        raise AssertionError(f"health_report slept for {seconds} s on the request path")

    monkeypatch.setattr(time, "sleep", no_sleeping)

    for _ in range(3):
        report = health_report()
        assert set(report) == {"cpuUsage", "memoryUsage", "cpuPerCore"}
        assert 0.0 <= report["cpuUsage"] <= 1.0
        assert 0.0 < report["memoryUsage"] <= 1.0  # a running process uses some memory
        assert len(report["cpuPerCore"]) >= 1
        assert all(0.0 <= value <= 1.0 for value in report["cpuPerCore"])


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        (
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 85\n"
            "model name\t: Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz\n",
            "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
        ),
        (
            "processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd08\n\n"
            "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n",
            "Raspberry Pi 4 Model B Rev 1.4",
        ),
        ("processor\t: 0\nmodel\t\t: 85\n", None),
    ],
    ids=["x86", "raspberry-pi", "numeric-model-only"],
)
def test_cpu_name_comes_from_proc_cpuinfo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpuinfo: str, expected: str | None
) -> None:
    fake = tmp_path / "cpuinfo"
    fake.write_text(cpuinfo)
    monkeypatch.setattr(platform_info, "_CPUINFO", fake)
    monkeypatch.setattr(platform, "processor", lambda: "fallback-cpu")

    name = platform_info._cpu_model_name()

    assert name == (expected or "fallback-cpu")
