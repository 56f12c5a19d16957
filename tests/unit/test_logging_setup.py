"""Structured stderr logging: extras are rendered in both formats; setup is idempotent."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.supervisor.logging_setup import configure_logging, parse_level
from wasmfleet.supervisor.settings import SupervisorSettings

GUEST = {"deployment": "d1", "wasm_module": "fibo", "stream": "stdout"}


def ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if getattr(h, "_wasmfleet_stderr", False)]


@pytest.fixture(autouse=True)
def restore_wasmfleet_logger() -> Iterator[None]:
    logger = logging.getLogger("wasmfleet")
    level, handlers = logger.level, list(logger.handlers)
    yield
    for handler in ours(logger):
        logger.removeHandler(handler)
    logger.setLevel(level)
    assert logger.handlers == handlers


def test_text_format_renders_message_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(SupervisorSettings(log_format="text", log_level="info"))

    logging.getLogger("wasmfleet.guest").info("hello world", extra=GUEST)
    logging.getLogger("wasmfleet.x").info("spaced", extra={"note": "two words", "n": 3})
    logging.getLogger("wasmfleet.x").debug("below the level")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    time_, level, logger, rest = lines[0].split(maxsplit=3)
    assert "T" in time_ and level == "INFO" and logger == "wasmfleet.guest"
    assert rest == "hello world deployment=d1 wasm_module=fibo stream=stdout"
    assert lines[1].endswith('spaced note="two words" n=3')


def test_json_format_is_one_object_per_line_with_extras(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(SupervisorSettings(log_format="json", log_level="debug"))

    logging.getLogger("wasmfleet.guest").warning("line\nwith newline", extra=GUEST)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("wasmfleet.x").exception("failed", extra={"incident": "abc"})

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    guest, failure = (json.loads(line) for line in lines)
    assert guest["level"] == "warning"
    assert guest["logger"] == "wasmfleet.guest"
    assert guest["message"] == "line\nwith newline"
    assert guest["time"]
    assert {key: guest[key] for key in GUEST} == GUEST
    assert failure["incident"] == "abc"
    assert "ValueError: boom" in failure["exception"]


def test_configuring_twice_does_not_duplicate_output(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(SupervisorSettings(log_format="json"))
    configure_logging(SupervisorSettings(log_format="text"))

    logging.getLogger("wasmfleet.x").warning("once")

    assert len(ours(logging.getLogger("wasmfleet"))) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("once")  # the last call's text format wins


def test_logger_level_lets_through_what_the_shipper_wants() -> None:
    configure_logging(SupervisorSettings(log_level="warning", ship_log_level="debug"))

    assert logging.getLogger("wasmfleet").level == logging.DEBUG
    assert ours(logging.getLogger("wasmfleet"))[0].level == logging.WARNING


def test_parse_level_refuses_unknown_levels() -> None:
    assert parse_level("WARN") == logging.WARNING
    assert parse_level(" info ") == logging.INFO
    with pytest.raises(ConfigurationError, match="log level"):
        parse_level("verbose")
