"""modules/motion and modules/crops with real wasmtime and Pillow (the publisher is a stub)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.integration.test_runtime_messaging import StubPublisher
from wasmfleet.core.errors import ExecutionFailed
from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.camera import bundled_scene
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.guest import GuestMessage
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits

MODULES = Path(__file__).resolve().parents[2] / "modules"
FRAMES = sorted(bundled_scene().glob("frame-*.jpg"))
FIGURE_X = [30 + 36 * i for i in range(8)]
"""The figure's centre column in each frame (modules/motion/scene.py)."""


@pytest.fixture
def engine() -> Iterator[WasmEngine]:
    eng = WasmEngine(RuntimeLimits(call_timeout_s=5.0, memory_limit_bytes=64 * MiB))
    yield eng
    eng.close()


def instance(engine: WasmEngine, tmp_path: Path, name: str, pub: StubPublisher) -> WasmInstance:
    compiled = engine.compile((MODULES / name / f"{name}.wasm").read_bytes())
    tmp_path.mkdir(parents=True, exist_ok=True)
    devices = HostDevices(None, None, mqtt=pub)
    return WasmInstance(engine, compiled, tmp_path, devices, deployment="d", module=name)


def detect(motion: WasmInstance, frame: bytes, topic: str = "camera/lab/frames") -> Any:
    out = call_with_bytes(motion, "detect", frame, GuestMessage(topic, "m"))
    return None if out is None else json.loads(out)


def test_the_scene_has_eight_frames_of_320_by_240() -> None:
    assert len(FRAMES) == 8
    assert {Image.open(p).size for p in FRAMES} == {(320, 240)}


def test_motion_reports_where_the_figure_walked_with_crops(
    engine: WasmEngine, tmp_path: Path
) -> None:
    motion = instance(engine, tmp_path, "motion", StubPublisher())
    assert detect(motion, FRAMES[0].read_bytes()) is None  # nothing to compare with yet
    for i in range(1, 8):
        report = detect(motion, FRAMES[i].read_bytes())
        assert report["camera"] == "lab" and report["frame"] == i + 1
        assert (report["width"], report["height"]) == (320, 240)
        [obj] = report["objects"]
        # one region covering where the figure was and where it is now
        assert obj["x"] <= FIGURE_X[i - 1] - 14 and obj["x"] + obj["w"] >= FIGURE_X[i] + 14
        # from the head or shoulders (a head as bright as the wall behind it is no change)
        assert 80 <= obj["y"] <= 110 and obj["y"] + obj["h"] >= 200
        crop = Image.open(io.BytesIO(base64.b64decode(obj["jpeg"])))
        assert crop.format == "JPEG" and crop.size == (obj["w"], obj["h"])
    # back to frame 0: the figure left the right edge and reappears at the left
    report = detect(motion, FRAMES[0].read_bytes())
    xs = sorted(o["x"] for o in report["objects"])
    assert len(xs) == 2 and xs[0] < 60 < 200 < xs[1]
    assert motion.call("frames", ()) == 9
    assert motion.call("detections", ()) == 9


def test_a_still_scene_reports_nothing(engine: WasmEngine, tmp_path: Path) -> None:
    motion = instance(engine, tmp_path, "motion", StubPublisher())
    frame = FRAMES[3].read_bytes()
    assert [detect(motion, frame) for _ in range(3)] == [None, None, None]
    assert motion.call("detections", ()) == 0
    assert motion.call("set_threshold", (255,)) == 255
    assert detect(motion, FRAMES[4].read_bytes()) is None  # nothing changes that much
    assert motion.call("set_threshold", (0,)) == 255  # out of range: kept


def test_motion_rejects_what_is_not_an_image(engine: WasmEngine, tmp_path: Path) -> None:
    motion = instance(engine, tmp_path, "motion", StubPublisher())
    for bad in (b"not a jpeg", b"", FRAMES[0].read_bytes()[:300]):
        with pytest.raises(ExecutionFailed) as info:
            detect(motion, bad)
        assert info.value.code == "rejected" and "error code -1" in info.value.message
    assert detect(motion, FRAMES[1].read_bytes()) is None  # still works; first good frame


def test_crops_publishes_each_crop_and_summarizes(engine: WasmEngine, tmp_path: Path) -> None:
    pub = StubPublisher()
    motion = instance(engine, tmp_path / "m", "motion", pub)
    crops = instance(engine, tmp_path / "c", "crops", pub)
    detect(motion, FRAMES[7].read_bytes())
    report_bytes = call_with_bytes(
        motion, "detect", FRAMES[0].read_bytes(), GuestMessage("camera/door/frames", "m")
    )
    report = json.loads(report_bytes)
    assert report["camera"] == "door" and len(report["objects"]) == 2
    out = call_with_bytes(crops, "unpack", report_bytes, GuestMessage("detections/motion", "r"))
    summary = json.loads(out)
    assert summary["camera"] == "door" and summary["stored"] == 2
    assert [(t, q) for t, _, q, _ in pub.sent] == [("store/crops/door", 1)] * 2
    sent = [payload for _, payload, _, _ in pub.sent]
    assert sent == [base64.b64decode(o["jpeg"]) for o in report["objects"]]
    assert summary["bytes"] == sum(len(p) for p in sent)
    for obj, sizes in zip(report["objects"], summary["objects"], strict=True):
        assert (sizes["width"], sizes["height"]) == (obj["w"], obj["h"])
        assert 0 < sizes["brightness"] < 255
    assert crops.call("stored", ()) == 2


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"", -1),
        (b"plain text", -1),
        (b'{"camera":"x","objects":[{"jpeg":"!!!!"}]}', -2),
        (b'{"camera":"x","objects":[{"jpeg":"' + base64.b64encode(b"not jpeg") + b'"}]}', -2),
        (b'{"camera":"x","objects":[]}', -1),
    ],
)
def test_crops_rejects_bad_reports(
    engine: WasmEngine, tmp_path: Path, payload: bytes, code: int
) -> None:
    pub = StubPublisher()
    crops = instance(engine, tmp_path, "crops", pub)
    with pytest.raises(ExecutionFailed) as info:
        call_with_bytes(crops, "unpack", payload, None)
    assert f"error code {code}" in info.value.message
    assert pub.sent == []


def test_crops_reports_a_refused_publication(engine: WasmEngine, tmp_path: Path) -> None:
    motion = instance(engine, tmp_path / "m", "motion", StubPublisher())
    detect(motion, FRAMES[0].read_bytes())
    report = call_with_bytes(
        motion, "detect", FRAMES[1].read_bytes(), GuestMessage("camera/a/f", "m")
    )
    crops = instance(engine, tmp_path / "c", "crops", StubPublisher(answer=-5))  # E_BUSY
    with pytest.raises(ExecutionFailed) as info:
        call_with_bytes(crops, "unpack", report, None)
    assert "error code -3" in info.value.message
