"""Device profiles: which host interfaces a supervisor offers, the capacity it declares, and a
camera -> imginfo pipeline across a device with a camera and one without."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import httpx
import psutil

from tests.support import FileServer, SupervisorProcess, readme_body
from wasmfleet.runtime.engine import FuncSignature, ImportSpec
from wasmfleet.runtime.host.camera import bundled_sample
from wasmfleet.runtime.host.registry import missing_imports, offered_interfaces

Start = Callable[..., SupervisorProcess]
DESCRIPTION = "/.well-known/wasmiot-device-description"
CAMERA_FUNCTIONS = {"takeImageDynamicSize", "takeImageStaticSize"}
DHT_FUNCTIONS = {"getTemperature", "getHumidity"}
MiB = 1024 * 1024


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's SOF0/SOF1/SOF2 frame header (Pillow is not required)."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    pos = 2
    while pos + 4 <= len(data):
        assert data[pos] == 0xFF, f"no marker at {pos}"
        while data[pos] == 0xFF:
            pos += 1
        marker = data[pos]
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[pos + 4 : pos + 6], "big")
            width = int.from_bytes(data[pos + 6 : pos + 8], "big")
            return width, height
        assert marker not in (0xD9, 0xDA), "no frame header before the scan"
        pos += 1 + length
    raise AssertionError("no frame header")


def interfaces(sup: SupervisorProcess) -> tuple[dict[str, Any], set[str], set[str]]:
    """The device description, its bare and its qualified interface names."""
    described = sup.get(DESCRIPTION).json()
    return (
        described,
        set(described["supervisorInterfaces"]),
        set(described["wasmfleet"]["interfaces"]),
    )


def test_registry_leaves_out_disabled_import_modules() -> None:
    bare, qualified = offered_interfaces(frozenset({"camera"}))
    assert not CAMERA_FUNCTIONS & set(bare)
    assert "dht.getTemperature" in qualified and "sys.millis" in qualified
    assert not [name for name in qualified if name.startswith("camera.")]
    take = ImportSpec("camera", "takeImageDynamicSize", "func", FuncSignature(("i32", "i32"), ()))
    millis = ImportSpec("sys", "millis", "func", FuncSignature((), ("i32",)))
    assert missing_imports((take, millis)) == []
    (missing,) = missing_imports((take, millis), frozenset({"camera", "dht"}))
    assert missing.startswith("camera.takeImageDynamicSize (i32, i32) -> ()")
    assert "this device has no camera" in missing


def test_supervisor_without_camera_and_sensors(start_supervisor: Start, files: FileServer) -> None:
    sup = start_supervisor(
        "gateway-less",
        args=[
            *("--camera", "none", "--sensors", "none"),
            *("--capacity", "cores=2,memory=512MiB,accelerator=50"),
        ],
    )
    described, bare, qualified = interfaces(sup)
    assert not (CAMERA_FUNCTIONS | DHT_FUNCTIONS) & bare
    assert not [n for n in qualified if n.startswith(("camera.", "dht."))], qualified
    assert {"millis", "fd_write"} <= bare
    assert {"sys.millis", "communication.rpcCall", "wasi_snapshot_preview1.fd_write"} <= qualified
    assert described["wasmfleet"]["capacity"] == {
        "cores": [1000, 1000],
        "memory_mb": 512,
        "accelerator_pct": 50,
    }
    assert sup.get("/api/v1/status").json()["camera"] == "none"

    refused = sup.deploy(readme_body(files, "cam", "camera"))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "missing_imports"
    assert "camera.takeImageDynamicSize" in error["message"]
    assert "Deploy it to a device that has them" in error["message"]
    assert {m.split()[0] for m in error["missing"]} == {
        "camera.takeImageDynamicSize",
        "camera.takeImageStaticSize",
    }
    refused = sup.deploy(readme_body(files, "sens", "sensors"))
    assert refused.status_code == 422, refused.text
    assert "dht.getTemperature" in refused.json()["error"]["message"]
    assert sup.get("/deploy").json() == []  # nothing half-installed

    # Modules that need neither still deploy and run.
    assert sup.deploy(readme_body(files, "f", "fibo")).status_code == 200
    assert sup.get("/f/modules/fibo/fibo?iterations=7").json()["result"] == "13"


def test_default_supervisor_offers_camera_and_sensors(
    start_supervisor: Start, files: FileServer
) -> None:
    sup = start_supervisor("gateway")
    described, bare, qualified = interfaces(sup)
    assert bare >= CAMERA_FUNCTIONS | DHT_FUNCTIONS
    assert {"camera.takeImageDynamicSize", "dht.getTemperature", "dht.getHumidity"} <= qualified
    assert described["wasmfleet"]["capacity"] == {
        "cores": [1000] * (os.cpu_count() or 1),
        "memory_mb": psutil.virtual_memory().total // MiB,
        "accelerator_pct": 0,
    }
    assert sup.deploy(readme_body(files, "s", "sensors")).status_code == 200
    assert sup.get("/s/modules/sensors/temperature").json()["result"] == "21.5"


def _endpoint(
    url: str, module: str, function: str, method: str, mounts: dict[str, list[dict[str, str]]]
) -> dict[str, Any]:
    """An orchestrator-shape endpoint of a parameterless function with file mounts."""
    execution = [m["path"] for m in mounts["execution"]]
    request: dict[str, Any] = {"parameters": []}
    if execution:
        request["request_body"] = {
            "media_type": "multipart/form-data",
            "schema": {"type": "object", "properties": {n: {"type": "string"} for n in execution}},
            "encoding": {m["path"]: {"contentType": m["media_type"]} for m in mounts["execution"]},
        }
    output = mounts["output"]
    response = (
        {"media_type": output[0]["media_type"], "schema": {"type": "string"}}
        if output
        else {"media_type": "application/json", "schema": {"type": "integer"}}
    )
    return {
        "url": url,
        "path": f"/{{deployment}}/modules/{module}/{function}",
        "method": method,
        "request": request,
        "response": response,
    }


def orchestrator_body(
    files: FileServer,
    dep_id: str,
    module: str,
    function: str,
    method: str,
    mounts: dict[str, list[dict[str, str]]],
    url: str,
    to: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One function of an example module deployed in the shape the orchestrator sends."""
    endpoint = _endpoint(url, module, function, method, mounts)
    return {
        "deploymentId": dep_id,
        "modules": [
            {
                "id": f"m-{module}",
                "name": module,
                "urls": {
                    "binary": files.url(f"{module}/{module}.wasm"),
                    "description": files.url(f"{module}/description.json"),
                    "other": {},
                },
            }
        ],
        "endpoints": {module: {function: endpoint}},
        "instructions": {"modules": {module: {function: {"from": endpoint, "to": to}}}},
        "mounts": {module: {function: mounts}},
    }


