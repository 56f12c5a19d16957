"""The ORIGINAL wasmiot supervisor as a real process on loopback (for tests and the recorder).

It is never part of this repository: point ``WASMIOT_SUPERVISOR_DIR`` at a checkout of
LiquidAI-project/wasmiot-supervisor (tested at commit bd31c95) and
``WASMIOT_SUPERVISOR_PYTHON`` at the python of a venv holding its requirements
(``python -m venv v && v/bin/pip install -r requirements.txt``). ``tests/wasmiot_launch.py``
starts it with a camera stand-in (a JPEG file) and mDNS and HTTP on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import REPO, ChildProcess, free_port

LAUNCH = REPO / "tests" / "wasmiot_launch.py"
CAMERA_IMAGE = REPO / "tests" / "data" / "coffee.jpg"
"""What the original's camera sees (300 x 200 pixels)."""
UPSTREAM_COMMIT = "bd31c95"
HOW = (
    "set WASMIOT_SUPERVISOR_DIR to a checkout of LiquidAI-project/wasmiot-supervisor "
    f"(commit {UPSTREAM_COMMIT}) and WASMIOT_SUPERVISOR_PYTHON to the python of a venv with "
    "its requirements.txt installed"
)


def original_paths() -> tuple[Path, Path] | str:
    """(checkout, python) of the original from the environment, or why they are unusable."""
    src, python = (
        os.environ.get("WASMIOT_SUPERVISOR_DIR"),
        os.environ.get("WASMIOT_SUPERVISOR_PYTHON"),
    )
    if not src or not python:
        return f"the original wasmiot supervisor is not given: {HOW}"
    checkout, interpreter = Path(src), Path(python)
    if not (checkout / "host_app" / "__main__.py").is_file():
        return f"WASMIOT_SUPERVISOR_DIR={src} holds no host_app/__main__.py: {HOW}"
    if not os.access(interpreter, os.X_OK):
        return f"WASMIOT_SUPERVISOR_PYTHON={python} is not an executable: {HOW}"
    return checkout, interpreter


class OriginalSupervisor(ChildProcess):
    """``python -m host_app`` of the original, started through ``tests/wasmiot_launch.py``."""

    kind = "original wasmiot supervisor"

    def __init__(
        self,
        src: Path,
        python: Path,
        root: Path,
        *,
        name: str = "orig",
        logs_to: str,
        orchestrator: str | None = None,
        port: int | None = None,
    ) -> None:
        self.src = src
        self.python = python
        self.root = root
        self.name = name
        self.logs_to = logs_to
        """Where it posts its logs (an orchestrator's ``/device/logs``): it must answer 200,
        or the original's worker thread dies on its next log line and POST calls never run."""
        self.orchestrator = orchestrator
        self.port = port or free_port()
        self.log_path = root / f"{name}-{self.port}.log"

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        """Its environment: no wasmfleet or wasmiot settings of ours leak in."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("WASMFLEET_", "WASMIOT_", "FLASK_", "SUPERVISOR_"))
            and k not in ("PYTHONPATH", "INSTANCE_PATH", "SERVER_NAME")
        }
        env.update(
            PYTHONUNBUFFERED="1",
            INSTANCE_PATH=str(self.root / self.name),
            WASMIOT_SUPERVISOR_NAME=self.name,
            WASMIOT_SUPERVISOR_PORT=str(self.port),
            SERVER_NAME="127.0.0.1",  # the address it advertises (else its LAN address)
            WASMIOT_SUPERVISOR_IP="127.0.0.1",
            WASMIOT_FAKE_CAMERA=str(CAMERA_IMAGE),
            WASMIOT_LOGGING_ENDPOINT=self.logs_to,
        )
        if self.orchestrator:
            env["WASMIOT_ORCHESTRATOR_URL"] = self.orchestrator  # it registers itself
        return env

    def start(self, timeout: float = 60.0) -> OriginalSupervisor:
        """Prepare its instance directory (its template configs), start it, wait for /health."""
        configs = self.root / self.name / "instance" / "configs"
        configs.mkdir(parents=True, exist_ok=True)
        for template in (self.src / "tempconfigs").glob("*.json"):
            shutil.copy(template, configs / template.name)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [str(self.python), str(LAUNCH)],
            cwd=self.src,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{self.kind} did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """Everything it printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def registration(self) -> dict[str, Any]:
        """Its ``/file/device/discovery/register`` body, as its mDNS record would say."""
        return {
            "name": self.name,
            "type": "_webthing._tcp.local.",
            "port": self.port,
            "properties": {"path": "/", "tls": "0", "address": "127.0.0.1"},
            "addresses": ["127.0.0.1"],
        }
