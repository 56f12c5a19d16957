"""The re-registration watchdog against real processes: a ``GET /health`` from anyone but the
orchestrator (a liveness probe, a monitoring script) no longer hides a lost orchestrator, while
heartbeat answers and the orchestrator's own health checks keep the watchdog quiet."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.integration.fake_orchestrator import running_orchestrator
from tests.support import OrchestratorProcess, SupervisorProcess
from wasmfleet.supervisor.registration import REGISTER_PATH

Start = Callable[..., SupervisorProcess]
WAIT_S = 20.0
REREGISTER_AFTER = "1"


class HealthPoller:
    """GET /health every 100 ms from ``source`` (a loopback address), like a probe would."""

    def __init__(self, url: str, source: str) -> None:
        self.url = url
        self.source = source
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-poller", daemon=True)

    def _run(self) -> None:
        transport = httpx.HTTPTransport(local_address=self.source)
        with httpx.Client(transport=transport, timeout=2.0) as client:
            while not self._stop.wait(0.1):
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + "/health").status_code == 200:
                        self.answered += 1

    def __enter__(self) -> HealthPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def registration(sup: SupervisorProcess) -> dict[str, Any]:
    stats: dict[str, Any] = sup.get("/api/v1/status").json()["registration"]
    return stats


def eventually(predicate: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_lost_wasmfleet_orchestrator_is_noticed_despite_local_health_polls(
    start_supervisor: Start, tmp_path: Path
) -> None:
    orch = OrchestratorProcess(tmp_path / "orch", name="orch").start()
    try:
        sup = start_supervisor(
            "lost-hb",
            args=["--orchestrator", orch.url],
            env={"WASMFLEET_REREGISTER_AFTER": REREGISTER_AFTER},
        )
        assert eventually(lambda: registration(sup)["heartbeats_acknowledged"] is True)
        assert registration(sup)["registrations_ok"] >= 1
    finally:
        orch.kill()  # gone, without a word
    # From the orchestrator's own address: only heartbeat answers count for this orchestrator.
    with HealthPoller(sup.url, "127.0.0.1") as poller:
        assert eventually(lambda: registration(sup)["registrations_failed"] >= 1), sup.log()
        assert poller.answered >= 5
    stats = registration(sup)
    assert stats["health_checks_ignored"] >= poller.answered
    assert "registering again" in sup.log()


def test_wasmiot_orchestrator_that_lost_us_gets_a_registration_despite_other_polls(
    start_supervisor: Start,
) -> None:
    # An original wasmiot orchestrator sends no heartbeats and, having lost us, polls nobody.
    with running_orchestrator() as orch:
        sup = start_supervisor(
            "lost-poll",
            args=["--orchestrator", orch.url],
            env={
                "WASMFLEET_REREGISTER_AFTER": REREGISTER_AFTER,
                "WASMFLEET_HEARTBEAT_INTERVAL": "0",
            },
        )
        assert orch.wait_for(lambda: len(orch.requests_to(REGISTER_PATH, "POST")) >= 1, WAIT_S)
        with HealthPoller(sup.url, "127.0.0.2") as poller:  # a monitor on another host
            assert orch.wait_for(
                lambda: len(orch.requests_to(REGISTER_PATH, "POST")) >= 2, WAIT_S
            ), sup.log()
            assert poller.answered >= 5
        assert registration(sup)["health_checks_ignored"] >= poller.answered


def test_health_checks_from_the_orchestrator_keep_the_watchdog_quiet(
    start_supervisor: Start, tmp_path: Path
) -> None:
    # A device without heartbeats is polled by the orchestrator: those polls are its contact.
    orch = OrchestratorProcess(
        tmp_path / "orch",
        name="orch",
        env={"WASMFLEET_ORCHESTRATOR_HEALTH_INTERVAL": "0.2"},
    ).start()
    try:
        sup = start_supervisor(
            "polled",
            args=["--orchestrator", orch.url],
            env={
                "WASMFLEET_REREGISTER_AFTER": REREGISTER_AFTER,
                "WASMFLEET_HEARTBEAT_INTERVAL": "0",
            },
        )
        assert eventually(lambda: registration(sup)["last_health_check_age_s"] is not None)
        with HealthPoller(sup.url, "127.0.0.2"):  # somebody else's probe changes nothing
            time.sleep(3 * float(REREGISTER_AFTER) + 0.5)
        stats = registration(sup)
        assert stats["registrations_ok"] == 1, sup.log()
        assert stats["registrations_failed"] == 0
        assert stats["heartbeats_acknowledged"] is False
        assert stats["last_contact_age_s"] is not None and stats["last_contact_age_s"] < 1.0
        assert "registering again" not in sup.log()
    finally:
        orch.stop()
