"""Structured stderr logging: extras are rendered in both formats; setup is idempotent;
libraries' records come out in the same format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.service.logs import configure_logging, parse_level

GUEST = {"deployment": "d1", "wasm_module": "fibo", "stream": "stdout"}


def ours(logger: logging.Logger) -> list[logging.Handler]:
    return [h for h in logger.handlers if getattr(h, "_wasmfleet_stderr", False)]


@pytest.fixture(autouse=True)
def restore_loggers() -> Iterator[None]:
    root, logger = logging.getLogger(), logging.getLogger("wasmfleet")
    saved = [(each, each.level, list(each.handlers)) for each in (root, logger)]
    yield
    for each, level, handlers in saved:
        for handler in ours(each):
            each.removeHandler(handler)
        each.setLevel(level)
        assert each.handlers == handlers


def test_text_format_renders_message_and_extras(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", log_level="info")

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
    configure_logging(log_format="json", log_level="debug")

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
    configure_logging(log_format="json")
    configure_logging(log_format="text")

    logging.getLogger("wasmfleet.x").warning("once")

    assert len(ours(logging.getLogger())) == 1
    assert not ours(logging.getLogger("wasmfleet"))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("once")  # the last call's text format wins


def test_logger_level_lets_through_what_the_shipper_wants() -> None:
    configure_logging(log_level="warning", ship_log_level="debug")

    assert logging.getLogger("wasmfleet").level == logging.DEBUG
    assert ours(logging.getLogger())[0].level == logging.WARNING


def test_library_records_share_the_format_and_stay_quiet_below_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(log_format="json", log_level="info")

    logging.getLogger("uvicorn.error").warning("port in use")
    logging.getLogger("sqlalchemy.engine").info("a statement")  # below warning: not shown
    logging.getLogger("wasmfleet.x").info("ours")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("uvicorn.error", "port in use"),
        ("wasmfleet.x", "ours"),
    ]


def test_debug_shows_library_debug_records_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(log_format="text", log_level="debug")

    logging.getLogger("some_library.worker").debug("a packet")  # a logger no test configures

    assert "some_library.worker a packet" in capsys.readouterr().err


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="text or json"):
        configure_logging(log_level="info", log_format="xml")


def test_parse_level_refuses_unknown_levels() -> None:
    assert parse_level("WARN") == logging.WARNING
    assert parse_level(" info ") == logging.INFO
    with pytest.raises(ConfigurationError, match="log level"):
        parse_level("verbose")
