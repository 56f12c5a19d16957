"""An app's sensors, controllers and parameters from Wasm: real supervisors, a real broker,
the too-warm-logic module (wasmfleet.thing_read, thing_send, param)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.mqtt import MosquittoProcess
from tests.streams_support import Start, broker, listen, publish, streams, wait_subscribed
from tests.support import FileServer, SupervisorProcess, readme_body, wait_until

__all__ = ["broker", "listen"]  # fixtures

MODULE = "too-warm-logic"
TEMP_TOPIC = "campus/lab-1/temp"
FAN_TOPIC = "campus/lab-1/fan"


def _sensor(**via: str) -> dict[str, Any]:
    return {
        "kind": "sensor",
        "name": "lab-temp",
        "type": "temperature",
        "location": "campus/lab-1",
        "outputs": {"celsius": "float"},
        **(via or {"topic": TEMP_TOPIC}),
    }


def _fan(**via: str) -> dict[str, Any]:
    return {
        "kind": "controller",
        "name": "lab-fan",
        "type": "fan",
        "location": "campus/lab-1",
        "inputs": {"speed": "int 0..3"},
        **(via or {"topic": FAN_TOPIC}),
    }


def _body(
    files: FileServer,
    dep_id: str,
    things: dict[str, Any] | None,
    params: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    """A deploy body for too-warm-logic's check (and celsius) with things and params."""
    body = readme_body(files, dep_id, MODULE, functions=["check", "celsius"])
    check = body["instructions"]["modules"][MODULE]["check"]
    if things is not None:
        check["things"] = things
    if params is not None:
        check["params"] = params
    check.update(extra)
    return body


def _call(sup: SupervisorProcess, dep_id: str, function: str = "check") -> Any:
    answer = sup.get(f"/{dep_id}/modules/{MODULE}/{function}")
    assert answer.status_code == 200, answer.text
    return json.loads(answer.json()["result"])


