"""Start the ORIGINAL wasmiot supervisor with a camera stand-in, on loopback only.

Run with the original's own Python, in its checkout (``cwd``)::

    WASMIOT_FAKE_CAMERA=tests/data/coffee.jpg INSTANCE_PATH=/tmp/x \\
        WASMIOT_SUPERVISOR_PORT=5001 /path/to/venv/bin/python tests/wasmiot_launch.py

Nothing of the original is copied or changed; two pieces of its environment are replaced
before ``host_app`` is imported, then it runs as ``python -m host_app`` would:

- the camera: the original takes pictures with ``cv2.VideoCapture(n).read()`` for
  n = 0..9 and fails without a camera; here every index reads the JPEG named by
  ``WASMIOT_FAKE_CAMERA`` (a fake for hardware, as the project's tests allow);
- the network: ``zeroconf.Zeroconf()`` would join the multicast group on every interface
  and ``app.run(host="0.0.0.0")`` would listen on all of them; here both use 127.0.0.1
  only, so a test never leaves loopback.

This file runs under the original's interpreter, so it imports nothing from wasmfleet.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
from typing import Any


def _install_camera(image_path: str) -> None:
    import cv2  # the original's own dependency (opencv-python-headless)

    frame = cv2.imread(image_path)
    if frame is None:
        raise SystemExit(f"WASMIOT_FAKE_CAMERA={image_path!r} is not an image cv2 can read")

    class FakeCapture:
        """Stands in for ``cv2.VideoCapture``: every camera index sees the same picture."""

        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            pass

        def read(self) -> tuple[bool, Any]:
            return True, frame.copy()

        def isOpened(self) -> bool:
            return True

        def release(self) -> None:
            pass

    cv2.VideoCapture = FakeCapture


def _loopback_zeroconf() -> None:
    import zeroconf

    zeroconf.Zeroconf = functools.partial(zeroconf.Zeroconf, interfaces=["127.0.0.1"])


def _loopback_flask() -> None:
    import flask

    run = flask.Flask.run

    def run_on_loopback(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs["host"] = "127.0.0.1"  # host_app passes 0.0.0.0
        return run(self, *args, **kwargs)

    flask.Flask.run = run_on_loopback


def main() -> None:
    """Replace camera, mDNS and listening address, then run ``host_app`` as ``__main__``."""
    image = os.environ.get("WASMIOT_FAKE_CAMERA")
    if image:
        _install_camera(image)
    _loopback_zeroconf()
    _loopback_flask()
    sys.path.insert(0, os.getcwd())
    runpy.run_module("host_app", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
