"""A real Mosquitto broker for tests: Debian's ``mosquitto`` on a free loopback port.

    with running_mosquitto(tmp_path) as broker:
        broker.url           # "mqtt://127.0.0.1:<port>"
        broker.stop(); broker.start()   # same port, same persistence file
        broker.kill()                   # SIGKILL (no chance to save state)

Each broker listens on 127.0.0.1 only, keeps its persistence file (durable sessions and
retained messages survive a restart; as root it stays root so that it can write it) and logs
to ``<dir>/mosquitto.log``. Tests that need it
skip with a reason when the binary is missing (``./run test`` installs it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ChildProcess, free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def mosquitto_available() -> str | None:
    """None when a mosquitto binary is here, else why not."""
    if not Path(MOSQUITTO).exists():
        return "needs Debian's mosquitto (./run test installs it)"
    return None


class MosquittoProcess(ChildProcess):
    """One Mosquitto broker process on 127.0.0.1 (``stop``: SIGTERM, it saves its
    persistence file first; ``kill``: whatever was not saved is gone)."""

    def __init__(
        self, directory: Path, *, port: int | None = None, extra: list[str] | None = None
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.extra = list(extra or [])
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where the broker logs."""
        return self.directory / "mosquitto.log"

    def _write_config(self) -> Path:
        config = self.directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {self.directory}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            *self.extra,
        ]
        if os.geteuid() == 0 and not any(line.startswith("user ") for line in self.extra):
            # Started as root, mosquitto switches to the user "mosquitto", which cannot write
            # into a root-only test directory: its persistence file (durable sessions, queued
            # and retained messages) would silently not be written.
            lines.append("user root")
        config.write_text("\n".join(lines) + "\n")
        return config

    def start(self, timeout: float = 10.0) -> MosquittoProcess:
        """Start and wait until the port accepts connections."""
        config = self._write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout} s")


@contextlib.contextmanager
def running_mosquitto(directory: Path, **kw: object) -> Iterator[MosquittoProcess]:
    """A started broker, stopped afterwards (skips the test when mosquitto is missing)."""
    reason = mosquitto_available()
    if reason is not None:
        pytest.skip(reason)
    broker = MosquittoProcess(directory, **kw)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
