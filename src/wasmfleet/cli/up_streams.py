"""``wasmfleet up``'s camera uplink (seed 004): a sink for the cloud broker, a burst of frames.

The fleet has two brokers: the lab's (cam-gw and edge-box) and the cloud's (cloud-vm). The
``uplink`` deployment bridges the lab's reports to the cloud; ``camera-uplink`` detects on
cam-gw and unpacks in the cloud; a ``wasmfleet sink`` child process writes what the cloud
publishes under ``store/#`` to DIR/objects. Once deployed, ``up`` publishes one pass of the
bundled scene (a figure walking through a room) from the simulated camera and reports how
many crops reached the object store.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from wasmfleet.cli.local_fleet import Child, child_env
from wasmfleet.cli.output import note, spinner

CAMERA_TOPIC = "camera/lab/frames"
STORE_FILTER = "store/#"
CROPS_DIR = Path("store") / "crops" / "lab"
FRAMES = 9
"""The scene's eight frames and the first again: the figure crosses the room, then shows up
at the door again — nine crops (one per later frame, two for the last). More passes would
add no object: the crops repeat byte for byte, and the sink keeps one object per content."""
CROPS = 9
"""The crops one pass of ``FRAMES`` frames yields (see ``FRAMES``): ``up`` waits for them."""
CLOUD_ENV = "WASMFLEET_CLOUD_BROKER"
"""Read by examples/uplink.yaml (``${WASMFLEET_CLOUD_BROKER}``)."""


def sink_child(root: Path, cloud_broker: str, log: Sequence[str] = ()) -> Child:
    """``wasmfleet sink`` storing ``store/#`` of the cloud broker in DIR/objects."""
    command = [
        sys.executable, "-m", "wasmfleet", "sink", "--broker", cloud_broker,
        "--topic", STORE_FILTER, "--dir", str(root / "objects"), *log,
    ]  # fmt: skip
    return Child("sink", 0, command, root / "logs" / "sink.log")


def start_sink(
    root: Path, cloud_broker: str, started: list[Child], log: Sequence[str] = ()
) -> Child:
    """Start the sink (a child like the services; stopped with them)."""
    sink = sink_child(root, cloud_broker, log)
    started.append(sink)
    sink.start(child_env())
    note(f"started the object-store sink: {STORE_FILTER} of {cloud_broker} -> {root / 'objects'}")
    return sink


def camera_command(edge_broker: str, count: int = FRAMES, rate: str = "4/s") -> list[str]:
    """The simulated camera publishing the bundled scene's frames."""
    return [
        sys.executable, "-m", "wasmfleet", "sensor", "simulate", "--kind", "camera",
        "--topic", CAMERA_TOPIC, "--rate", rate, "--count", str(count), "--broker", edge_broker,
    ]  # fmt: skip


def count_crops(objects: Path) -> int:
    """Objects the sink wrote under store/crops/lab."""
    folder = objects / CROPS_DIR
    try:
        return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return 0


def run_camera(root: Path, edge_broker: str, timeout: float = 30.0) -> int:
    """Publish one burst of frames; wait (bounded) for the crops to reach the store."""
    objects = root / "objects"
    log_path = root / "logs" / "camera.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with (
        spinner(f"the simulated camera publishes {FRAMES} frames to {CAMERA_TOPIC}..."),
        open(log_path, "ab") as log,
    ):
        try:
            done = subprocess.run(
                camera_command(edge_broker),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            done = None
    if done is None or done.returncode != 0:
        why = "did not finish in time" if done is None else f"failed (exit {done.returncode})"
        note(f"warning: the simulated camera {why}; see {log_path}", "yellow")
        return 0
    # Wait for every crop the scene yields, not for a pause between crops: on a busy machine
    # the pipeline (cam-gw, the uplink bridge, cloud-vm, the sink) can stall for seconds
    # mid-burst, and a report taken at the first pause counted too few.
    deadline = time.monotonic() + timeout
    with spinner("waiting for the crops to reach the object store..."):
        crops = count_crops(objects)
        while crops < CROPS and time.monotonic() < deadline:
            time.sleep(0.25)
            crops = count_crops(objects)
    short = "" if crops >= CROPS else f" (expected {CROPS}; see {root / 'logs'})"
    note(
        f"camera-uplink: {FRAMES} frames from the simulated camera, {crops} crops of moving "
        f"regions in {objects / CROPS_DIR}{short}",
        "yellow" if short else "",
    )
    return crops
