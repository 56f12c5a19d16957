"""cli/plain_args.py: ``wasmfleet supervisor``'s options read without typer's parser must be
exactly what typer passes, and anything but plain options must be left to typer."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
from typer.testing import CliRunner

from wasmfleet.cli.plain_args import plain_options
from wasmfleet.cli.supervisor import supervisor

PLAIN = [
    [],
    ["--port", "5001", "--host", "127.0.0.1"],
    ["--port=5001", "--host=127.0.0.1", "--data-dir", "/tmp/x y"],
    ["--no-mdns", "--name", "dev-1", "--label", "zone=a", "--label", "arch=arm"],
    ["--mdns", "--no-mdns"],  # the last one wins, as in typer
    ["--name", "a", "--name", "b"],
    ["--call-timeout", "2.5", "--workers", "+3", "--heartbeat-interval", "0"],
    ["--heartbeat-jitter=1e-2", "--call-timeout", ".5", "--history-size", "007"],
    ["--memory-limit", "12XB"],  # a bad size still reaches the command, which says so
    ["--broker-insecure", "--nn-model", "a=x.onnx", "--nn-model=b=y.tflite", "--no-nn"],
    ["--camera-dir", "frames", "--camera", "none", "--sensors", "simulated"],
    ["--name", ""],
]
"""Command lines read without typer (each one's keyword arguments compared with typer's)."""

FOR_TYPER = [
    ["--help"],
    ["--port", "abc"],  # not an int: typer's error message
    ["--port", "1.5"],
    ["--call-timeout", "fast"],
    ["--call-timeout", "nan"],
    ["--port"],  # no value
    ["--name", "--port"],  # a value that looks like an option
    ["--heartbeat-jitter", "-1"],
    ["--unknown", "x"],
    ["--mdns=yes"],  # a flag given a value
    ["-p", "5000"],
    ["positional"],
    ["--", "--port", "1"],
]
"""Command lines plain_options leaves to typer."""


def typer_kwargs(command: Callable[..., Any], argv: list[str]) -> dict[str, Any]:
    """What typer passes ``command`` for ``argv`` (the keyword arguments that differ from the
    defaults: plain_options gives only the options on the command line)."""
    seen: list[dict[str, Any]] = []

    @functools.wraps(command)
    def recorder(**kwargs: Any) -> None:
        seen.append(kwargs)

    app = typer.Typer()
    app.command()(recorder)
    app.command("other")(lambda: None)  # two commands: the first is a sub-command
    result = CliRunner().invoke(app, ["supervisor", *argv])
    assert result.exit_code == 0, result.output
    [given] = seen
    return {key: value for key, value in given.items() if value is not None}


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_plain_options_are_what_typer_passes(argv: list[str]) -> None:
    plain = plain_options(supervisor, argv)
    assert plain is not None
    assert plain == typer_kwargs(supervisor, argv)
    assert all(type(plain[k]) is type(v) for k, v in typer_kwargs(supervisor, argv).items())


@pytest.mark.parametrize("argv", FOR_TYPER, ids=" ".join)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert plain_options(supervisor, argv) is None


def test_options_it_cannot_read_leave_the_whole_command_to_typer() -> None:
    def with_envvar(
        port: Annotated[int | None, typer.Option(envvar="PORT")] = None,
    ) -> None:
        pass

    def with_argument(name: Annotated[str, typer.Argument()]) -> None:
        pass

    def with_a_check(path: Annotated[Path | None, typer.Option(exists=True)] = None) -> None:
        pass

    def with_a_range(n: Annotated[int | None, typer.Option(min=1)] = None) -> None:
        pass

    def plain(path: Annotated[Path | None, typer.Option()] = None) -> None:
        pass

    for command in (with_envvar, with_argument, with_a_check, with_a_range):
        assert plain_options(command, []) is None, command.__name__
    assert plain_options(plain, ["--path", "x"]) == {"path": Path("x")}
