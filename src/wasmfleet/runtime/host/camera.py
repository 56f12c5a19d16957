"""Cameras behind one interface: a simulated one serving JPEG files, and OpenCV.

The simulated camera stands in for hardware that is not present (CI machines, laptops);
the OpenCV camera is used when OpenCV is installed and a camera opens. Both return JPEG
bytes, which is all the ``camera.*`` host functions need.
"""

from __future__ import annotations

import itertools
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from wasmfleet.core.errors import ConfigurationError

log = logging.getLogger("wasmfleet.runtime.camera")


class CameraError(RuntimeError):
    """The camera could not produce a frame."""


class Camera(Protocol):
    """Anything that can take a JPEG picture."""

    kind: str

    def capture_jpeg(self) -> bytes:
        """Take one picture and return it JPEG-encoded."""
        ...


def bundled_sample() -> bytes:
    """The sample frame shipped with wasmfleet."""
    return resources.files("wasmfleet").joinpath("assets/sample.jpg").read_bytes()


def bundled_assets() -> Path:
    """The folder of the pictures shipped with wasmfleet (``src/wasmfleet/assets``)."""
    return Path(str(resources.files("wasmfleet").joinpath("assets")))


def bundled_scene() -> Path:
    """The folder of the motion demo's frames shipped with wasmfleet (modules/motion/scene.py:
    a still room and a figure walking through it, eight JPEG frames)."""
    return bundled_assets() / "scene"


class SimulatedCamera:
    """Serves the JPEG files of a folder in name order, round robin (default: the sample)."""

    kind = "simulated"

    def __init__(self, folder: Path | None = None) -> None:
        if folder is None:
            self._frames = [bundled_sample()]
        else:
            files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg"})
            if not files:
                raise ConfigurationError(f"Camera folder {folder} has no .jpg or .jpeg files.")
            self._frames = [p.read_bytes() for p in files]
        self._next = itertools.cycle(range(len(self._frames)))
        self._lock = threading.Lock()

    def capture_jpeg(self) -> bytes:
        """The next frame of the folder."""
        with self._lock:
            return self._frames[next(self._next)]


class OpenCVCamera:
    """A real camera through OpenCV (``pip install wasmfleet[camera]``)."""

    kind = "opencv"

    def __init__(self, index: int = 0) -> None:
        import cv2  # optional dependency: imported only when a real camera is wanted

        self._cv2: Any = cv2
        self._index = index
        self._lock = threading.Lock()

    def capture_jpeg(self) -> bytes:
        """Open the camera, read one frame, encode it as JPEG."""
        cv2 = self._cv2
        with self._lock:
            capture = cv2.VideoCapture(self._index)
            try:
                ok, frame = capture.read()
            finally:
                capture.release()
        if not ok or frame is None:
            raise CameraError(f"camera {self._index} returned no frame")
        ok, encoded = cv2.imencode(".jpg", frame)
        if not ok:
            raise CameraError("OpenCV could not encode the frame as JPEG")
        return bytes(encoded.tobytes())


def opencv_camera_present(index: int) -> bool:
    """True when OpenCV is installed and camera ``index`` opens."""
    try:
        import cv2
    except ImportError:
        return False
    capture = cv2.VideoCapture(index)
    try:
        return bool(capture.isOpened())
    finally:
        capture.release()


def open_camera(mode: str, folder: Path | None, index: int) -> Camera:
    """The camera for ``mode``: 'simulated', 'opencv', or 'auto' (OpenCV if one opens)."""
    if mode == "opencv" or (mode == "auto" and opencv_camera_present(index)):
        try:
            return OpenCVCamera(index)
        except ImportError:
            raise ConfigurationError(
                "camera=opencv needs OpenCV: pip install 'wasmfleet[camera]'."
            ) from None
    camera = SimulatedCamera(folder)
    log.info("using the simulated camera", extra={"folder": str(folder) if folder else "bundled"})
    return camera