CAMERA_MOUNTS = {
    "deployment": [],
    "execution": [],
    "output": [{"path": "image.jpeg", "media_type": "image/jpeg", "stage": "output"}],
}
IMGINFO_MOUNTS = {
    "deployment": [],
    "execution": [{"path": "image.jpg", "media_type": "image/jpeg", "stage": "execution"}],
    "output": [],
}


def test_camera_picture_is_measured_on_a_device_without_camera(
    start_supervisor: Start, files: FileServer
) -> None:
    edge = start_supervisor("edge", args=["--camera", "none", "--sensors", "none"])
    gateway = start_supervisor("camgw", args=["--camera", "simulated"])
    width, height = jpeg_size(bundled_sample())

    imginfo = orchestrator_body(
        files, "demo", "imginfo", "pixels", "POST", IMGINFO_MOUNTS, edge.url
    )
    answer = edge.deploy(imginfo)
    assert answer.status_code == 200, answer.text
    to = imginfo["endpoints"]["imginfo"]["pixels"]
    camera = orchestrator_body(
        files, "demo", "camera", "take_image", "GET", CAMERA_MOUNTS, gateway.url, to=to
    )
    assert edge.deploy(camera).status_code == 422  # the edge box has no camera
    answer = gateway.deploy(camera)
    assert answer.status_code == 200, answer.text

    # The picture alone, uploaded straight to imginfo on the edge box.
    assert edge.deploy(readme_body(files, "size", "imginfo")).status_code == 200
    sample = {"image.jpg": ("image.jpg", bundled_sample(), "image/jpeg")}
    for function, expected in (("pixels", width * height), ("width", width), ("height", height)):
        direct = edge.post(f"/size/modules/imginfo/{function}", files=sample)
        assert direct.status_code == 200, direct.text
        assert direct.json()["result"] == str(expected)
    not_jpeg = {"image.jpg": ("image.jpg", b"GIF89a", "image/gif")}
    assert edge.post("/size/modules/imginfo/pixels", files=not_jpeg).json()["result"] == "-2"

    call = gateway.get("/demo/modules/camera/take_image")
    assert call.status_code == 200, call.text
    assert call.json()["result"] == str(width * height) == "76800"

    first = httpx.get(call.json()["resultUrl"], timeout=10).json()
    assert first["success"] is True
    assert first["result"] == str(width * height)
    assert first["step_result"] == f"{gateway.url}/demo/modules/camera/take_image/image.jpeg"
    assert httpx.get(first["step_result"], timeout=10).content == bundled_sample()
    assert isinstance(first["step_ms"], float) and 0 <= first["step_ms"] <= first["duration_ms"]
    assert first["next_result_url"].startswith(edge.url)

    last = httpx.get(first["next_result_url"], timeout=10).json()
    assert last["result"] == last["step_result"] == str(width * height)
    assert last["request_files"] == {"image.jpg": "image.jpg"}
    assert isinstance(last["step_ms"], float) and last["step_ms"] >= 0
