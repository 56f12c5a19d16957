"""Every long-running command takes --log-level and --log-format; a bad one is exit 2 with a
sentence, before anything starts."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from wasmfleet.cli.main import app

LONG_RUNNING = {
    ("supervisor",): [],
    ("orchestrator",): [],
    ("bridge",): ["--from", "mqtt://127.0.0.1:1", "--to", "mqtt://127.0.0.1:2", "-t", "a/#"],
    ("sink",): ["--broker", "mqtt://127.0.0.1:1", "-t", "a/#", "--dir", "objects"],
    ("broker",): ["--port", "0"],
    ("sensor", "simulate"): ["--kind", "temperature", "--topic", "a/b"],
    ("sensor", "controller"): [],
    ("up",): ["--no-pipeline"],
    ("sim", "devices"): ["--count", "1", "--port", "0"],
}


def command(path: tuple[str, ...]) -> Any:
    found: Any = typer.main.get_command(app)
    for name in path:
        found = found.commands[name]
    return found


@pytest.mark.parametrize("path", list(LONG_RUNNING), ids=" ".join)
def test_the_command_has_both_options(path: tuple[str, ...]) -> None:
    options = {opt for param in command(path).params for opt in param.opts}
    assert {"--log-level", "--log-format"} <= options


@pytest.mark.parametrize("path", list(LONG_RUNNING), ids=" ".join)
@pytest.mark.parametrize(
    ("option", "sentence"),
    [
        (["--log-format", "yaml"], "--log-format must be text or json, got 'yaml'."),
        (["--log-level", "loud"], "--log-level must be debug, info, warning, error or critical"),
    ],
)
def test_a_bad_value_is_exit_2_with_a_sentence(
    path: tuple[str, ...], option: list[str], sentence: str
) -> None:
    result = CliRunner().invoke(app, [*path, *LONG_RUNNING[path], *option])
    assert result.exit_code == 2, result.output
    assert sentence in result.stderr
    assert "Traceback" not in result.output + result.stderr
