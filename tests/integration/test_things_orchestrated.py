"""An app install's manifest (core.app_steps) deployed through the orchestrator: the
documents carry things and params, a device-attached thing pins its step, and a reading on
the sensor topic turns the fan on."""

from __future__ import annotations

from pathlib import Path

from tests.integration.fleet import running_fleet
from tests.mqtt import running_mosquitto
from tests.streams_support import Listener, publish, wait_subscribed
from tests.support import wait_until
from wasmfleet.core.app_binding import Binding, bind
from wasmfleet.core.app_steps import install_manifest
from wasmfleet.core.apps import parse_app
from wasmfleet.core.places import parse_thing

APP = {
    "name": "too-warm",
    "parameters": {"threshold": {"type": "float -20..60", "default": 26}, "speed": "int 0..3"},
    "needs": {
        "room_temp": {"sensor": "temperature"},
        "room_fan": {"controller": "fan", "exclusive": True},
        "logic": {"module": "too-warm-logic"},
    },
    "steps": [
        {
            "module": "logic",
            "function": "check",
            "uses": ["room_temp", "room_fan"],
            "trigger": {"topic": "campus/lab-1/temp"},
        }
    ],
}
TEMP = {
    "kind": "sensor",
    "name": "lab-temp",
    "type": "temperature",
    "location": "campus/lab-1",
    "topic": "campus/lab-1/temp",
    "outputs": {"celsius": "float"},
}


def _fan(**via: str) -> dict[str, object]:
    return {
        "kind": "controller",
        "name": "lab-fan",
        "type": "fan",
        "location": "campus/lab-1",
        "inputs": {"speed": "int 0..3"},
        **via,
    }


def test_an_installed_app_runs_where_its_things_are(tmp_path: Path) -> None:
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        devices = (
            ("edge-1", ["--broker", broker.url, "--label", "zone=lab"]),
            ("edge-2", ["--broker", broker.url, "--label", "zone=lab"]),
        )
        (tmp_path / "fleet").mkdir()
        with running_fleet(tmp_path / "fleet", *devices) as fleet:
            fleet.push("too-warm-logic")
            app = parse_app(APP, {"too-warm-logic": [1]})

            # The fan is wired to edge-2: the step is pinned there, whatever placement likes.
            things = [parse_thing(TEMP), parse_thing(_fan(device="edge-2"))]
            binding = bind(app, "campus/lab-1", things)
            assert isinstance(binding, Binding)
            manifest = install_manifest(app, binding, {"speed": 2}, "too-warm-lab-1")
            answer = fleet.http.post("/api/v1/deployments", json=manifest.to_dict())
            assert answer.status_code == 201, answer.text
            dep = answer.json()
            assert [s["device"] for s in dep["plan"]["steps"]] == ["edge-2"]
            doc = fleet.documents(dep["id"])["edge-2"]
            check = doc["instructions"]["modules"]["too-warm-logic"]["check"]
            assert check["things"]["room_fan"] == _fan(device="edge-2")
            assert check["things"]["room_temp"] == TEMP
            assert check["params"] == {"threshold": 26, "speed": 2}

            edge2 = fleet.supervisors["edge-2"]
            wait_subscribed(edge2, "campus/lab-1/temp")
            publish(broker.url, "campus/lab-1/temp", b'{"celsius": 29}')
            seen: dict[str, dict[str, object]] = {}

            def commanded() -> bool:
                seen.update(edge2.get("/api/v1/things").json()["controllers"])
                return "lab-fan" in seen

            assert wait_until(commanded, 15), seen
            fan = seen["lab-fan"]
            assert (fan["last"], fan["count"], fan["via"]) == ({"speed": 2}, 1, "device:edge-2")

            # A second app on a fan reached by topic: placement chooses, the fan topic hears it.
            out = Listener(broker.url, "campus/lab-1/fan")
            try:
                binding = bind(
                    app,
                    "campus/lab-1",
                    [parse_thing(TEMP), parse_thing(_fan(topic="campus/lab-1/fan"))],
                )
                assert isinstance(binding, Binding)
                manifest = install_manifest(app, binding, {"speed": 3, "threshold": 20}, "by-topic")
                answer = fleet.http.post("/api/v1/deployments", json=manifest.to_dict())
                assert answer.status_code == 201, answer.text
                device = answer.json()["plan"]["steps"][0]["device"]
                wait_subscribed(fleet.supervisors[device], "campus/lab-1/temp")
                publish(broker.url, "campus/lab-1/temp", b'{"celsius": 22.5}')
                assert out.wait("campus/lab-1/fan", 1) == [("campus/lab-1/fan", b'{"speed":3}')]
            finally:
                out.close()
