"""Supervisor settings for device profiles: host interfaces (camera, sensors) and capacity."""

from __future__ import annotations

import os

import psutil
import pytest
from typer.testing import CliRunner

from wasmfleet.cli.main import app
from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.setting_values import CapacitySpec, parse_capacity
from wasmfleet.supervisor.platform_info import declared_capacity
from wasmfleet.supervisor.settings import SupervisorSettings

MiB = 1024 * 1024


def test_parse_capacity_reads_every_key() -> None:
    spec = parse_capacity("cores=2,millicores=500,memory=2048MiB,accelerator=100")
    assert spec == CapacitySpec(cores=2, millicores=500, memory_mb=2048, accelerator_pct=100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", CapacitySpec()),
        ("cores=4", CapacitySpec(cores=4)),
        (" Memory = 1Gi , accelerator=50% ", CapacitySpec(memory_mb=1024, accelerator_pct=50)),
        ("memory=1G", CapacitySpec(memory_mb=954)),  # 10^9 bytes, in whole MiB rounded up
        ("memory=512Mi,", CapacitySpec(memory_mb=512)),
        ("memory=1.5GiB", CapacitySpec(memory_mb=1536)),
        ("memory=4e9", CapacitySpec(memory_mb=3815)),
        ("accelerator=0", CapacitySpec()),
    ],
)
def test_parse_capacity_keys_are_optional(text: str, expected: CapacitySpec) -> None:
    assert parse_capacity(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gpus=1", ["gpus=1", "cores, millicores, memory, accelerator"]),
        ("cores", ["key=value", "'cores'"]),
        ("cores=", ["key=value"]),
        ("cores=0", ["cores", "from 1 to 4096", "'0'"]),
        ("cores=two", ["cores", "whole number", "'two'"]),
        ("cores=1.5", ["cores", "whole number"]),
        ("millicores=0", ["millicores", "from 1"]),
        ("accelerator=101", ["accelerator", "from 0 to 100", "'101'"]),
        ("accelerator=-1", ["accelerator", "whole number"]),
        ("memory=lots", ["memory", "size such as 256Mi", "'lots'"]),
        ("memory=2048", ["memory", "at least 1Mi", "bare number is bytes"]),
        ("memory=512m", ["memory", "m means milli", "write 512Mi"]),
        ("memory=2gb", ["memory", "write 2Gi", "or 2G", "case-sensitive"]),
        ("memory=-1Gi", ["memory", "cannot be negative"]),
        ("cores=2,cores=3", ["cores twice"]),
    ],
)
def test_bad_capacity_is_refused_with_a_sentence(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_capacity(text, "--capacity")
    message = info.value.message
    assert message.startswith("--capacity") and message.endswith((".", ")")), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_capacity_comes_from_the_environment_and_flags_win() -> None:
    env = {"WASMFLEET_CAPACITY": "cores=2,memory=512MiB"}
    assert SupervisorSettings.load(env=env).capacity == CapacitySpec(cores=2, memory_mb=512)
    flagged = SupervisorSettings.load(env=env, overrides={"capacity": "accelerator=30"})
    assert flagged.capacity == CapacitySpec(accelerator_pct=30)
    assert SupervisorSettings.load(env={}).capacity == CapacitySpec()
    with pytest.raises(ConfigurationError, match="WASMFLEET_CAPACITY cores"):
        SupervisorSettings.load(env={"WASMFLEET_CAPACITY": "cores=-2"})


def test_camera_and_sensors_accept_none() -> None:
    settings = SupervisorSettings.load(
        env={"WASMFLEET_CAMERA": "none", "WASMFLEET_SENSORS": "none"}
    )
    assert (settings.camera, settings.sensors) == ("none", "none")
    default = SupervisorSettings.load(env={})
    assert (default.camera, default.sensors) == ("auto", "simulated")
    flagged = SupervisorSettings.load(
        env={"WASMFLEET_SENSORS": "none"}, overrides={"sensors": "simulated", "camera": "none"}
    )
    assert (flagged.camera, flagged.sensors) == ("none", "simulated")


@pytest.mark.parametrize(
    ("env", "words"),
    [
        (
            {"WASMFLEET_CAMERA": "off"},
            ["WASMFLEET_CAMERA", "auto, simulated, opencv or none", "'off'"],
        ),
        ({"WASMFLEET_SENSORS": "real"}, ["WASMFLEET_SENSORS", "simulated or none", "'real'"]),
    ],
)
def test_bad_interface_choice_is_refused(env: dict[str, str], words: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        SupervisorSettings.load(env=env)
    for word in words:
        assert word in info.value.message


def test_declared_capacity_defaults_to_this_machine() -> None:
    declared = declared_capacity(CapacitySpec())
    assert declared == {
        "cores": [1000] * (os.cpu_count() or 1),
        "memory_mb": psutil.virtual_memory().total // MiB,
        "accelerator_pct": 0,
    }
    given = declared_capacity(CapacitySpec(cores=3, millicores=250, memory_mb=64))
    assert given == {"cores": [250, 250, 250], "memory_mb": 64, "accelerator_pct": 0}


def test_cli_refuses_bad_capacity_before_starting() -> None:
    result = CliRunner().invoke(app, ["supervisor", "--capacity", "cores=lots", "--no-mdns"])
    assert result.exit_code == 2
    assert "--capacity cores must be a whole number" in result.output
    result = CliRunner().invoke(app, ["supervisor", "--sensors", "maybe", "--no-mdns"])
    assert result.exit_code == 2
    assert "sensors must be simulated or none" in result.output
