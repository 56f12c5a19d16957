"""MQTT triggers and publishing: real supervisors, a real Mosquitto broker, the thermo module."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx

from tests.mqtt import MosquittoProcess
from tests.streams_support import (
    DEAD,
    Listener,
    Start,
    broker,
    listen,
    publish,
    streams,
    thermo,
    wait_subscribed,
)
from tests.support import FileServer, SupervisorProcess, readme_body, wait_until

__all__ = ["broker", "listen"]  # fixtures


def test_trigger_publish_chain_across_two_supervisors(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen("alerts/#", "final/#", "over/#")
    a = start_supervisor("edge", args=["--broker", broker.url])
    b = start_supervisor("cloud", args=["--broker", broker.url])
    check = {
        "trigger": {"topic": "site/+/temperature", "qos": 1},
        "publish": {"topic": "alerts/temperature"},
    }
    over = {"trigger": "readings/json", "publish": {"topic": "over/result", "qos": 0}}
    assert a.deploy(thermo(files, "edge", {"check": check, "over": over})).status_code == 200
    answer = b.deploy(
        thermo(files, "cloud", {"celsius": {"trigger": "alerts/#", "publish": "final/celsius"}})
    )
    assert answer.status_code == 200, answer.text
    wait_subscribed(a, "site/+/temperature", "readings/json")
    wait_subscribed(b, "alerts/#")

    publish(broker.url, "site/lab/temperature", "31.5")
    publish(broker.url, "site/lab/humidity", "99")  # no trigger matches
    publish(broker.url, "site/yard/temperature", "12")  # under the threshold: no output
    publish(broker.url, "site/roof/temperature", b'{"sensor": "r1", "temperature": 40}')
    publish(broker.url, "readings/json", b'{"temperature": 31}')  # execution mount

    alerts = out.wait("alerts/", 2)
    assert [json.loads(p) for _, p in alerts] == [
        {"alert": "over-threshold", "topic": "site/lab/temperature", "celsius": 31.5,
         "threshold": 30},
        {"alert": "over-threshold", "topic": "site/roof/temperature", "celsius": 40,
         "threshold": 30},
    ]  # fmt: skip
    assert out.wait("final/", 2) == [("final/celsius", b"31.5"), ("final/celsius", b"40.0")]
    assert out.wait("over/", 1) == [("over/result", b"1")]

    edge = streams(a)
    assert edge["connected"] is True
    assert edge["received"] == 4 and edge["handled"] == 4 and edge["failed"] == 0
    assert edge["published"] == 3  # two alerts and one "over" result; "12" gave no output
    assert edge["triggers"]["edge/thermo/check"]["input"] == "bytes"
    assert edge["triggers"]["edge/thermo/over"]["input"] == "mount"
    history = a.get("/request-history").json()
    triggered = [e for e in history if e["function_name"] == "check"]
    assert len(triggered) == 3
    assert all(e["method"] == "MQTT" and e["success"] for e in triggered)
    assert triggered[0]["message"]["topic"] == "site/lab/temperature"
    ids = [e["message"]["message_id"] for e in triggered]
    assert len(set(ids)) == len(ids)  # one id per message: a random prefix and a counter
    assert all(re.fullmatch(r"[0-9a-f]{16}-[0-9a-f]+", i) for i in ids), ids
    assert triggered[0]["published_to"] == "alerts/temperature"
    assert triggered[1]["result"] is None  # under the threshold
    assert streams(b)["handled"] == 2


def test_overlapping_wildcards_and_retained_messages_run_once(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    publish(broker.url, "site/r/temperature", "35", retain=True)  # there before any deploy
    out = listen("alerts/#", "celsius/#")
    sup = start_supervisor("ret", args=["--broker", broker.url])
    check = {"trigger": "site/+/temperature", "publish": "alerts/r"}
    assert sup.deploy(thermo(files, "one", {"check": check})).status_code == 200
    [(topic, alert)] = out.wait("alerts/", 1)
    assert topic == "alerts/r"
    assert alert == b'{"alert":"over-threshold","topic":"site/r/temperature","celsius":35,' + (
        b'"threshold":30}'
    )

    # The same deployment again: the subscription stays, the retained message is not rerun.
    assert sup.deploy(thermo(files, "one", {"check": check})).status_code == 200
    # An overlapping trigger: both are served by one subscription to site/#, so a message
    # arrives once; the new trigger sees the retained message, the old one does not again.
    wide = {"trigger": "site/#", "publish": "celsius/all"}
    assert sup.deploy(thermo(files, "two", {"celsius": wide})).status_code == 200
    wait_subscribed(sup, "site/#")
    assert out.wait("celsius/", 1) == [("celsius/all", b"35.0")]
    assert streams(sup)["subscriptions"] == {"site/#": 1}

    publish(broker.url, "site/q/temperature", "33")
    assert out.wait("celsius/", 2)[1] == ("celsius/all", b"33.0")
    assert len(out.wait("alerts/", 2)) == 2
    time.sleep(0.5)  # nothing more comes: each function ran once per message
    assert len(out.on("alerts/")) == 2 and len(out.on("celsius/")) == 2

    # Removing a deployment narrows the subscription again.
    assert sup.get("/deploy").status_code == 200
    assert httpx_delete(sup, "/deploy/two") == 200
    assert wait_until(lambda: streams(sup)["subscriptions"] == {"site/+/temperature": 1})


def httpx_delete(sup: SupervisorProcess, path: str) -> int:
    """DELETE a path of a supervisor; its status code."""
    return httpx.delete(sup.url + path, timeout=30).status_code


def test_malformed_payloads_are_dead_lettered_and_the_stream_flows_on(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen("alerts/#", f"{DEAD}/#", "limits/#")
    sup = start_supervisor("dl", args=["--broker", broker.url])
    routes = {
        "check": {"trigger": "sensors/+/t", "publish": "alerts/x"},
        "celsius": {"trigger": "probe/c"},
        "set_threshold": {"trigger": "config/limit", "publish": "limits/now"},
    }
    assert sup.deploy(thermo(files, "dl", routes)).status_code == 200
    wait_subscribed(sup, "sensors/+/t", "probe/c", "config/limit")

    for payload in ("31", "warm", "40"):
        publish(broker.url, "sensors/s1/t", payload)
    publish(broker.url, "probe/c", "{}")  # celsius traps on it
    publish(broker.url, "config/limit", "cold")  # not a number for set_threshold(f32)
    publish(broker.url, "config/limit", "35")

    alerts = out.wait("alerts/", 2)
    assert [json.loads(p)["celsius"] for _, p in alerts] == [31, 40]
    assert out.wait("limits/", 1) == [("limits/now", b"35.0")]
    letters = {t: json.loads(p) for t, p in out.wait(f"{DEAD}/", 3)}
    assert set(letters) == {
        f"{DEAD}/dl/thermo/check",
        f"{DEAD}/dl/thermo/celsius",
        f"{DEAD}/dl/thermo/set_threshold",
    }
    bad = letters[f"{DEAD}/dl/thermo/check"]
    assert bad["payload"] == "warm" and bad["topic"] == "sensors/s1/t"
    assert bad["error"]["code"] == "rejected" and "error code -1" in bad["error"]["message"]
    assert bad["device"] == "dl" and bad["qos"] == 1
    assert letters[f"{DEAD}/dl/thermo/celsius"]["error"]["code"] == "trap"
    refused = letters[f"{DEAD}/dl/thermo/set_threshold"]
    assert refused["error"]["code"] == "invalid_argument" and refused["payload"] == "cold"

    entry = sup.get(f"/request-history/{bad['request_id']}").json()
    assert entry["success"] is False
    assert entry["message"]["message_id"] == bad["message_id"]
    assert entry["dead_letter_topic"] == f"{DEAD}/dl/thermo/check"
    refusal = sup.get(f"/request-history/{refused['request_id']}").json()
    assert refusal["message"]["message_id"] == refused["message_id"]

    counts = streams(sup)
    assert (counts["received"], counts["handled"]) == (6, 3)
    assert (counts["failed"], counts["dead_lettered"]) == (3, 3)
    assert counts["triggers"]["dl/thermo/check"] == {
        "topic": "sensors/+/t", "qos": 1, "input": "bytes",
        "received": 3, "handled": 2, "failed": 1,
    }  # fmt: skip
    assert counts["triggers"]["dl/thermo/set_threshold"]["input"] == "scalar"


def test_publishing_from_wasm(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen("thermo/#")
    sup = start_supervisor("pub", args=["--broker", broker.url])
    interfaces = sup.get("/.well-known/wasmiot-device-description").json()["wasmfleet"]
    assert {"wasmfleet.publish", "wasmfleet.message_topic"} <= set(interfaces["interfaces"])
    body = thermo(files, "pub", {"annotate": {"trigger": {"topic": "raw/#", "qos": 2}}})
    assert sup.deploy(body).status_code == 200
    wait_subscribed(sup, "raw/#")

    publish(broker.url, "raw/kitchen/1", "22.5")
    assert out.wait("thermo/", 1) == [
        ("thermo/readings", b'{"topic":"raw/kitchen/1","celsius":22.5}')
    ]
    assert wait_until(lambda: streams(sup)["handled"] == 1)
    counts = streams(sup)
    assert counts["guest_published"] == 1 and counts["published"] == 0
    [entry] = [e for e in sup.get("/request-history").json() if e["method"] == "MQTT"]
    assert entry["result"] == "0"  # wasmfleet.publish answered 0 (sent)


def test_http_calls_publish_too_and_numbers_trigger_scalar_functions(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    out = listen("fibo/#")
    sup = start_supervisor("num", args=["--broker", broker.url])
    body = readme_body(files, "n", "fibo")
    body["instructions"]["modules"]["fibo"]["fibo"].update(
        trigger="numbers/+", publish={"topic": "fibo/out", "retain": True}
    )
    assert sup.deploy(body).status_code == 200
    wait_subscribed(sup, "numbers/+")
    call = sup.get("/n/modules/fibo/fibo", params={"iterations": 10})
    assert call.status_code == 200 and call.json()["result"] == "55"
    assert out.wait("fibo/", 1) == [("fibo/out", b"55")]
    publish(broker.url, "numbers/a", " 7\n")
    assert out.wait("fibo/", 2)[1] == ("fibo/out", b"13")
    later = Listener(broker.url, "fibo/out")  # published with retain: a newcomer gets it
    try:
        assert later.wait("fibo/", 1) == [("fibo/out", b"13")]
    finally:
        later.close()


def test_a_supervisor_without_a_broker(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor("nobroker")
    described = sup.get("/.well-known/wasmiot-device-description").json()
    assert "wasmfleet.publish" not in described["wasmfleet"]["interfaces"]
    assert "publish" not in described["supervisorInterfaces"]
    assert "wasmfleet.image_decode" in described["wasmfleet"]["interfaces"]  # needs no broker
    assert streams(sup) == {"broker": None, "triggers": {}}

    body = readme_body(files, "t", "fibo")
    body["instructions"]["modules"]["fibo"]["fibo"]["trigger"] = {"topic": "n/+"}
    answer = sup.deploy(body)
    assert answer.status_code == 422, answer.text
    message = answer.json()["error"]["message"]
    assert "fibo.fibo has a trigger, but this device has no MQTT broker" in message
    assert "--broker" in message

    del body["instructions"]["modules"]["fibo"]["fibo"]["trigger"]
    body["instructions"]["modules"]["fibo"]["fibo"]["publish"] = {"topic": "n/out"}
    assert sup.deploy(body).status_code == 422

    refused = sup.deploy(readme_body(files, "th", "thermo", functions=["threshold"]))
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "missing_imports"
    assert "this device has no MQTT broker" in refused.json()["error"]["message"]
    assert sup.get("/deploy").json() == []


def test_bad_topics_and_untriggerable_functions_are_refused(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess
) -> None:
    sup = start_supervisor("bad", args=["--broker", broker.url])
    body = thermo(files, "b", {"check": {"trigger": "a/#/b"}})
    answer = sup.deploy(body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"] == (
        "instructions.modules.thermo.check.trigger.topic 'a/#/b': '#' must be the last level "
        "(e.g. 'site/#'), but level 2 of 3 is '#'."
    )
    answer = sup.deploy(thermo(files, "b", {"check": {"publish": {"topic": "x/+", "qos": 1}}}))
    assert answer.status_code == 400
    assert "wildcard" in answer.json()["error"]["message"]
    answer = sup.deploy(thermo(files, "b", {"check": {"trigger": {"topic": "x", "qos": 3}}}))
    assert answer.status_code == 400
    assert "trigger.qos must be 0" in answer.json()["error"]["message"]

    fibo = readme_body(files, "f", "fibo")  # fibo(i64) takes a number: triggerable
    fibo["instructions"]["modules"]["fibo"]["fibo"]["trigger"] = "n/+"
    assert sup.deploy(fibo).status_code == 200
    stamp = readme_body(files, "s", "stamp", other=["prefix.txt"])
    stamp["instructions"]["modules"]["stamp"]["stamp"]["trigger"] = "text/in"
    assert sup.deploy(stamp).status_code == 200  # its one execution mount takes the payload
    faults = readme_body(files, "x", "faults", functions=["divide"])
    faults["instructions"]["modules"]["faults"]["divide"]["trigger"] = "n/+"
    answer = sup.deploy(faults)
    assert answer.status_code == 422
    assert "faults.divide (i32, i32) -> (i32) cannot take a message" in answer.text


def test_bridged_messages_keep_their_id_and_lose_their_envelope(
    start_supervisor: Start, files: FileServer, broker: MosquittoProcess, listen: Any
) -> None:
    # What wasmfleet bridge delivers to an MQTT 3.1.1 broker: an envelope around the payload.
    from wasmfleet.messaging.envelope import new_id, wrap

    out = listen("alerts/#", f"{DEAD}/#")
    sup = start_supervisor("env", args=["--broker", broker.url])
    routes = {"check": {"trigger": "bridged/+/t", "publish": "alerts/x"}}
    assert sup.deploy(thermo(files, "env", routes)).status_code == 200
    wait_subscribed(sup, "bridged/+/t")
    good, bad = new_id(), new_id()
    publish(broker.url, "bridged/s1/t", wrap(good, b"33", topic="site/s1/t"))
    publish(broker.url, "bridged/s1/t", wrap(bad, b"warm", topic="site/s1/t"))
    (alert,) = out.wait("alerts/", 1)
    assert json.loads(alert[1])["celsius"] == 33  # the function saw "33", not the envelope
    ((_, letter),) = out.wait(f"{DEAD}/", 1)
    dead = json.loads(letter)
    assert dead["message_id"] == bad and dead["payload"] == "warm"
    handled = [e for e in sup.get("/request-history").json() if e.get("success")]
    assert [e["message"]["message_id"] for e in handled] == [good]
