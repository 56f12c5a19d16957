"""Shared pieces of the self-healing tests: a steady stream of executions, signals, waits."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.integration.fleet import Fleet
from tests.support import SupervisorProcess, wait_until

PIPELINE = {
    "name": "heal",
    "steps": [
        {"module": "fibo", "function": "fibo", "device": "a"},
        {"module": "counter", "function": "add", "stateful": True, "labels": {"role": "worker"}},
    ],
}
"""fibo(10) = 55 on device a, then a stateful counter that adds 55 per execution."""
WORKER = ["--label", "role=worker"]
"""Arguments of the supervisors that may host the counter."""


COUNTER_STEP = 1
"""The index of the counter step in the pipelines of these tests (and bench/failover.py)."""


@dataclass
class Outcome:
    """One execution of the stream: when it ended (monotonic), status, result, steps."""

    at: float
    status: int
    result: Any
    error: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def device(self) -> str | None:
        """The device the counter step ran on (None when the answer does not list it)."""
        for step in self.steps:
            if isinstance(step, dict) and step.get("step") == COUNTER_STEP:
                device = step.get("device")
                return str(device) if device is not None else None
        return None


class Stream:
    """Executes a deployment back to back in a thread until stopped (bounded in time)."""

    def __init__(self, url: str, deployment: str, args: dict[str, Any], limit_s: float = 120):
        self.url = url
        self.deployment = deployment
        self.args = args
        self.limit_s = limit_s
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="stream")

    def __enter__(self) -> Stream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop after the execution in flight (bounded by the client's timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=90)

    def _loop(self) -> None:
        deadline = time.monotonic() + self.limit_s
        path = f"/api/v1/deployments/{self.deployment}/execute"
        with httpx.Client(base_url=self.url, timeout=90) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    r = http.post(path, json=self.args)
                    body = r.json()
                except (httpx.HTTPError, ValueError) as err:
                    self.outcomes.append(Outcome(time.monotonic(), 0, None, repr(err)))
                    self._stop.wait(0.1)
                    continue
                if not isinstance(body, dict):
                    body = {}
                error = None
                if r.status_code >= 300:
                    error = str((body.get("error") or {}).get("message") or r.text[:300])
                listed = body.get("steps")
                steps: list[dict[str, Any]] = listed if isinstance(listed, list) else []
                self.outcomes.append(
                    Outcome(time.monotonic(), r.status_code, body.get("result"), error, steps)
                )
                self._stop.wait(0.02)

    def successes(self) -> int:
        """Executions that succeeded so far."""
        return sum(1 for o in list(self.outcomes) if o.status == 200)

    def wait_successes(self, more: int, timeout: float = 30.0) -> bool:
        """Wait for ``more`` successful executions beyond those seen now."""
        target = self.successes() + more
        return wait_until(lambda: self.successes() >= target, timeout=timeout)

    def since(self, start: float) -> list[Outcome]:
        """Outcomes that ended after ``start``."""
        return [o for o in list(self.outcomes) if o.at > start]

    def ok_on(self, device: str, start: float) -> int:
        """Successful executions ending after ``start`` whose counter ran on ``device``."""
        return sum(1 for o in self.since(start) if o.status == 200 and o.device == device)


def deployment(fleet: Fleet, name: str) -> dict[str, Any]:
    """The deployment as /api/v1 shows it."""
    body: dict[str, Any] = fleet.http.get(f"/api/v1/deployments/{name}").json()
    return body


def host_of(fleet: Fleet, name: str, step: int) -> str:
    """The device a step of a deployment runs on now."""
    return str(deployment(fleet, name)["plan"]["steps"][step]["device"])


def status_log(fleet: Fleet, device: str) -> list[dict[str, Any]]:
    """A device's status log, oldest first."""
    log: list[dict[str, Any]] = fleet.http.get(f"/api/v1/devices/{device}").json()["status_log"]
    return log


def pause(sup: SupervisorProcess, seconds: float) -> None:
    """SIGSTOP a supervisor for ``seconds``, then SIGCONT."""
    assert sup.proc is not None
    os.kill(sup.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(sup.proc.pid, signal.SIGCONT)


def held(sup: SupervisorProcess) -> dict[str, int]:
    """The deployments a supervisor holds, with their epochs (GET /deploy)."""
    return {d["deploymentId"]: d.get("epoch", 0) for d in sup.get("/deploy", timeout=5).json()}
