"""A real fleet on loopback for orchestrator tests: one orchestrator, N supervisors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support import (
    MODULES,
    OrchestratorProcess,
    SupervisorProcess,
    description_upload,
    wait_until,
)

# Fast health checks so that tests see status changes within a second or two.
FAST_HEALTH = ["--health-interval", "0.3", "--health-failures", "2", "--health-timeout", "1"]


class Fleet:
    """An orchestrator and its supervisors, with shortcuts for the common calls."""

    def __init__(self, root: Path, orchestrator_args: list[str] | None = None) -> None:
        self.root = root
        self.orchestrator = OrchestratorProcess(
            root / "orchestrator", name="orch", args=[*FAST_HEALTH, *(orchestrator_args or [])]
        )
        self.supervisors: dict[str, SupervisorProcess] = {}
        self.http = httpx.Client(base_url=self.orchestrator.url, timeout=60.0)

    @property
    def url(self) -> str:
        """The orchestrator's base URL."""
        return self.orchestrator.url

    def start_supervisor(self, name: str, *args: str, register: bool = True) -> SupervisorProcess:
        """Start a supervisor that registers itself with the orchestrator over HTTP."""
        extra = ["--orchestrator", self.url] if register else []
        sup = SupervisorProcess(self.root / f"sv-{name}", name=name, args=[*extra, *args])
        sup.start()
        self.supervisors[name] = sup
        return sup

    def devices(self) -> dict[str, dict[str, Any]]:
        """Devices by name, as /api/v1 lists them."""
        return {d["name"]: d for d in self.http.get("/api/v1/devices").json()}

    def documents(self, deployment: str) -> dict[str, dict[str, Any]]:
        """The documents each device got, by device name (``fullManifest`` keys them by id)."""
        names = {d["id"]: name for name, d in self.devices().items()}
        full = self.http.get(f"/file/manifest/{deployment}").json()["fullManifest"]
        return {names.get(key, key): doc for key, doc in full.items()}

    def wait_active(self, *names: str, timeout: float = 20.0) -> None:
        """Wait until every named device is listed as active."""
        ok = wait_until(
            lambda: all(self.devices().get(n, {}).get("status") == "active" for n in names),
            timeout=timeout,
        )
        assert ok, f"devices {names} not active: {self.devices()}"

    def push(self, module: str, name: str | None = None, describe: bool = True) -> str:
        """Upload an example module (and its committed description); returns its id."""
        wasm = (MODULES / module / f"{module}.wasm").read_bytes()
        r = self.http.post(
            "/file/module",
            data={"name": name or module},
            files={"module": (f"{module}.wasm", wasm, "application/wasm")},
        )
        assert r.status_code == 201, r.text
        module_id: str = r.json()["id"]
        if describe:
            description, files = description_upload(module)
            r = self.http.post(
                f"/api/v1/modules/{module_id}/description",
                data={"description": json.dumps(description)},
                files=files or None,
            )
            assert r.status_code == 200, r.text
        return module_id

    def stop(self) -> None:
        """Stop every process."""
        self.http.close()
        for sup in self.supervisors.values():
            sup.stop()
        self.orchestrator.stop()


@contextmanager
def running_fleet(
    root: Path, *supervisors: tuple[str, list[str]], orchestrator_args: list[str] | None = None
) -> Iterator[Fleet]:
    """Start an orchestrator and supervisors ``(name, extra args)``; stop them afterwards."""
    fleet = Fleet(root, orchestrator_args)
    try:
        fleet.orchestrator.start()
        for name, args in supervisors:
            fleet.start_supervisor(name, *args)
        fleet.wait_active(*(name for name, _ in supervisors))
        yield fleet
    finally:
        fleet.stop()
