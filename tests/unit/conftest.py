"""Unit-test hygiene: commands run in-process (CliRunner) configure the process's logging;
each test gets the logging it started with back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

_LOGGERS = ("", "wasmfleet", "amqtt")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = [(logging.getLogger(name), list(logging.getLogger(name).handlers)) for name in _LOGGERS]
    levels = [(logger, logger.level) for logger, _ in saved]
    yield
    for logger, handlers in saved:
        for handler in list(logger.handlers):
            if handler not in handlers and getattr(handler, "_wasmfleet_stderr", False):
                logger.removeHandler(handler)
                handler.close()
    for logger, level in levels:
        logger.setLevel(level)
