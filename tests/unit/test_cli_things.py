"""``wasmfleet location``, ``sensor register ...``, ``controller ...``: help and bad input that
is refused before any request (no network)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from wasmfleet.cli.main import app

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a command that got this far would say so


def invoke(*args: str) -> tuple[int, str, str]:
    env = {"COLUMNS": "200", "WASMFLEET_BROKER": None, "WASMFLEET_ORCHESTRATOR": NOWHERE}
    result = CliRunner().invoke(app, list(args), env=env)
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sensor", "--help"], ["simulate", "controller", "register", "ls", "show", "rm"]),
        (["controller", "--help"], ["register", "ls", "show", "rm"]),
        (["location", "--help"], ["add", "ls", "show", "rm"]),
        (["sensor", "register", "--help"], ["--output", "celsius=float", "--file", "--json"]),
        (["controller", "register", "--help"], ["--input", "speed=int 0..3", "--device"]),
        (["sensor", "simulate", "--help"], ["--register", "--location", "--orchestrator"]),
        (["sensor", "controller", "--help"], ["--register", "--input", "--type"]),
    ],
)
def test_help_names_the_commands_and_flags(args: list[str], words: list[str]) -> None:
    code, out, _ = invoke(*args)
    assert code == 0
    for word in words:
        assert word in out, f"{word!r} missing from {' '.join(args)}"


REGISTER = ["sensor", "register", "--name", "t", "--type", "temperature", "--location", "a"]
SIM = ["sensor", "simulate", "--kind", "temperature", "--topic", "a/b/c", "--register", "t"]
CTL = ["sensor", "controller", "--topic", "a/fan", "--register", "f", "--location", "a"]


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (REGISTER, "Give exactly one of --topic or --device"),
        ([*REGISTER, "--topic", "t", "--device", "d"], "Give exactly one of --topic or --device"),
        (["sensor", "register", "--topic", "t"], "Give --name, --type, --location"),
        ([*REGISTER, "--topic", "t", "--output", "=float"], "must be FIELD=TYPE"),
        (["controller", "register", "--name", "f", "--input", "speed"], "Give --type, --location"),
        (SIM, "--register t needs --location"),
        (CTL, "--register f needs --type"),
        ([*CTL, "--type", "fan", "--topic", "a/#"], "has a wildcard"),
        ([*CTL, "--type", "fan", "--input", "speed:int"], "--input 'speed:int' must be"),
    ],
)
def test_bad_input_is_refused_before_any_request(args: list[str], sentence: str) -> None:
    code, out, err = invoke(*args)
    assert code == 2, (out, err)
    assert sentence in err
    assert "Cannot reach the orchestrator" not in err
