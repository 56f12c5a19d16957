"""``wasmfleet up`` as a background process for the e2e tests: output collected, pids known."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.support import free_port

WASMFLEET = [sys.executable, "-m", "wasmfleet"]


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


class UpProcess:
    """``wasmfleet up [extra args]`` in the background, its output collected line by line."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.port = free_port()
        self.supervisor_port = free_port()
        self.data_dir = data_dir
        self.config_home = data_dir.parent / "config"
        """Where ``up`` writes the CLI context "up": its own folder, never the user's ~/.config
        nor the one the test session shares (a context made current there would redirect
        every later test's CLI calls to this fleet)."""
        env = {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("WASMFLEET_TOKEN", "WASMFLEET_CONTEXT")
            },
            "XDG_CONFIG_HOME": str(self.config_home),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "300",  # no wrapped lines in the output the tests read
            "WASMFLEET_UP_SUPERVISOR_PORT": str(self.supervisor_port),
        }
        # The embedded brokers' default ports (1883, 1884) are shared by every `up` on this
        # machine: tests running at once (pytest-xdist workers, a `./run demo`) would race for
        # them, so each test's brokers get free ports unless the test names its own.
        brokers = [
            arg
            for flag in ("--broker-port", "--cloud-broker-port")
            if flag not in extra
            for arg in (flag, str(free_port()))
        ]
        self.proc = subprocess.Popen(
            [*WASMFLEET, "up", "--port", str(self.port), "--data-dir", str(data_dir), *brokers,
             *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        self.ready = threading.Event()
        """Set once the "What to try next" block is printed (or the output ended)."""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if "Press Ctrl-C to stop" in line:  # the last line of "What to try next"
                self.ready.set()
        self.ready.set()

    @property
    def output(self) -> str:
        """Everything printed so far."""
        return "\n".join(self.lines)

    @property
    def url(self) -> str:
        """The orchestrator's URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        """The first admin's token (``up`` runs the orchestrator with auth on)."""
        return (self.data_dir / "admin.token").read_text().strip()

    def pids(self) -> dict[str, int]:
        """The pid of every child, by name (from up.json)."""
        state = json.loads((self.data_dir / "up.json").read_text())
        return {name: int(item["pid"]) for name, item in state.items()}

    def supervisor_commands(self) -> dict[str, list[str]]:
        """Each supervisor's command line, by name."""
        return {
            name: Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            for name, pid in self.pids().items()
            if name != "orchestrator"
        }

    def stop(self) -> int:
        """Ctrl-C and wait; the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL ``up`` and every child it recorded (teardown after a failed test)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if (self.data_dir / "up.json").exists():
            for pid in self.pids().values():
                if alive(pid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
