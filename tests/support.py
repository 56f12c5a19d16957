"""Test helpers: real supervisor processes, a real file server, deploy bodies.

Everything listens on 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
MODULES = REPO / "modules"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class FileServer:
    """A real HTTP file server for a directory, in a background thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        handler = partial(_QuietHandler, directory=str(directory))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        """The URL of a file relative to the served directory."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    def add(self, name: str, data: bytes) -> str:
        """Serve ``data`` under ``name`` and return its URL."""
        target = self.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return self.url(name)


@contextlib.contextmanager
def module_file_server(tmp: Path) -> Iterator[FileServer]:
    """Serve a copy of modules/ (so tests may add files next to it)."""
    root = tmp / "served"
    shutil.copytree(MODULES, root, ignore=shutil.ignore_patterns("*.c", "*.h", "build.sh"))
    with FileServer(root) as server:
        yield server


class ChildProcess:
    """A process a test started (``proc``), and the two ways to end it."""

    proc: subprocess.Popen[Any] | None = None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 10 s); the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None


class ServiceProcess(ChildProcess):
    """A wasmfleet service (``python -m wasmfleet ...``) as a real process on loopback."""

    kind = "service"
    health_path = "/health"

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str = "sv",
        port: int | None = None,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        mdns: bool = False,
        wrapper: list[str] | None = None,
        verify: Any = True,
    ) -> None:
        self.data_dir = data_dir
        self.name = name
        self.port = port or free_port()
        self.args = list(args or [])
        self.env = env or {}
        self.mdns = mdns
        self.wrapper = wrapper or []
        self.verify = verify
        """What this test's requests verify an https:// service with (an SSLContext)."""
        self.log_path = data_dir.parent / f"{name}-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of this service (https:// when started with --tls-cert)."""
        scheme = "https" if "--tls-cert" in self.args else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts it."""
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> Any:
        """Start and wait until the health path answers."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        env.pop("WASMFLEET_ORCHESTRATOR", None)
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                answer = httpx.get(self.url + self.health_path, timeout=1.0, verify=self.verify)
                if answer.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.kind} did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str, **kw: Any) -> httpx.Response:
        """GET a path of this service."""
        kw.setdefault("verify", self.verify)
        return httpx.get(self.url + path, timeout=kw.pop("timeout", 30.0), **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        """POST to a path of this service."""
        kw.setdefault("verify", self.verify)
        return httpx.post(self.url + path, timeout=kw.pop("timeout", 30.0), **kw)


class OrchestratorProcess(ServiceProcess):
    """``python -m wasmfleet orchestrator`` on loopback (no mDNS unless asked)."""

    kind = "orchestrator"
    health_path = "/readyz"  # the readiness probe: open also with --auth on

    def command(self) -> list[str]:
        """The command line that starts it."""
        cmd = [
            sys.executable, "-m", "wasmfleet", "orchestrator", "--host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        if not self.mdns:
            cmd.append("--no-mdns")
        return [*self.wrapper, *cmd, *self.args]


class SupervisorProcess(ServiceProcess):
    """``python -m wasmfleet supervisor`` as a real process on loopback."""

    kind = "supervisor"

    def command(self) -> list[str]:
        """The command line that starts it."""
        cmd = [
            sys.executable, "-m", "wasmfleet", "supervisor", "--host", "127.0.0.1",
            "--port", str(self.port), "--data-dir", str(self.data_dir), "--name", self.name,
        ]  # fmt: skip
        if not self.mdns:
            cmd.append("--no-mdns")
        return [*self.wrapper, *cmd, *self.args]

    def deploy(self, body: Any, **kw: Any) -> httpx.Response:
        """POST /deploy with a JSON body."""
        return self.post("/deploy", json=body, **kw)


def description_upload(module: str) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """An example module's committed description and its deployment-stage data files,
    ready for ``POST /api/v1/modules/{id}/description``."""
    described = description(module)
    files: dict[str, tuple[str, bytes]] = {}
    for path_item in described["paths"].values():
        for op in path_item.values():
            if not isinstance(op, dict):
                continue
            for mount in op.get("x-mounts", []):
                data_file = MODULES / module / mount["name"]
                if mount["stage"] == "deployment" and data_file.exists():
                    files[mount["name"]] = (mount["name"], data_file.read_bytes())
    return described, files


def description(module: str) -> dict[str, Any]:
    """The committed OpenAPI description of an example module."""
    data: dict[str, Any] = json.loads((MODULES / module / "description.json").read_text())
    return data


def readme_body(
    files: FileServer,
    dep_id: str,
    module: str,
    *,
    name: str | None = None,
    functions: list[str] | None = None,
    other: list[str] | None = None,
) -> dict[str, Any]:
    """A deploy body in the wasmiot README shape for an example module."""
    name = name or module
    instructions: dict[str, Any] = {}
    for path, item in description(module)["paths"].items():
        fn = path.rstrip("/").rsplit("/", 1)[-1]
        if functions is not None and fn not in functions:
            continue
        ops = {k: v for k, v in copy.deepcopy(item).items() if k != "parameters"}
        instructions[fn] = {"paths": {"": ops}, "to": None}
    return {
        "deploymentId": dep_id,
        "modules": [
            {
                "id": dep_id,
                "name": name,
                "urls": {
                    "binary": files.url(f"{module}/{module}.wasm"),
                    "description": files.url(f"{module}/description.json"),
                    "other": [files.url(f"{module}/{o}") for o in (other or [])],
                },
            }
        ],
        "instructions": {"modules": {name: instructions}},
    }


def chain_fibo_to(body: dict[str, Any], next_url: str) -> dict[str, Any]:
    """``body`` (a fibo deploy body) with fibo's result sent on to fibo at ``next_url``."""
    body["instructions"]["modules"]["fibo"]["fibo"]["to"] = {
        "url": next_url,
        "path": "/{deployment}/modules/fibo/fibo",
        "method": "GET",
        "request": {"parameters": [{"name": "iterations", "in": "query"}]},
    }
    return body


def wait_until(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
