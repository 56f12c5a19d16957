"""Typer commands whose options are generated from declared settings (service/settings.py).

``settings_command(Settings, run, ...)`` returns a function typer can register: one option
per declared setting (``--flag`` or ``--flag/--no-flag``, repeatable for lists) plus
``--config FILE``. Every option defaults to "not given" so that the loader can fall back to
the environment, then the config file, then the default; its help names the default and the
variable. A bad value exits with status 2 and one sentence, never a traceback.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.settings import Setting, declared, load_settings

T = TypeVar("T")

_CLI_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "bool": bool,
    "path": Path,
    "labels": list[str],
    "nn_models": list[str],
    "paths": list[Path],
    "strings": list[str],
}
_METAVARS = {
    "str": "TEXT",
    "int": "N",
    "float": "X",
    "size": "SIZE",
    "duration": "DURATION",
    "path": "PATH",
    "labels": "KEY=VALUE",
    "nn_models": "NAME=PATH",
    "paths": "FILE",
    "capacity": "KEY=VALUE,...",
    "strings": "TEXT",
}


def option_help(item: Setting) -> str:
    """The option's help: what it does, its default, its variables."""
    return f"{item.help} (default: {item.default_text}; env {', '.join(item.env)})"


def _option(item: Setting) -> inspect.Parameter:
    cli_type = _CLI_TYPES.get(item.kind.name, str)
    decls = [f"{item.flag}/{item.off_flag}"] if item.off_flag else [item.flag]
    metavar = "|".join(item.choices) if item.choices else _METAVARS.get(item.kind.name)
    info = typer.Option(*decls, help=option_help(item), show_default=False, metavar=metavar)
    return inspect.Parameter(
        parameter_name(item),
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[cli_type | None, info],
    )


def parameter_name(item: Setting) -> str:
    """The Python name of the option: the flag's words (``--nn-model`` -> ``nn_model``)."""
    return item.flag.removeprefix("--").replace("-", "_")


def flag_values(cls: type, given: Mapping[str, Any]) -> dict[str, Any]:
    """The command's option values (by parameter name) as flags by field name."""
    fields = {parameter_name(item): item.name for item in declared(cls)}
    return {fields[name]: value for name, value in given.items() if name in fields}


def fail_configuration(err: ConfigurationError) -> typer.Exit:
    """Print ``error: <sentence>`` in red on stderr; the Exit (status 2) to raise."""
    typer.secho(f"error: {err.message}", fg=typer.colors.RED, err=True)
    return typer.Exit(2)


def settings_command(
    cls: type[T], run: Callable[[T], None], *, name: str, doc: str
) -> Callable[..., None]:
    """A typer command: load ``cls`` from its options, the environment and --config; run it."""
    config_env = getattr(cls, "CONFIG_ENV", None)
    config_help = "A TOML file of settings, keys named like the flags without '--'."
    if config_env:
        config_help += f" (env {config_env})"
    config = inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[Path | None, typer.Option(help=config_help, metavar="FILE")],
    )
    names = {parameter_name(item) for item in declared(cls)}
    if "config" in names or len(names) != len(declared(cls)):
        raise TypeError(f"{cls.__name__}: two settings (or one named config) share a flag")
    params = [_option(item) for item in declared(cls)] + [config]

    def command(**given: Any) -> None:
        config_file = given.pop("config", None)
        try:
            run(load_settings(cls, flags=flag_values(cls, given), config=config_file))
        except ConfigurationError as err:
            raise fail_configuration(err) from None

    command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    return command
