"""The simulated device ``wasmfleet run`` gives a module: the supervisor's host functions
(runtime/host/) over stand-ins for hardware and services.

- camera: the JPEG file given (``--camera``; a folder of JPEGs is served round robin, as a
  supervisor's ``--camera-dir``), else the bundled sample, as a supervisor's simulated camera;
- DHT sensor: ``SimulatedDht`` with the given temperature and humidity;
- MQTT: ``wasmfleet.publish`` prints each message (topic, QoS, payload) instead of sending it;
  ``wasmfleet.message_topic`` answers -1 (no call here is triggered by a message);
- QoA reports are printed; ``communication.rpcCall`` has no transport (status 1, as on a
  device without one); images and WASI-NN as on a supervisor where Pillow/ONNX are installed.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wasmfleet.core.errors import ConfigurationError
from wasmfleet.runtime.host.camera import Camera, SimulatedCamera
from wasmfleet.runtime.host.functions import HostDevices
from wasmfleet.runtime.host.guest import GuestContext
from wasmfleet.runtime.host.sensors import SimulatedDht

Say = Callable[[str], None]
"""Where the simulated host writes what it does (stderr in the CLI)."""
PREVIEW_BYTES = 200
"""Longest payload printed in full for a published message."""


@dataclass(frozen=True, slots=True)
class SimulatedHostOptions:
    """What the simulated device offers a module."""

    temperature: float = 21.5
    humidity: float = 45.0
    camera: Path | None = None
    """A JPEG (or any picture Pillow reads) or a folder of JPEGs; None: the bundled sample."""
    broker: bool = True
    """Offer ``wasmfleet.publish``/``message_topic`` (printing); False: a device without
    ``--broker`` (modules importing them are refused, as there)."""


class FileCamera:
    """A camera that always sees one picture: a JPEG file (other formats through Pillow)."""

    kind = "file"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._jpeg = _as_jpeg(path)

    def capture_jpeg(self) -> bytes:
        """The picture, JPEG-encoded."""
        return self._jpeg


class PrintingPublisher:
    """``wasmfleet.publish`` without a broker: each message is printed, and accepted (0)."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self.published: list[tuple[str, int, bytes]] = []

    def publish_from_guest(self, ctx: GuestContext, topic: str, payload: bytes, qos: int) -> int:
        """Print the message; 0 (sent), as a connected device answers."""
        self.published.append((topic, qos, payload))
        self.say(f"publish topic={topic} qos={qos} {len(payload)} bytes: {_preview(payload)}")
        return 0


class PrintingQoa:
    """``wasmfleet.qoa_report`` without a supervisor's quality book: each report is printed."""

    def __init__(self, say: Say) -> None:
        self.say = say

    def record(self, key: str, latency_ms: float, confidence: float) -> None:
        """Print one report."""
        self.say(f"qoa {key} latency_ms={latency_ms:g} confidence={confidence:g}")


def simulated_devices(options: SimulatedHostOptions, say: Say) -> HostDevices:
    """The host devices of ``wasmfleet run``; ConfigurationError for an unusable camera."""
    return HostDevices(
        camera=open_camera_file(options.camera),
        dht=SimulatedDht(options.temperature, options.humidity),
        rpc=None,
        mqtt=PrintingPublisher(say) if options.broker else None,
        qoa=PrintingQoa(say),
    )


def open_camera_file(path: Path | None) -> Camera:
    """The camera for ``--camera``: a picture file, a folder of JPEGs, or the bundled sample."""
    if path is None:
        return SimulatedCamera()
    if path.is_dir():
        return SimulatedCamera(path)
    if not path.is_file():
        raise ConfigurationError(f"--camera {path}: no such file or folder.")
    return FileCamera(path)


def _as_jpeg(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"\xff\xd8"):
        return data
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ConfigurationError(
            f"--camera {path} is not a JPEG file; give a .jpg (or install Pillow to convert "
            "other pictures: pip install pillow)."
        ) from None
    try:
        with Image.open(io.BytesIO(data)) as picture:
            out = io.BytesIO()
            picture.convert("RGB").save(out, format="JPEG", quality=90)
    except (UnidentifiedImageError, OSError) as err:
        raise ConfigurationError(f"--camera {path} is not a picture ({err}).") from None
    return out.getvalue()


def _preview(payload: bytes) -> str:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload[:32].hex() + ("..." if len(payload) > 32 else "") + " (binary)"
    return text if len(text) <= PREVIEW_BYTES else text[:PREVIEW_BYTES] + "..."
