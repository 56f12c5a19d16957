"""Log shipping to a (fake, but real HTTP) orchestrator's /device/logs on loopback."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.integration.fake_orchestrator import FakeOrchestrator, running_orchestrator, unused_port
from wasmfleet.supervisor.logship import LogShipper
from wasmfleet.supervisor.settings import SupervisorSettings

WAIT_S = 10.0
LOGS = "/device/logs"
log = logging.getLogger("wasmfleet.test.logship")


@pytest.fixture(autouse=True)
def wasmfleet_logs_at_debug() -> Iterator[None]:
    """Let every level through the loggers; the shipper's own level decides what ships."""
    loggers = [logging.getLogger(name) for name in ("wasmfleet", "httpx", "httpcore")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in saved:
        lg.setLevel(level)


@pytest.fixture
def orch() -> Iterator[FakeOrchestrator]:
    with running_orchestrator() as fake:
        yield fake


@pytest.fixture
def shippers() -> Iterator[list[LogShipper]]:
    """Shippers made by a test; all stopped and detached afterwards."""
    made: list[LogShipper] = []
    yield made
    root = logging.getLogger()
    for shipper in made:
        root.removeHandler(shipper)
        shipper.stop(timeout=1.0)


def make_shipper(
    made: list[LogShipper], endpoint: str | None, **kwargs: Any
) -> tuple[LogShipper, SupervisorSettings]:
    settings = SupervisorSettings(
        name="dev-a", host="127.0.0.1", port=5123, log_endpoint=endpoint, ship_log_level="info"
    )
    shipper = LogShipper(settings, **kwargs)
    made.append(shipper)
    return shipper, settings


def shipped(orch: FakeOrchestrator) -> list[dict[str, Any]]:
    return [json.loads(r.form["logData"]) for r in orch.requests_to(LOGS, "POST")]


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def log_many(level: int, count: int) -> None:
    for i in range(count):
        log.log(level, "record %d", i)


def test_records_arrive_as_form_field_logData(
    orch: FakeOrchestrator, shippers: list[LogShipper]
) -> None:
    shipper, _ = make_shipper(shippers, orch.url + LOGS)
    shipper.start()

    log.debug("below the shipping level")
    # ``module`` is a LogRecord attribute, so guests are named by ``wasm_module``.
    guest = {"deployment": "d1", "wasm_module": "fibo", "stream": "stdout"}
    log.info("guest said %s", "hi", extra=guest)
    log.warning("the marker")

    assert orch.wait_for(lambda: len(orch.requests_to(LOGS)) >= 2, WAIT_S)
    first, marker = shipped(orch)  # FIFO: had the debug record been queued it would come first
    assert marker["message"] == "the marker"
    assert first["message"] == "guest said hi"
    assert first["levelname"] == "INFO"
    assert first["moduleName"] == "test_logship"
    assert first["funcName"] == "test_records_arrive_as_form_field_logData"
    assert first["deviceName"] == "dev-a"
    assert first["deviceIP"] == "127.0.0.1"
    assert {key: first[key] for key in guest} == guest
    assert first["timestamp"] and first["loggingTime"]
    assert wait_until(lambda: shipper.stats()["shipped"] == 2)  # counted after the answer


def test_emit_never_blocks_when_the_endpoint_is_down(shippers: list[LogShipper]) -> None:
    shipper, _ = make_shipper(shippers, f"http://127.0.0.1:{unused_port()}{LOGS}")
    shipper.start()

    caller = threading.Thread(target=log_many, args=(logging.ERROR, 200))
    caller.start()
    caller.join(WAIT_S)

    assert not caller.is_alive(), "logging blocked while the log endpoint refuses connections"
    assert wait_until(lambda: shipper.stats()["failed"] >= 1)
    stats = shipper.stats()
    assert stats["shipped"] == 0
    # One refused post backs the endpoint off; the rest wait in the queue instead of failing.
    assert stats["failed"] + stats["queued"] + stats["in_flight"] + stats["dropped"] == 200


def test_emit_never_blocks_when_the_endpoint_hangs(shippers: list[LogShipper]) -> None:
    # A socket that accepts connections (kernel backlog) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}{LOGS}"
        shipper, _ = make_shipper(shippers, url, client_factory=lambda: httpx.Client(timeout=30.0))
        shipper.start()

        caller = threading.Thread(target=log_many, args=(logging.INFO, 100))
        caller.start()
        caller.join(WAIT_S)

        assert not caller.is_alive(), "logging blocked behind a hanging log endpoint"
        stats = shipper.stats()
        assert stats["shipped"] == 0
        assert stats["queued"] >= 99  # at most one record is in flight
        shipper.stop(timeout=0.2)  # returns although a post is stuck


def test_queue_overflow_drops_the_oldest(
    orch: FakeOrchestrator, shippers: list[LogShipper]
) -> None:
    shipper, _ = make_shipper(shippers, orch.url + LOGS, queue_size=5)
    logging.getLogger("wasmfleet").addHandler(shipper)  # attached, but not shipping yet

    for i in range(12):
        log.info("record %d", i)

    assert shipper.stats()["dropped"] == 7
    assert shipper.stats()["queued"] == 5
    shipper.start()
    assert orch.wait_for(lambda: len(orch.requests_to(LOGS)) >= 5, WAIT_S)
    assert [r["message"] for r in shipped(orch)] == [f"record {i}" for i in range(7, 12)]


def test_set_endpoint_switches_and_turns_off(
    orch: FakeOrchestrator, shippers: list[LogShipper]
) -> None:
    shipper, _ = make_shipper(shippers, orch.url + LOGS)
    shipper.start()
    log.info("to the first")
    assert orch.wait_for(lambda: len(orch.requests_to(LOGS)) >= 1, WAIT_S)

    with running_orchestrator() as other:
        shipper.set_endpoint(other.url + LOGS)
        log.info("to the second")
        assert other.wait_for(lambda: len(other.requests_to(LOGS)) >= 1, WAIT_S)
        assert [r["message"] for r in shipped(other)] == ["to the second"]

        shipper.set_endpoint(None)
        log.info("to nobody")
        assert shipper.stats()["queued"] == 0

        shipper.follow_orchestrator(other.url)  # ignored: an endpoint was configured
        assert shipper.endpoint is None

    assert [r["message"] for r in shipped(orch)] == ["to the first"]


def test_follows_the_orchestrator_set_at_run_time(
    orch: FakeOrchestrator, shippers: list[LogShipper]
) -> None:
    settings = SupervisorSettings(name="dev-a", host="127.0.0.1", orchestrator_url=orch.url)
    shipper = LogShipper(settings)
    shippers.append(shipper)
    assert shipper.endpoint == orch.url + LOGS
    shipper.start()

    with running_orchestrator() as other:
        shipper.follow_orchestrator(other.url + "/")
        log.info("follows the orchestrator")
        assert other.wait_for(lambda: len(other.requests_to(LOGS)) >= 1, WAIT_S)
        assert [r["message"] for r in shipped(other)] == ["follows the orchestrator"]
    assert shipped(orch) == []


def test_never_ships_httpx_or_its_own_records(
    orch: FakeOrchestrator, shippers: list[LogShipper]
) -> None:
    shipper, _ = make_shipper(shippers, orch.url + LOGS)
    # On the root logger, as a careless setup might do: httpx records then reach it too.
    shipper.start(logger=logging.getLogger())
    orch.fail(503, times=1)  # the shipper logs a warning about this failure

    log.info("first")  # fails with 503; the endpoint is backed off for a second
    log.info("second")
    logging.getLogger("somelib").warning("not ours")

    assert orch.wait_for(lambda: len(orch.requests_to(LOGS)) >= 2, WAIT_S)
    assert wait_until(lambda: shipper.stats()["shipped"] == 1)  # counted after the answer
    time.sleep(0.3)  # room for a feedback record to arrive (none may)
    records = shipped(orch)
    assert [r["message"] for r in records] == ["first", "second"]
    assert all(r["logger"] == "wasmfleet.test.logship" for r in records)
    assert shipper.stats()["failed"] == 1
