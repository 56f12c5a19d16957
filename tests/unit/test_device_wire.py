"""The device side of the protocol, written once (core/device_wire.py): the real supervisor and
the simulator build the same bodies, and the orchestrator reads both."""

from __future__ import annotations

from typing import Any

import pytest

from wasmfleet.core.device_wire import (
    Heartbeat,
    HeartbeatVerdict,
    read_heartbeat_answer,
    registration_body,
)
from wasmfleet.core.errors import IllegalTransition, InvalidDocument
from wasmfleet.orchestrator.devices import parse_registration
from wasmfleet.sim.devices import Command, Life, SimDevice, fibonacci_i64
from wasmfleet.supervisor.platform_info import device_description
from wasmfleet.supervisor.registration import registration_body as supervisor_registration
from wasmfleet.supervisor.settings import SupervisorSettings


def shape(value: Any) -> Any:
    """The keys of nested objects, not their values: what must not drift."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    return type(value).__name__ if value is not None else None


def test_a_registration_with_a_path_gives_the_device_url_below_it() -> None:
    body = registration_body("sim-1", 5000, "127.0.0.1", path="/d/sim-1")
    assert parse_registration(body).url == "http://127.0.0.1:5000/d/sim-1"
    whole = parse_registration(registration_body("dev", 5000, "::1"))
    assert whole.url == "http://[::1]:5000"


@pytest.mark.parametrize("path", ["d/x", "/d/../x", "/d?x=1", "/d#x", "/ d", "//"])
def test_a_registration_with_a_bad_path_is_refused_with_a_sentence(path: str) -> None:
    with pytest.raises(InvalidDocument, match=r"properties\.path"):
        parse_registration(registration_body("dev", 5000, "127.0.0.1", path=path))


def test_the_supervisor_and_the_simulator_describe_themselves_alike() -> None:
    settings = SupervisorSettings(name="dev-a", labels={"zone": "lab"})
    real = device_description(settings, ["fd_write"], ["wasi_snapshot_preview1.fd_write"])
    simulated = SimDevice("sim-1", "/d/sim-1", labels={"zone": "lab"}).description(0.5)
    assert shape(simulated)["wasmfleet"] == shape(real)["wasmfleet"]
    assert set(simulated["platform"]) == set(real["platform"])
    assert supervisor_registration(settings).keys() == registration_body("a", 1, "::1").keys()


def test_the_orchestrator_reads_a_simulated_heartbeat() -> None:
    dev = SimDevice("sim-1", "/d/sim-1")
    first = Heartbeat(dev.heartbeat("http://127.0.0.1:1/d/sim-1", 0.5))
    second = dev.heartbeat("http://127.0.0.1:1/d/sim-1", 0.5)
    assert (first.name, first.interval_s, first.deployments) == ("sim-1", 0.5, {})
    assert second["seq"] == 2 and 0 < Heartbeat(second).usage["cpu"] <= 1


@pytest.mark.parametrize(
    ("status", "data", "verdict", "epochs"),
    [
        (200, {"known": True, "epochs": {"a": 3, "b": True, "c": -1, "d": "4"}}, "ack", {"a": 3}),
        (200, {"known": True}, "ack", {}),
        (404, {"known": False}, "unknown", {}),
        (200, {"known": False}, "unknown", {}),
        (500, {"known": True}, "failed", {}),
        (502, None, "failed", {}),
    ],
)
def test_heartbeat_answers_are_read_one_way(
    status: int, data: Any, verdict: str, epochs: dict[str, int]
) -> None:
    reply = read_heartbeat_answer(status, data)
    expected = {"ack": HeartbeatVerdict.ACKNOWLEDGED, "unknown": HeartbeatVerdict.UNKNOWN}
    assert reply.verdict is expected.get(verdict, HeartbeatVerdict.FAILED)
    assert reply.epochs == epochs
    assert bool(reply.reason) == (verdict == "failed")


def test_simulated_fibo_is_the_modules_i64_loop() -> None:
    def loop(n: int) -> int:  # fibo.c, in Python: uint64 sums, read back as int64
        a, b = 0, 1
        for _ in range(n):
            a, b = b, (a + b) % 2**64
        return a - 2**64 if a >= 2**63 else a

    assert [fibonacci_i64(n) for n in range(-1, 8)] == [0, 0, 1, 1, 2, 3, 5, 8, 13]
    assert all(fibonacci_i64(n) == loop(n) for n in (10, 92, 93, 94, 200, 1000))


def test_a_simulated_device_dies_and_revives_by_the_table() -> None:
    dev = SimDevice("sim-1", "/d/sim-1")
    assert dev.command(Command.STALL) is Life.STALLED
    assert dev.command(Command.KILL) is Life.DEAD
    with pytest.raises(IllegalTransition, match="sim-1 is dead"):
        dev.command(Command.STALL)
    assert dev.command(Command.REVIVE) is Life.ALIVE
