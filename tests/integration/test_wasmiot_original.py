"""Mixed fleets against the REAL original wasmiot supervisor (optional).

Runs only when ``WASMIOT_SUPERVISOR_DIR`` (a checkout of LiquidAI-project/wasmiot-supervisor,
commit bd31c95) and ``WASMIOT_SUPERVISOR_PYTHON`` (the python of a venv with its
requirements) are set; skipped otherwise with the reason. On loopback: our orchestrator,
one wasmfleet supervisor (simulated camera) and the original (its camera a JPEG file,
tests/wasmiot_launch.py), which registers itself. The wasmiot user flow (upload, describe
with bracket fields, ``sequence`` manifest, deploy), then ``wasmfleet exec`` of two-step
pipelines in both directions, scalar and file results; placement refusing the original
what it cannot do; removal. Without the original, tests/unit/test_wasmiot_contract.py and
tests/integration/test_wasmiot_replay.py check the same contract from recorded answers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fleet import Fleet
from tests.support import MODULES, wait_until
from tests.wasmiot_original import OriginalSupervisor, original_paths

FOUND = original_paths()
pytestmark = pytest.mark.skipif(isinstance(FOUND, str), reason=str(FOUND))
DESCRIBED = {
    "fibo": {"fibo[method]": "GET", "fibo[param0]": "integer", "fibo[output]": "integer"},
    "camera": {
        "take_image[method]": "GET",
        "take_image[output]": "image/jpeg",
        "take_image[mounts][0][name]": "image.jpeg",
        "take_image[mounts][0][stage]": "output",
    },
    "imginfo": {
        "pixels[method]": "POST",
        "pixels[output]": "integer",
        "pixels[mounts][0][name]": "image.jpg",
        "pixels[mounts][0][stage]": "execution",
        "pixels[mounts][0][media_type]": "image/jpeg",
    },
}


class Mixed:
    """The running fleet, the original, and the wasmiot ids of devices and modules."""

    def __init__(self, fleet: Fleet, original: OriginalSupervisor) -> None:
        self.fleet = fleet
        self.original = original
        self.devices = {d["name"]: d["_id"] for d in fleet.http.get("/file/device").json()}
        self.modules: dict[str, str] = {}

    def upload(self, name: str) -> str:
        """The wasmiot GUI's way: POST /file/module, then /upload with bracket fields."""
        wasm = (MODULES / name / f"{name}.wasm").read_bytes()
        created = self.fleet.http.post(
            "/file/module",
            data={"name": name},
            files={"module": (f"{name}.wasm", wasm, "application/wasm")},
        )
        assert created.status_code == 201, created.text
        module_id: str = created.json()["id"]
        described = self.fleet.http.post(f"/file/module/{module_id}/upload", data=DESCRIBED[name])
        assert described.status_code == 200, described.text
        self.modules[name] = module_id
        return module_id

    def deploy(self, name: str, sequence: list[tuple[str, str, str]]) -> str:
        """POST a wasmiot manifest and deploy it; its id."""
        manifest = {
            "name": name,
            "sequence": [
                {"device": self.devices[d], "module": self.modules[m], "func": f}
                for d, m, f in sequence
            ],
        }
        created = self.fleet.http.post("/file/manifest", json=manifest)
        assert created.status_code == 201, created.text
        deployment_id: str = created.json()
        deployed = self.fleet.http.post(f"/file/manifest/{deployment_id}")
        assert deployed.status_code == 200, deployed.text
        return deployment_id

    def exec(self, name: str, *args: str) -> tuple[dict[str, Any], str]:
        """``wasmfleet exec`` as a user runs it: its JSON answer, and its table."""
        command = [sys.executable, "-m", "wasmfleet", "exec", name, *args]
        command += ["--orchestrator", self.fleet.url]
        shown = subprocess.run(
            [*command, "-o", "json"], capture_output=True, text=True, timeout=120, check=False
        )
        assert shown.returncode == 0, shown.stdout + shown.stderr
        table = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert table.returncode == 0, table.stdout + table.stderr
        answer: dict[str, Any] = json.loads(shown.stdout)
        return answer, table.stdout


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mixed]:
    assert not isinstance(FOUND, str)
    src, python = FOUND
    root = tmp_path_factory.mktemp("mixed")
    fleet = Fleet(root)
    original = OriginalSupervisor(
        src,
        python,
        root,
        logs_to=fleet.url + "/device/logs",
        orchestrator=fleet.url,  # it registers itself, as its README says
    )
    try:
        fleet.orchestrator.start()
        fleet.start_supervisor("ours", "--camera", "simulated")
        original.start()
        fleet.wait_active("ours", "orig", timeout=60.0)
        mixed = Mixed(fleet, original)
        for name in DESCRIBED:
            mixed.upload(name)
        yield mixed
    finally:
        original.stop()
        fleet.stop()


def _steps(answer: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(s["device"], f"{s['module']}.{s['function']}", s["result"]) for s in answer["steps"]]


