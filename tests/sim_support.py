"""The device simulator (``wasmfleet sim devices``) as a real process, for tests and bench/."""

from __future__ import annotations

import sys
from typing import Any

import httpx

from tests.support import ServiceProcess


class SimProcess(ServiceProcess):
    """``python -m wasmfleet sim devices`` on loopback, for ``orchestrator_url`` (one URL, or
    a list: the orchestrators of one fleet, which the devices spread over)."""

    kind = "simulator"
    health_path = "/_sim/status"

    def __init__(
        self, *args: Any, orchestrator_url: str | list[str], count: int, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        urls = [orchestrator_url] if isinstance(orchestrator_url, str) else orchestrator_url
        self.orchestrator_urls = urls
        self.orchestrator_url = urls[0]
        self.count = count

    def command(self) -> list[str]:
        """The command line that starts it."""
        cmd = [
            sys.executable, "-m", "wasmfleet", "sim", "devices", "--count", str(self.count),
            "--port", str(self.port),
        ]  # fmt: skip
        for url in self.orchestrator_urls:
            cmd += ["--orchestrator", url]
        return [*self.wrapper, *cmd, *self.args]

    def status(self) -> dict[str, Any]:
        """GET /_sim/status."""
        body: dict[str, Any] = self.get("/_sim/status").raise_for_status().json()
        return body

    def command_devices(self, command: str, names: list[str]) -> httpx.Response:
        """POST /_sim/<kill|stall|revive> {"names": names}."""
        return self.post(f"/_sim/{command}", json={"names": names})
