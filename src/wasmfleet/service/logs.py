"""Structured logging on stderr for a wasmfleet process and every library it uses.

Two formats, chosen by ``--log-format``:

- ``text``: ``time LEVEL logger message key=value ...`` (logfmt-like; values quoted when needed)
- ``json``: one JSON object per line with ``time``, ``level``, ``logger``, ``message`` and extras

Fields passed with ``extra=`` (for guest output: ``deployment``, ``module``, ``stream``) are
rendered in both formats, and so are ``trace_id`` and ``span_id`` of the call running when the
line was written (service/tracing.py). The handler sits on the root logger, so the lines of uvicorn,
amqtt, SQLAlchemy, zeroconf and paho come out in the same format as ours; libraries speak at
warning and above unless the level is ``debug``. ``configure_logging`` may be called any number
of times; it replaces its own handler instead of adding another one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from typing import Any, TextIO

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.tracing import trace_fields

ROOT_LOGGER = "wasmfleet"
GUEST_LOGGER = "wasmfleet.guest"

_BLANK_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", (), None)
_STANDARD_ATTRS = frozenset(vars(_BLANK_RECORD)) | {"message", "asctime", "taskName"}
_LEVELS = {"debug", "info", "warning", "warn", "error", "critical"}


def parse_level(text: str) -> int:
    """Turn 'info', 'WARNING', ... into a logging level number."""
    lowered = text.strip().lower()
    if lowered not in _LEVELS:
        raise ConfigurationError(
            f"log level must be one of debug, info, warning, error, critical, got {text!r}."
        )
    return logging.WARNING if lowered == "warn" else logging.getLevelNamesMapping()[lowered.upper()]


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller attached to a record with ``extra=``."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


def stamp_trace(record: logging.LogRecord) -> None:
    """Attach the current call's ``trace_id``/``span_id`` to ``record`` (once, if any).

    Handlers call this in ``emit``, which runs in the thread (and context) that logged."""
    if "trace_id" not in vars(record):
        for key, value in trace_fields().items():
            setattr(record, key, value)


def record_time(record: logging.LogRecord) -> str:
    """The record's creation time as local ISO 8601 with milliseconds and offset."""
    return datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")


def _logfmt_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text == "" or any(c in text for c in ' ="\\\n\t'):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message key=value ...`` on one line (tracebacks follow, indented)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a logfmt-like line."""
        stamp_trace(record)
        message = record.getMessage().replace("\n", "\\n")
        parts = [record_time(record), f"{record.levelname:<7}", record.name, message]
        parts += [f"{key}={_logfmt_value(value)}" for key, value in extra_fields(record).items()]
        line = " ".join(parts)
        details = self._details(record)
        if details:
            line += "\n" + "\n".join("    " + row for row in details.splitlines())
        return line

    def _details(self, record: logging.LogRecord) -> str:
        chunks = []
        if record.exc_info:
            chunks.append(self.formatException(record.exc_info))
        elif record.exc_text:
            chunks.append(record.exc_text)
        if record.stack_info:
            chunks.append(self.formatStack(record.stack_info))
        return "\n".join(chunks)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, extras (and ``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record as a single-line JSON object."""
        stamp_trace(record)
        out: dict[str, Any] = {
            "time": record_time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    _wasmfleet_stderr = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


LOG_FORMATS = ("text", "json")
LIBRARY_LEVEL = logging.WARNING
"""What third-party loggers show unless the configured level is lower."""


def configure_logging(
    log_level: str = "info", log_format: str = "text", ship_log_level: str | None = None
) -> None:
    """Send every record at ``log_level`` to stderr as text or json (idempotent).

    ``wasmfleet.*`` records are let through down to ``ship_log_level`` too, for the
    supervisor's log shipper (its own handler filters); other libraries' records are shown
    from ``warning`` up, or from ``log_level`` when that is lower.
    """
    if log_format not in LOG_FORMATS:
        raise ConfigurationError(f"log format must be text or json, got {log_format!r}.")
    level = parse_level(log_level)
    ship_level = parse_level(ship_log_level) if ship_log_level else level
    root = logging.getLogger()
    for logger in (root, logging.getLogger(ROOT_LOGGER)):
        for handler in list(logger.handlers):
            if getattr(handler, "_wasmfleet_stderr", False):
                logger.removeHandler(handler)
                handler.close()
    handler = _StderrHandler()
    handler.setLevel(level)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level if level <= logging.DEBUG else max(level, LIBRARY_LEVEL))
    # The logger lets through what either stderr or the log shipper wants; each handler filters.
    logging.getLogger(ROOT_LOGGER).setLevel(min(level, ship_level))
