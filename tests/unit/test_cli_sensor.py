"""``wasmfleet sensor``, ``broker`` and ``up --broker``: help texts and bad input, no network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wasmfleet.cli import local_fleet
from wasmfleet.cli.main import app
from wasmfleet.cli.up_hints import what_next


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "WASMFLEET_BROKER": None})
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["sensor", "--help"], ["simulate", "controller"]),
        (
            ["sensor", "simulate", "--help"],
            ["--kind", "--topic", "--rate", "--count", "--qos", "--seed", "--broker", "5/s"],
        ),
        (["sensor", "controller", "--help"], ["--topic", "--count", "site/+/commands"]),
        (["broker", "--help"], ["--port", "127.0.0.1", "Mosquitto"]),
        (["up", "--help"], ["--broker", "--broker-port", "embedded"]),
    ],
)
def test_help_explains_the_commands(args: list[str], words: list[str]) -> None:
    code, out, _ = invoke(*args)
    assert code == 0
    for word in words:
        assert word in out, f"{word!r} missing from {' '.join(args)}"


SIMULATE = ["sensor", "simulate", "--kind", "temperature", "--topic", "site/lab/t"]


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        ([*SIMULATE, "--rate", "fast"], "--rate 'fast' is not a rate; give messages per second"),
        ([*SIMULATE, "--rate", "0/s"], "out of range"),
        (
            ["sensor", "simulate", "--kind", "temperature", "--topic", "site/+/t"],
            "--topic 'site/+/t' contains a wildcard",
        ),
        ([*SIMULATE, "--broker", "http://x:1"], "--broker 'http://x:1' has scheme 'http'"),
        (["sensor", "controller", "--topic", "a/#/b"], "'#' must be the last level"),
        (["sensor", "controller", "--broker", "mqtt://h/path"], "has a path or query"),
        (["up", "--broker", "ftp://x"], "--broker 'ftp://x' has scheme 'ftp'"),
        (
            ["broker", "--log-level", "loud"],
            "--log-level must be debug, info, warning, error or critical, got 'loud'",
        ),
    ],
)
def test_bad_input_exits_2_with_a_sentence(args: list[str], sentence: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2
    assert sentence in err
    assert err.startswith("error: ")


@pytest.mark.parametrize(
    "args",
    [
        ["sensor", "simulate", "--kind", "humidity", "--topic", "a"],
        [*SIMULATE, "--qos", "3"],
        [*SIMULATE, "--count", "0"],
        ["sensor", "simulate", "--kind", "temperature"],
        ["broker", "--port", "70000"],
    ],
)
def test_invalid_options_are_refused_by_the_parser(args: list[str]) -> None:
    code, _, err = invoke(*args)
    assert code == 2 and ("Invalid value" in err or "Missing option" in err)


def test_what_next_shows_the_broker_and_sensor_commands(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    what_next("http://127.0.0.1:3000", [], {}, broker="mqtt://127.0.0.1:1884")
    out = capsys.readouterr().out
    assert "the MQTT broker mqtt://127.0.0.1:1884" in out
    assert (
        "sensor simulate --kind temperature --topic site/lab/temperature --rate 5/s "
        "--broker mqtt://127.0.0.1:1884" in out
    )
    assert "sensor controller --topic 'site/+/commands' --broker mqtt://127.0.0.1:1884" in out
    what_next("http://127.0.0.1:3000", [], {})
    assert "sensor simulate" not in capsys.readouterr().out


def test_supervisors_are_told_the_broker_when_they_take_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = local_fleet.DEVICES[0]
    monkeypatch.setattr(local_fleet, "supervisor_takes_broker", lambda: True)
    told = local_fleet.supervisor_child(spec, 5001, tmp_path, "http://o:3000", "mqtt://b:1")
    assert told.command[-2:] == [local_fleet.SUPERVISOR_BROKER_FLAG, "mqtt://b:1"]
    assert told.command[:4] == [sys.executable, "-m", "wasmfleet", "supervisor"]
    plain = local_fleet.supervisor_child(spec, 5001, tmp_path, "http://o:3000")
    assert "--broker" not in plain.command
    monkeypatch.setattr(local_fleet, "supervisor_takes_broker", lambda: False)
    old = local_fleet.supervisor_child(spec, 5001, tmp_path, "http://o:3000", "mqtt://b:1")
    assert "--broker" not in old.command


def test_whether_the_supervisor_takes_a_broker_is_read_from_its_options() -> None:
    from wasmfleet.cli import supervisor

    has_it = "broker" in supervisor.supervisor.__annotations__
    assert local_fleet.supervisor_takes_broker() is has_it
