"""The ``wasmfleet`` command. Each noun of the platform is a command or a sub-app.

Sub-commands are imported only when they run: ``wasmfleet supervisor`` on a device imports
the supervisor, not the orchestrator's client, the ML build pipeline (numpy), the embedded
broker or rich's tables. ``main`` registers the one command named on the command line;
anything else (help, no command, a mistyped one, shell completion) and ``app`` itself, as
tests import it, get every command, in the order of ``COMMANDS``. ``wasmfleet supervisor``
with plain options does not even go through typer's parser (``PLAIN``, cli/plain_args.py).
A command whose extra is not installed says which one to install (cli/extras.py).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Annotated, Literal

import typer

from wasmfleet import __version__
from wasmfleet.cli import extras

Kind = Literal["command", "group"]
COMMANDS: dict[str, tuple[str, str, Kind]] = {
    "up": ("wasmfleet.cli.up", "up", "command"),
    "supervisor": ("wasmfleet.cli.supervisor", "supervisor", "command"),
    "orchestrator": ("wasmfleet.cli.orchestrator", "orchestrator", "command"),
    "demo": ("wasmfleet.cli.demo", "demo", "command"),
    "device": ("wasmfleet.cli.devices", "app", "group"),
    "module": ("wasmfleet.cli.modules", "app", "group"),
    "key": ("wasmfleet.cli.sign", "key_app", "group"),
    "deploy": ("wasmfleet.cli.deployments", "deploy", "command"),
    "deployment": ("wasmfleet.cli.deployments", "app", "group"),
    "rollout": ("wasmfleet.cli.rollouts", "app", "group"),
    "app": ("wasmfleet.cli.apps", "app", "group"),
    "exec": ("wasmfleet.cli.deployments", "exec_command", "command"),
    "dev": ("wasmfleet.cli.dev", "dev", "command"),
    "run": ("wasmfleet.cli.run", "run", "command"),
    "logs": ("wasmfleet.cli.logs", "logs", "command"),
    "status": ("wasmfleet.cli.status", "status", "command"),
    "broker": ("wasmfleet.cli.broker", "broker", "command"),
    "location": ("wasmfleet.cli.places", "app", "group"),
    "sensor": ("wasmfleet.cli.sensor", "app", "group"),
    "controller": ("wasmfleet.cli.things", "controller_app", "group"),
    "ml": ("wasmfleet.cli.ml", "app", "group"),
    "user": ("wasmfleet.cli.users", "app", "group"),
    "token": ("wasmfleet.cli.tokens", "app", "group"),
    "audit": ("wasmfleet.cli.audit", "audit", "command"),
    "login": ("wasmfleet.cli.contexts", "login", "command"),
    "logout": ("wasmfleet.cli.contexts", "logout", "command"),
    "context": ("wasmfleet.cli.contexts", "app", "group"),
    "bridge": ("wasmfleet.cli.bridge", "bridge", "command"),
    "sink": ("wasmfleet.cli.bridge", "sink", "command"),
    "sim": ("wasmfleet.cli.sim", "app", "group"),
    "new": ("wasmfleet.cli.author", "new", "command"),
    "build": ("wasmfleet.cli.author", "build", "command"),
    "guest-path": ("wasmfleet.cli.author", "guest_path", "command"),
}
"""Command name -> (module, attribute, a command function or a sub-app), in help order."""

_app = typer.Typer(
    name="wasmfleet",
    help="Deploy WebAssembly modules across the devices of an IoT fleet.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
_registered: set[str] = set()


@_app.callback()
def _group(
    token_file: Annotated[
        str | None,
        typer.Option(
            "--token-file",
            help="File holding the API token (else WASMFLEET_TOKEN, WASMFLEET_TOKEN_FILE, "
            "the context's, ~/.config/wasmfleet/token).",
        ),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            help="Use this context for the command (else WASMFLEET_CONTEXT, else the "
            "current one: wasmfleet context ls).",
        ),
    ] = None,
) -> None:
    # A callback keeps the app a group whatever is registered: typer runs an app of one
    # command as that command (``wasmfleet version`` registers only ``version``).
    if token_file or context:
        from wasmfleet.cli.client import global_flags

        if token_file:
            global_flags["token_file"] = token_file
        if context:
            global_flags["context"] = context


def version() -> None:
    """Print the wasmfleet version."""
    typer.echo(__version__)


def register(names: list[str] | None = None) -> typer.Typer:
    """Import and add the commands ``names`` (every command when None); the app."""
    for name in names if names is not None else list(COMMANDS):
        if name in _registered:
            continue
        module, attribute, kind = COMMANDS[name]
        try:
            target = getattr(importlib.import_module(module), attribute)
        except ImportError as err:  # a device install lacks the command's extra
            sentence = extras.missing(name, err)
            if sentence is None:
                raise
            stand_in = extras.stand_in(name, sentence)
            _app.command(name=name, context_settings=extras.STAND_IN_SETTINGS)(stand_in)
        else:
            if kind == "group":
                _app.add_typer(target, name=name)
            else:
                _app.command(name=name)(target)
        _registered.add(name)
    if "version" not in _registered:  # last in the help
        _app.command()(version)
        _registered.add("version")
    return _app


def __getattr__(name: str) -> typer.Typer:
    """``app``: the command with every sub-command registered (what tests invoke)."""
    if name == "app":
        return register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def wanted(argv: list[str]) -> list[str] | None:
    """The one command a command line runs, or None when every command is needed."""
    completing = any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ)
    if completing or not argv or argv[0] not in [*COMMANDS, "version"]:
        return None
    return [argv[0]] if argv[0] in COMMANDS else []


PLAIN = frozenset({"supervisor"})
"""Commands that run without typer's parser when their options are plain (cli/plain_args.py):
the long-running device process does not keep pydantic for typer's sake."""


def _run_plain(argv: list[str]) -> bool:
    """Run ``argv`` without typer's parser if it can be; False when typer must handle it."""
    if not argv or argv[0] not in PLAIN or wanted(argv) is None:
        return False
    from wasmfleet.cli.plain_args import plain_options

    module, attribute, _ = COMMANDS[argv[0]]
    command = getattr(importlib.import_module(module), attribute)
    values = plain_options(command, argv[1:])
    if values is None:
        return False
    try:
        command(**values)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    return True


def main() -> None:
    """Entry point of the console script."""
    argv = sys.argv[1:]
    lacking = extras.absent(argv[0]) if argv and "--help" not in argv else None
    if lacking is not None:
        typer.secho(f"error: {lacking}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    try:
        if _run_plain(argv):
            return
        register(wanted(argv))
        _app()
    except ImportError as err:  # a command imports its extra's packages when it runs
        sentence = extras.missing(argv[0], err) if argv else None
        if sentence is None:
            raise
        typer.secho(f"error: {sentence}", fg=typer.colors.RED, err=True)
        sys.exit(2)
