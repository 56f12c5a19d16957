"""CLI habits a user expects: shell completion that installs and completes, and ``--watch`` on
``status``, ``device ls`` and ``deployment ls`` (redrawn in place on a real terminal, a pty here;
one refresh after another when piped), stopped by Ctrl-C with exit status 0."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import OrchestratorProcess, free_port

WASMFLEET = [sys.executable, "-m", "wasmfleet"]
SCRIPT = Path(sys.executable).parent / "wasmfleet"
WAIT_S = 30.0
FRAME = b"Ctrl-C to stop"


# -- completion -----------------------------------------------------------------------------


def script() -> list[str]:
    if not SCRIPT.exists():
        pytest.skip(f"the console script {SCRIPT} is not installed (pip install -e .)")
    return [str(SCRIPT)]


def test_completion_installs_for_bash(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    done = subprocess.run(
        [*script(), "--install-completion", "bash"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    installed = [
        p for p in tmp_path.rglob("*") if p.is_file() and "_WASMFLEET_COMPLETE" in p.read_text()
    ]
    assert installed, list(tmp_path.rglob("*"))
    assert "wasmfleet" in (tmp_path / ".bashrc").read_text()
    shown = subprocess.run(
        [*script(), "--show-completion", "bash"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "complete -o default -F _wasmfleet_completion" in shown.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [("wasmfleet dep", {"deploy", "deployment"}), ("wasmfleet device ", {"ls", "show"})],
)
def test_completion_completes_commands(words: str, expected: set[str]) -> None:
    env = {
        **os.environ,
        "_WASMFLEET_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    done = subprocess.run(script(), capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert expected <= set(done.stdout.split()), done.stdout


# -- --watch --------------------------------------------------------------------------------


def read_until(fd: int, seen: bytearray, predicate: Callable[[bytes], bool]) -> bool:
    """Append what ``fd`` gives to ``seen`` until ``predicate(seen)`` holds (bounded wait)."""
    deadline = time.monotonic() + WAIT_S
    while not predicate(bytes(seen)):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty closed: the process is gone
                return predicate(bytes(seen))
            if not chunk:
                return predicate(bytes(seen))
            seen += chunk
    return True


def own_the_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty on stdin."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.fixture
def terminal() -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], int]]]:
    """Start a command on a real pseudo-terminal (120 x 50): (process, the pty's master end)."""
    started: list[tuple[subprocess.Popen[bytes], int]] = []

    def start(*args: str) -> tuple[subprocess.Popen[bytes], int]:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
        env["TERM"] = "xterm-256color"
        proc = subprocess.Popen(
            [*WASMFLEET, *args],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=own_the_terminal,  # setsid + TIOCSCTTY: Ctrl-C reaches it as on a desk
        )
        os.close(slave)
        started.append((proc, master))
        return proc, master

    yield start
    for proc, master in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)


def test_status_watch_redraws_in_place_shows_errors_and_stops_on_ctrl_c(
    terminal: Callable[..., tuple[subprocess.Popen[bytes], int]], tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc, screen = terminal("status", "--watch", "--interval", "0.3", "--orchestrator", url)
    seen = bytearray()
    # Nothing listens yet: the view says so, and keeps trying.
    assert read_until(screen, seen, lambda s: s.count(b"Cannot reach the orchestrator") >= 2), seen
    orch = OrchestratorProcess(tmp_path / "orch", name="orch", port=port).start()
    try:
        mark = len(seen)
        assert read_until(screen, seen, lambda s: s[mark:].count(b"wasmfleet status") >= 2), seen
    finally:
        orch.stop()
    assert b"\x1b[1A" in seen or b"\x1b[2K" in seen  # redrawn in place, not appended
    assert seen.count(FRAME) >= 4
    os.write(screen, b"\x03")  # Ctrl-C, through the terminal
    assert proc.wait(WAIT_S) == 0
    assert proc.stderr is not None
    errors = proc.stderr.read().decode()
    assert "Traceback" not in errors and "Aborted" not in errors, errors


@pytest.fixture(scope="module")
def orchestrator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrchestratorProcess]:
    orch = OrchestratorProcess(tmp_path_factory.mktemp("watch") / "data", name="watch").start()
    yield orch
    orch.stop()


@pytest.mark.parametrize(
    ("command", "empty"),
    [(["device", "ls"], b"No devices yet"), (["deployment", "ls"], b"No deployments yet")],
)
def test_ls_watch_piped_prints_each_refresh_and_stops_on_sigint(
    orchestrator: OrchestratorProcess, command: list[str], empty: bytes
) -> None:
    proc = subprocess.Popen(
        [*WASMFLEET, *command, "-w", "--interval", "0.2", "--orchestrator", orchestrator.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        seen = bytearray()
        assert read_until(proc.stdout.fileno(), seen, lambda s: s.count(empty) >= 3), seen
        assert seen.count(FRAME) >= 3
        assert b"\x1b[" not in seen  # piped: one refresh after another, no cursor movement
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
        assert proc.stderr is not None
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_watch_with_json_output_prints_one_document_per_refresh(
    orchestrator: OrchestratorProcess,
) -> None:
    args = ["status", "-w", "--interval", "0.2", "-o", "json", "--orchestrator", orchestrator.url]
    proc = subprocess.Popen(
        [*WASMFLEET, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        seen = bytearray()
        assert read_until(proc.stdout.fileno(), seen, lambda s: s.count(b"\n") >= 3), seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    lines = bytes(seen).splitlines()[:3]
    documents = [json.loads(line) for line in lines]
    assert all("orchestrator" in d and "counts" in d for d in documents), documents