@pytest.mark.parametrize(
    ("first", "second"), [("orig", "ours"), ("ours", "orig")], ids=["orig-to-ours", "ours-to-orig"]
)
def test_a_scalar_pipeline_across_the_two_dialects(mixed: Mixed, first: str, second: str) -> None:
    # fibo -> fibo: the same function in two steps, on different devices
    name = f"fibo-{first}-{second}"
    mixed.deploy(name, [(first, "fibo", "fibo"), (second, "fibo", "fibo")])
    answer, table = mixed.exec(name, "param0=7")
    assert answer["success"] and answer["result"] == "233"  # fibo(fibo(7)) = fibo(13)
    assert _steps(answer) == [(first, "fibo.fibo", "13"), (second, "fibo.fibo", "233")]
    for device in (first, second):
        assert device in table
    assert "fibo.fibo" in table and "233" in table


@pytest.mark.parametrize(
    ("camera", "reader", "pixels"),
    [("orig", "ours", "60000"), ("ours", "orig", "76800")],
    ids=["orig-camera-to-ours", "ours-camera-to-orig"],
)
def test_a_picture_crosses_the_two_dialects(
    mixed: Mixed, camera: str, reader: str, pixels: str
) -> None:
    # The original's camera sees tests/data/coffee.jpg (300 x 200); ours is simulated
    # (320 x 240). The picture goes on as a file; the result is its pixel count.
    name = f"camera-{camera}-{reader}"
    deployment_id = mixed.deploy(
        name, [(camera, "camera", "take_image"), (reader, "imginfo", "pixels")]
    )
    answer, table = mixed.exec(name)
    assert answer["success"] and answer["result"] == pixels
    (taken, counted) = _steps(answer)
    assert taken[:2] == (camera, "camera.take_image")
    assert taken[2].endswith(f"/{deployment_id}/modules/camera/take_image/image.jpeg")
    assert counted == (reader, "imginfo.pixels", pixels)
    assert "camera.take_image" in table and "imginfo.pixels" in table
    picture = mixed.fleet.http.get(taken[2])
    assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"


def test_placement_refuses_the_original_what_it_cannot_do(mixed: Mixed) -> None:
    manifest = {
        "name": "stateful-on-orig",
        "steps": [{"module": "fibo", "function": "fibo", "device": "orig", "stateful": True}],
    }
    refused = mixed.fleet.http.post("/api/v1/deployments", json=manifest)
    assert refused.status_code == 422, refused.text
    reasons = refused.json()["error"]["reasons"]
    assert reasons["orig"] == (
        "orig is an original wasmiot supervisor, which cannot hold a fencing lease (stateful: true)"
    )
    # Left to the solver, the stateful step goes to the wasmfleet supervisor.
    manifest = {"name": "stateful-anywhere", "steps": [{**manifest["steps"][0], "device": None}]}
    placed = mixed.fleet.http.post("/api/v1/deployments", json=manifest)
    assert placed.status_code == 201, placed.text
    assert [s["device"] for s in placed.json()["plan"]["steps"]] == ["ours"]


def test_a_repeated_function_is_refused_only_on_one_device(mixed: Mixed) -> None:
    manifest = {
        "name": "fibo-twice-on-orig",
        "sequence": [
            {"device": mixed.devices["orig"], "module": mixed.modules["fibo"], "func": "fibo"},
            {"device": mixed.devices["orig"], "module": mixed.modules["fibo"], "func": "fibo"},
        ],
    }
    refused = mixed.fleet.http.post("/file/manifest", json=manifest)
    assert refused.status_code == 422, refused.text
    assert "orig already serves fibo.fibo for step 1:fibo.fibo" in refused.text


def test_removing_a_deployment_removes_it_from_the_original(mixed: Mixed) -> None:
    deployment_id = mixed.deploy("fibo-removed", [("orig", "fibo", "fibo")])
    call = f"{mixed.original.url}/{deployment_id}/modules/fibo/fibo"
    assert mixed.fleet.http.get(call, params={"param0": 3}).status_code == 200
    removed = mixed.fleet.http.delete(f"/api/v1/deployments/{deployment_id}")
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"]["orig"] == {"ok": True, "message": "removed"}
    assert wait_until(lambda: mixed.fleet.http.get(call, params={"param0": 3}).status_code == 404)


def test_the_original_logs_reach_the_orchestrator(mixed: Mixed) -> None:
    # Its log lines must be answered 200, or its worker thread dies on the next line.
    logs = mixed.fleet.http.get("/device/logs").json()
    assert any("orig" in json.dumps(entry) for entry in logs), logs[-3:]


def test_it_is_recognised_as_an_original(mixed: Mixed) -> None:
    described = mixed.fleet.http.get(f"{mixed.original.url}/.well-known/wasmiot-device-description")
    assert "wasmfleet" not in described.json()
    devices = {d["name"]: d for d in mixed.fleet.http.get("/api/v1/devices").json()}
    assert devices["orig"]["status"] == "active" and devices["ours"]["status"] == "active"
    assert Path(mixed.original.log_path).exists()
