"""``--nn-model NAME=PATH`` / ``WASMFLEET_NN_MODELS``: typed, checked, with a sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.setting_values import parse_nn_models
from wasmfleet.supervisor.settings import SupervisorSettings


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("a.onnx", "b.tflite", "c.ONNX", "d.pb"):
        (tmp_path / name).write_bytes(b"model")
    return tmp_path


def test_flags_and_environment(files: Path) -> None:
    flags = SupervisorSettings.load(
        env={}, overrides={"nn_models": [f"one={files / 'a.onnx'}", f"two={files / 'b.tflite'}"]}
    )
    assert flags.nn_models == {"one": files / "a.onnx", "two": files / "b.tflite"}
    env = {"WASMFLEET_NN_MODELS": f"one = {files / 'a.onnx'} , upper={files / 'c.ONNX'}"}
    from_env = SupervisorSettings.load(env=env)
    assert from_env.nn_models == {"one": files / "a.onnx", "upper": files / "c.ONNX"}
    assert SupervisorSettings.load(env=env, overrides={"nn_models": None}).nn_models
    assert SupervisorSettings.load(env={}).nn_models == {}


@pytest.mark.parametrize(
    ("item", "sentence"),
    [
        ("{d}/a.onnx", "must look like NAME=PATH (e.g. face=/models/face.tflite)"),
        ("x=", "must look like NAME=PATH"),
        ("=x.onnx", "must look like NAME=PATH"),
        ("x={d}/d.pb", "the file must end in .onnx (ONNX Runtime) or .tflite (LiteRT)"),
        ("x={d}/gone.onnx", "there is no such file"),
        ("x={d}", "must end in .onnx"),
        ("bad name={d}/a.onnx", "a model name is 1-63 letters"),
    ],
)
def test_refusals_say_what_is_wrong(files: Path, item: str, sentence: str) -> None:
    with pytest.raises(ConfigurationError, match=sentence.replace("(", r"\(").replace(")", r"\)")):
        parse_nn_models([item.format(d=files)])


def test_a_name_given_twice_and_env_errors(files: Path) -> None:
    with pytest.raises(ConfigurationError, match="names the model 'x' twice"):
        parse_nn_models([f"x={files / 'a.onnx'}", f"x={files / 'b.tflite'}"])
    with pytest.raises(ConfigurationError, match=r"WASMFLEET_NN_MODELS x=.*no such file"):
        SupervisorSettings.load(env={"WASMFLEET_NN_MODELS": f"x={files / 'gone.tflite'}"})


def test_settings_made_directly_are_checked_too(files: Path) -> None:
    with pytest.raises(ConfigurationError, match="no such file"):
        SupervisorSettings(nn_models={"x": files / "gone.onnx"}).validate()
    SupervisorSettings(nn_models={"x": files / "a.onnx"}).validate()


def test_nn_can_be_switched_off_and_then_nothing_is_offered(tmp_path: Path) -> None:
    from wasmfleet.runtime.host.functions import HostDevices
    from wasmfleet.runtime.host.registry import offered_interfaces
    from wasmfleet.runtime.nn.models import ModelRegistry

    assert SupervisorSettings.load(env={}).nn is True
    off = SupervisorSettings.load(env={"WASMFLEET_NN": "0"})
    assert off.nn is False
    assert SupervisorSettings.load(env={"WASMFLEET_NN": "0"}, overrides={"nn": True}).nn is True
    registry = ModelRegistry(backends=None if off.nn else ())  # what the supervisor does
    assert not registry.available and registry.offered() == []
    _, qualified = offered_interfaces(HostDevices(None, None, nn=registry).lacking)
    assert not any(name.startswith("wasi_ephemeral_nn.") for name in qualified)
