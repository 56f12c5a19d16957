"""Every declared setting of both services and of the CLI client has a flag, an environment
variable and a config-file key, and each of the three really sets it.

The walk is over ``declared(cls)``: a setting added to a settings class without one of the
three (or whose kind cannot be parsed from one of them) fails here.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.main

from wasmfleet.cli.client import ClientSettings
from wasmfleet.cli.main import app
from wasmfleet.cli.settings_command import flag_values
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.service.settings import Setting, config_values, declared, resolve
from wasmfleet.supervisor.settings import SupervisorSettings

SERVICES = {"supervisor": SupervisorSettings, "orchestrator": OrchestratorSettings}
ALL = [*SERVICES.values(), ClientSettings]


def every(classes: list[type]) -> list[tuple[type, Setting]]:
    return [(cls, item) for cls in classes for item in declared(cls)]


def ids(case: tuple[type, Setting]) -> str:
    return f"{case[0].__name__}.{case[1].name}"


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "digits.onnx"
    path.write_bytes(b"model")
    return path


def sample(item: Setting, model_file: Path) -> tuple[list[str], str, str, Any]:
    """A value other than the default as (flag arguments, env text, TOML value, expected)."""
    kind = item.kind.name
    if item.choices:
        value = next(c for c in item.choices if c != item.default)
        return [item.flag, value], value, json.dumps(value), value
    if kind == "bool":
        flag = item.off_flag if item.default else item.flag
        assert flag is not None, f"{item.name}: a setting that is on must have an off flag"
        return (
            [flag],
            str(not item.default).lower(),
            str(not item.default).lower(),
            not item.default,
        )
    if kind in {"int", "float"}:
        base = item.default or 0
        for candidate in (base + 1, base * 2, base / 2, 0.01):
            number = int(candidate) if kind == "int" else float(candidate)
            if number != item.default and (item.check is None or item.check(number) is None):
                text = str(number)
                return [item.flag, text], text, text, number
        raise AssertionError(f"no sample value for {item.name}")
    if kind == "size":
        return [item.flag, "3MiB"], "3MiB", '"3MiB"', 3 * 1024 * 1024
    if kind == "duration":
        return [item.flag, "90m"], "90m", '"90m"', 5400.0
    if kind == "path":
        return [item.flag, "/srv/sample"], "/srv/sample", '"/srv/sample"', Path("/srv/sample")
    if kind == "labels":
        args = [item.flag, "zone=lab", item.flag, "arch=arm"]
        return (
            args,
            "zone=lab,arch=arm",
            '{zone = "lab", arch = "arm"}',
            {"zone": "lab", "arch": "arm"},
        )
    if kind == "paths":
        args = [item.flag, "/keys/a.pub", item.flag, "/keys/b.pub"]
        expected = (Path("/keys/a.pub"), Path("/keys/b.pub"))
        return args, "/keys/a.pub,/keys/b.pub", '["/keys/a.pub", "/keys/b.pub"]', expected
    if kind == "strings":
        for a, b in (("http://a.example/x", "https://b.example/y"), ("a@x.org", "b@y.org")):
            if item.check is None or item.check((a, b)) is None:
                return [item.flag, a, item.flag, b], f"{a},{b}", json.dumps([a, b]), (a, b)
        raise AssertionError(f"no sample value for {item.name}")
    if kind == "nn_models":
        text = f"digits={model_file}"
        return [item.flag, text], text, f'{{digits = "{model_file}"}}', {"digits": model_file}
    if kind == "capacity":
        from wasmfleet.service.setting_values import CapacitySpec

        return [item.flag, "cores=3"], "cores=3", "{cores = 3}", CapacitySpec(cores=3)
    assert kind == "str", f"{item.name}: no sample for kind {kind}"
    for text in ("sample-7", "http://sample:7", "postgresql://u@sample/db", "ops@sample.org"):
        if item.check is None or item.check(text) is None:
            return [item.flag, text], text, json.dumps(text), text
    raise AssertionError(f"no sample value for {item.name}")


def command_of(name: str) -> Any:
    """The click command of ``wasmfleet <name>`` (typer may bring its own copy of click)."""
    root: Any = typer.main.get_command(app)
    return root.commands[name]


def test_every_setting_has_a_flag_a_variable_and_a_key_all_distinct() -> None:
    for cls in ALL:
        items = declared(cls)
        assert items, f"{cls.__name__} declares no setting"
        flags = [f for item in items for f in (item.flag, item.off_flag) if f]
        variables = [name for item in items for name in item.env]
        keys = [item.key for item in items]
        for item in items:
            assert item.flag.startswith("--") and len(item.flag) > 3, item
            assert item.env and all(name.isupper() for name in item.env), item
            assert item.key and not item.key.startswith("-"), item
            assert item.help.endswith("."), f"{item.name}: help is a sentence"
            assert item.default_text, item
        for what, names in (("flag", flags), ("variable", variables), ("key", keys)):
            twice = {n for n in names if names.count(n) > 1}
            assert not twice, f"{cls.__name__}: {what} used twice: {twice}"
    # every field of a settings class is a declared setting: none escapes the mechanism
    for cls in ALL:
        import dataclasses

        assert [f.name for f in dataclasses.fields(cls)] == [i.name for i in declared(cls)]


@pytest.mark.parametrize("case", every(list(SERVICES.values())), ids=ids)
def test_the_flag_the_variables_and_the_key_each_set_the_setting(
    case: tuple[type, Setting], model_file: Path
) -> None:
    cls, item = case
    args, text, toml_value, expected = sample(item, model_file)
    assert expected != item.default

    command = command_of("supervisor" if cls is SupervisorSettings else "orchestrator")
    context = command.make_context(command.name, list(args))
    from_flag = resolve(cls, flags=flag_values(cls, context.params), env={})
    assert from_flag[item.name] == (expected, "flag"), args

    for variable in item.env:  # WASMFLEET_* and the wasmiot names alike
        from_env = resolve(cls, env={variable: text})
        assert from_env[item.name] == (expected, f"environment {variable}")

    table = tomllib.loads(f"{item.key} = {toml_value}\n")
    from_file = resolve(cls, env={}, config=config_values(cls, table, "test.toml"))
    assert from_file[item.name] == (expected, "config")


@pytest.mark.parametrize("case", every([ClientSettings]), ids=ids)
def test_the_client_settings_are_options_of_every_client_command(
    case: tuple[type, Setting], model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cls, item = case
    for name in ("status", "logs", "deploy", "exec"):
        flags = [opt for p in command_of(name).params for opt in p.opts]
        assert item.flag in flags, f"wasmfleet {name} lacks {item.flag}"
    args, text, toml_value, expected = sample(item, model_file)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config-here"))
    for variable in (*item.env, cls.CONFIG_ENV):  # type: ignore[attr-defined]
        monkeypatch.delenv(variable, raising=False)

    def parsed(*given: str) -> Any:
        """The option's value once ``wasmfleet status`` has parsed its command line."""
        return command_of("status").make_context("status", list(given)).params[item.name]

    assert parsed() == item.default
    assert parsed(*args) == expected
    config = tmp_path / "client.toml"
    config.write_text(f"{item.key} = {toml_value}\n")
    monkeypatch.setenv(cls.CONFIG_ENV, str(config))  # type: ignore[attr-defined]
    assert parsed() == expected
    for variable in item.env:
        monkeypatch.setenv(variable, text)
        assert parsed() == expected
        assert resolve(cls, env={variable: text})[item.name] == (
            expected,
            f"environment {variable}",
        )
        monkeypatch.delenv(variable)


def test_the_service_commands_have_one_option_per_setting_and_config() -> None:
    for name, cls in SERVICES.items():
        options = {opt for p in command_of(name).params for opt in p.opts + p.secondary_opts}
        wanted = {f for item in declared(cls) for f in (item.flag, item.off_flag) if f}
        assert wanted | {"--config"} == options, name


def test_the_underscore_spelling_of_a_key_is_the_same_key() -> None:
    table = tomllib.loads('max_request_size = "1MiB"\nheartbeat-interval = 2\n')
    values = config_values(SupervisorSettings, table, "x.toml")
    assert values == {"max_request_bytes": 1024 * 1024, "heartbeat_interval_s": 2.0}
