"""``--log-level`` and ``--log-format`` for the long-running commands that are not services.

``bridge``, ``sink``, ``broker``, ``sensor simulate``/``controller`` and ``up`` take the same
two options as the supervisor and the orchestrator (env ``WASMFLEET_LOG_LEVEL`` and
``WASMFLEET_LOG_FORMAT``) and configure logging with ``service.logs.configure_logging``: one
handler on the root logger, so paho's, amqtt's and asyncio's lines come out in the same
format as ours. ``say`` prints a command's own progress line on stderr: as it is with
``text``, as a JSON log record with ``json`` (stderr then holds only JSON lines).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.logs import LOG_FORMATS, configure_logging

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
ENV_LEVEL = "WASMFLEET_LOG_LEVEL"
ENV_FORMAT = "WASMFLEET_LOG_FORMAT"

LogLevelOpt = Annotated[
    str,
    typer.Option(
        envvar=ENV_LEVEL,
        help="Log level on stderr: debug, info, warning, error or critical "
        f"(env {ENV_LEVEL}); libraries speak from warning up unless it is debug.",
    ),
]
LogFormatOpt = Annotated[
    str,
    typer.Option(
        envvar=ENV_FORMAT,
        help=f"Log lines on stderr as text or json (env {ENV_FORMAT}).",
    ),
]

_format = "text"
log = logging.getLogger("wasmfleet.cli")


def check_log_options(level: str, log_format: str) -> tuple[str, str]:
    """The options, lower-cased; ConfigurationError naming the flag when one is wrong."""
    level, log_format = level.strip().lower(), log_format.strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigurationError(
            f"--log-level must be debug, info, warning, error or critical, got {level!r}."
        )
    if log_format not in LOG_FORMATS:
        raise ConfigurationError(f"--log-format must be text or json, got {log_format!r}.")
    return level, log_format


def setup_logging(level: str, log_format: str) -> None:
    """Configure stderr logging for this command; exit 2 with a sentence on a bad option."""
    global _format
    try:
        level, log_format = check_log_options(level, log_format)
    except ConfigurationError as err:
        typer.secho(f"error: {err.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    configure_logging(level, log_format)
    _format = log_format


def log_args(level: str, log_format: str) -> list[str]:
    """The same options for a child process's command line."""
    return ["--log-level", level, "--log-format", log_format]


def say(message: str) -> None:
    """A progress line on stderr: plain text, or a JSON record when the format is json."""
    if _format == "json":
        log.info(message)
    else:
        typer.echo(message, err=True)
