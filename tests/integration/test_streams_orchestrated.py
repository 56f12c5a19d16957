"""A manifest with MQTT triggers through the orchestrator: placement, documents, the topic hop."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.fleet import running_fleet
from tests.mqtt import running_mosquitto
from tests.streams_support import Listener, publish, streams, wait_subscribed
from tests.support import wait_until


def test_a_topic_pipeline_through_the_orchestrator(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        devices = (
            ("edge", ["--broker", broker.url, "--label", "role=edge"]),
            ("cloud", ["--broker", broker.url, "--label", "role=cloud"]),
            ("plain", ["--label", "role=edge"]),  # no broker: offers no wasmfleet.*
        )
        (tmp_path / "fleet").mkdir()
        with running_fleet(tmp_path / "fleet", *devices) as fleet:
            fleet.push("thermo")
            manifest = {
                "name": "thermo-pipe",
                "steps": [
                    {
                        "module": "thermo",
                        "function": "check",
                        "labels": {"role": "edge"},
                        "trigger": {"topic": "site/+/temperature"},
                        "publish": {"topic": "alerts/temperature"},
                    },
                    {
                        "module": "thermo",
                        "function": "celsius",
                        "labels": {"role": "cloud"},
                        "trigger": "alerts/#",
                        "publish": {"topic": "final/celsius", "qos": 0},
                    },
                ],
            }
            bad = json.loads(json.dumps(manifest))
            bad["steps"][0]["trigger"]["topic"] = "site/#/temperature"
            refused = fleet.http.post("/api/v1/deployments", json=bad)
            assert refused.status_code == 400, refused.text
            assert "steps[0].trigger.topic 'site/#/temperature'" in refused.text

            answer = fleet.http.post("/api/v1/deployments", json=manifest)
            assert answer.status_code == 201, answer.text
            dep = answer.json()
            assert [s["device"] for s in dep["plan"]["steps"]] == ["edge", "cloud"]
            rejected = {r["device"]: r["reason"] for r in dep["plan"]["steps"][0]["rejected"]}
            assert "lacks wasmfleet.message_topic" in rejected["plain"]  # no broker there
            assert dep["manifest"]["steps"][1]["publish"] == {
                "topic": "final/celsius",
                "qos": 0,
                "retain": False,
            }

            documents = fleet.documents(dep["id"])
            check = documents["edge"]["instructions"]["modules"]["thermo"]["check"]
            assert check["to"] is None  # the topic alerts/temperature is the hop
            assert check["trigger"] == {"topic": "site/+/temperature", "qos": 1}
            celsius = documents["cloud"]["instructions"]["modules"]["thermo"]["celsius"]
            assert celsius["trigger"] == {"topic": "alerts/#", "qos": 1}

            edge, cloud = fleet.supervisors["edge"], fleet.supervisors["cloud"]
            wait_subscribed(edge, "site/+/temperature")
            wait_subscribed(cloud, "alerts/#")
            out = Listener(broker.url, "final/#")
            try:
                publish(broker.url, "site/lab/temperature", "36.6")
                assert out.wait("final/", 1) == [("final/celsius", b"36.6")]
            finally:
                out.close()
            assert streams(edge)["handled"] == 1 and streams(cloud)["handled"] == 1
            # Heartbeats carry the counters to the orchestrator (wasmfleet status shows them).
            assert wait_until(
                lambda: (fleet.devices()["edge"].get("streams") or {}).get("handled") == 1,
                timeout=10,
            ), fleet.devices()["edge"]
            assert wait_until(  # each device's next heartbeat: cloud's may come later
                lambda: (fleet.devices()["cloud"].get("streams") or {}).get("published") == 1,
                timeout=10,
            ), fleet.devices()["cloud"]
            assert fleet.devices()["plain"].get("streams") is None  # no broker, no counters


def test_triggered_steps_go_only_to_devices_with_a_broker(tmp_path: Path) -> None:
    # fibo imports nothing from wasmfleet: only the trigger says it needs a broker.
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        (tmp_path / "fleet").mkdir()
        devices = (("plain", []), ("edge", ["--broker", broker.url]))
        with running_fleet(tmp_path / "fleet", *devices) as fleet:
            fleet.push("fibo")
            manifest = {
                "name": "fibo-on-message",
                "steps": [
                    {"module": "fibo", "function": "fibo", "trigger": "numbers/in",
                     "publish": "numbers/out"},
                ],
            }  # fmt: skip
            answer = fleet.http.post("/api/v1/deployments", json=manifest)
            assert answer.status_code == 201, answer.text
            step = answer.json()["plan"]["steps"][0]
            assert step["device"] == "edge"
            rejected = {r["device"]: r["reason"] for r in step["rejected"]}
            assert rejected["plain"] == "plain lacks wasmfleet.publish"
            wait_subscribed(fleet.supervisors["edge"], "numbers/in")
            out = Listener(broker.url, "numbers/out")
            try:
                publish(broker.url, "numbers/in", "10")
                assert out.wait("numbers/", 1) == [("numbers/out", b"55")]
            finally:
                out.close()


def test_publish_trigger_cycles_are_refused_at_deploy_with_the_cycle_named(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        (tmp_path / "fleet").mkdir()
        with running_fleet(tmp_path / "fleet", ("edge", ["--broker", broker.url])) as fleet:
            fleet.push("thermo")
            check = {"module": "thermo", "function": "check", "trigger": "readings/+"}
            celsius = {"module": "thermo", "function": "celsius", "trigger": "alerts/#"}
            looped = {
                "name": "loop",
                "steps": [{**check, "publish": "alerts/x"}, {**celsius, "publish": "readings/x"}],
            }
            refused = fleet.http.post("/api/v1/deployments", json=looped)
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "message_cycle"
            assert error["message"].startswith(
                "Steps form a message cycle: thermo.check publishes to alerts/x, which triggers "
                "thermo.celsius (trigger alerts/#), which publishes to readings/x, which "
                "triggers thermo.check (trigger readings/+);"
            )
            assert fleet.http.get("/api/v1/deployments").json() == []  # nothing stored

            # Across deployments: the first is fine alone, the second closes the loop.
            first = {"name": "checks", "steps": [{**check, "publish": "alerts/x"}]}
            answer = fleet.http.post("/api/v1/deployments", json=first)
            assert answer.status_code == 201, answer.text
            second = {"name": "back", "steps": [{**celsius, "publish": "readings/x"}]}
            refused = fleet.http.post("/api/v1/deployments", json=second)
            assert refused.status_code == 422, refused.text
            message = refused.json()["error"]["message"]
            assert "which triggers thermo.check of deployment 'checks' (trigger readings/+)" in (
                message
            )
            assert message.endswith("or remove deployment 'checks'.")
            # Publishing elsewhere is accepted, and so is re-solving the first one (PUT).
            second["steps"][0]["publish"] = "final/x"
            answer = fleet.http.post("/api/v1/deployments", json=second)
            assert answer.status_code == 201, answer.text
            assert fleet.http.put("/file/manifest/checks", json=first).status_code < 300
            # An update that closes the loop is refused like a new deployment.
            second["steps"][0]["publish"] = "readings/y"
            refused = fleet.http.put("/file/manifest/back", json=second)
            assert refused.status_code == 422, refused.text
            assert "publishes to readings/y, which triggers thermo.check" in refused.text