def _things(sup: SupervisorProcess) -> dict[str, Any]:
    answer = sup.get("/api/v1/things")
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_a_reading_on_the_sensor_topic_becomes_a_command_on_the_fan_topic(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    fan = listen(f"{FAN_TOPIC}/#", FAN_TOPIC)
    sup = start_supervisor("edge-1", args=["--broker", broker.url])
    things = {"room_temp": _sensor(), "room_fan": _fan()}
    body = _body(files, "too-warm-lab", things, {"threshold": 26, "speed": 2}, trigger=TEMP_TOPIC)
    answer = sup.deploy(body)
    assert answer.status_code == 200, answer.text
    wait_subscribed(sup, TEMP_TOPIC)

    # A simulated thermometer's message: fields other than the outputs are left out.
    publish(broker.url, TEMP_TOPIC, b'{"sensor": "lab-temp", "seq": 1, "celsius": 30.5}')
    assert fan.wait(FAN_TOPIC, 1) == [(FAN_TOPIC, b'{"speed":2}')]
    publish(broker.url, TEMP_TOPIC, b"21")  # a bare number: the sensor's only output
    assert fan.wait(FAN_TOPIC, 2)[1] == (FAN_TOPIC, b'{"speed":0}')
    assert _call(sup, "too-warm-lab", "celsius") == 21.0

    seen = _things(sup)
    assert seen["device"] == "edge-1"
    binding = seen["bindings"][f"too-warm-lab/{MODULE}/check"]
    assert binding["things"]["room_fan"] == _fan()
    assert binding["params"] == {"threshold": 26, "speed": 2}
    assert seen["readings"][TEMP_TOPIC]["count"] == 2
    assert seen["controllers"]["lab-fan"]["count"] == 2
    assert seen["controllers"]["lab-fan"]["last"] == {"speed": 0}
    assert seen["controllers"]["lab-fan"]["via"] == f"topic:{FAN_TOPIC}"
    assert streams(sup)["handled"] == 2 and streams(sup)["failed"] == 0

    # On demand over HTTP, the latest reading (21) is read again: fan off, once more.
    assert _call(sup, "too-warm-lab") == 0
    assert fan.wait(FAN_TOPIC, 3)[2] == (FAN_TOPIC, b'{"speed":0}')

    # Removing the deployment drops the sensor subscription and its readings.
    assert httpx.delete(sup.url + "/deploy/too-warm-lab", timeout=30).status_code == 200
    assert wait_until(lambda: TEMP_TOPIC not in streams(sup)["subscriptions"])
    assert _things(sup)["readings"] == {} and _things(sup)["bindings"] == {}


def test_a_sensor_topic_without_a_trigger_is_subscribed_for_its_latest_reading(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    fan = listen(FAN_TOPIC)
    sup = start_supervisor("edge-2", args=["--broker", broker.url])
    things = {"room_temp": _sensor(), "room_fan": _fan()}
    assert sup.deploy(_body(files, "polled", things, {"speed": 3})).status_code == 200
    wait_subscribed(sup, TEMP_TOPIC)
    assert _call(sup, "polled") == -3  # no reading yet: WASMFLEET_THING_ENOREADING
    publish(broker.url, TEMP_TOPIC, b'{"celsius": 27.5}')
    assert wait_until(lambda: TEMP_TOPIC in _things(sup)["readings"])
    assert _call(sup, "polled") == 3  # above the default threshold 26
    assert fan.wait(FAN_TOPIC, 1) == [(FAN_TOPIC, b'{"speed":3}')]
    assert streams(sup)["unmatched"] == 0  # the reading was wanted, not stray


def test_device_attached_things_use_the_local_drivers(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("edge-1", args=["--dht-temperature", "31"])
    things = {"room_temp": _sensor(device="edge-1"), "room_fan": _fan(device="edge-1")}
    answer = sup.deploy(_body(files, "attached", things, {"threshold": 30, "speed": 1}))
    assert answer.status_code == 200, answer.text
    assert _call(sup, "attached") == 1  # the simulated DHT reads 31 > 30
    assert _call(sup, "attached", "celsius") == 31.0
    fan = _things(sup)["controllers"]["lab-fan"]
    assert fan["last"] == {"speed": 1} and fan["count"] == 1
    assert fan["via"] == "device:edge-1" and fan["by"] == f"attached/{MODULE}/check"
    status = sup.get("/api/v1/status").json()
    assert status["controllers"]["lab-fan"]["count"] == 1


def test_commands_that_do_not_fit_and_unbound_names_are_codes_not_traps(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("edge-1", args=["--dht-temperature", "40"])
    things = {"room_temp": _sensor(device="edge-1"), "room_fan": _fan(device="edge-1")}
    assert sup.deploy(_body(files, "loud", things, {"speed": 9})).status_code == 200
    assert _call(sup, "loud") == -4  # speed 9 is outside the fan's 0..3
    seen = _things(sup)
    assert seen["refused"] == 1 and "lab-fan" not in seen["controllers"]
    # Without things the names are unbound: -1, and the module keeps working.
    assert sup.deploy(_body(files, "bare", None, None)).status_code == 200
    assert _call(sup, "bare") == -1
    assert _call(sup, "loud") == -4


def test_things_this_device_cannot_reach_are_refused_with_a_sentence(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("edge-1")  # no broker
    elsewhere = {"room_temp": _sensor(device="edge-1"), "room_fan": _fan(device="edge-9")}
    answer = sup.deploy(_body(files, "far", elsewhere, {"speed": 1}))
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "room_fan (controller 'lab-fan')" in message
    assert "attached to device 'edge-9', not to this device ('edge-1')" in message
    on_topic = {"room_temp": _sensor(), "room_fan": _fan(device="edge-1")}
    answer = sup.deploy(_body(files, "far", on_topic, {"speed": 1}))
    assert answer.status_code == 422, answer.text
    assert "no MQTT broker" in answer.json()["error"]["message"]
    bad = _body(files, "far", {"room_fan": {"kind": "fan"}}, None)
    answer = sup.deploy(bad)
    assert answer.status_code == 400, answer.text
    assert "things.room_fan" in answer.json()["error"]["message"]
    assert sup.get("/deploy").json() == []
