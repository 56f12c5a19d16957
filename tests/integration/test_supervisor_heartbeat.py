"""Heartbeats from a real supervisor process to a fake orchestrator on loopback."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from tests.integration.fake_orchestrator import running_orchestrator, unused_port
from tests.support import FileServer, SupervisorProcess, readme_body, wait_until

Start = Callable[..., SupervisorProcess]
REGISTER = "/file/device/discovery/register"


def status(sup: SupervisorProcess) -> dict[str, Any]:
    body: dict[str, Any] = sup.get("/api/v1/status").json()
    return body


def test_heartbeats_carry_usage_and_epochs(start_supervisor: Start, files: FileServer) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor("hb-1", args=["--orchestrator", orch.url])
        body = readme_body(files, "hb", "fibo")
        body["epoch"] = 3
        assert sup.deploy(body).status_code == 200
        assert sup.deploy(readme_body(files, "plain", "fibo")).status_code == 200

        def has_both() -> bool:
            beats = orch.heartbeats()
            return bool(beats) and beats[-1].json["deployments"] == {"hb": 3, "plain": 0}

        assert orch.wait_for(has_both, timeout=10)
        first = len(orch.heartbeats())
        time.sleep(2.0)
        beats = orch.heartbeats()
        # 0.5 s cadence: about four in two seconds; assert loosely.
        assert 2 <= len(beats) - first <= 12

        last = beats[-1].json
        assert last["name"] == "hb-1"
        assert last["url"] == f"http://127.0.0.1:{sup.port}"
        assert last["interval_s"] == 0.5
        assert abs(last["sent_at"] - time.time()) < 60
        usage = last["usage"]
        assert 0 <= usage["cpu"] <= 1 and 0 <= usage["memory"] <= 1
        assert usage["cpu_per_core"] and all(0 <= c <= 1 for c in usage["cpu_per_core"])
        assert 0 < usage["memory_used_mb"] <= usage["memory_total_mb"]
        seqs = [b.json["seq"] for b in beats]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        assert seqs[0] >= 1
        assert all(b.headers["content-type"] == "application/json" for b in beats)

        stats = status(sup)
        heartbeat = stats["heartbeat"]
        assert heartbeat["enabled"] is True
        assert heartbeat["sent"] >= len(beats) - 1
        assert heartbeat["acked"] >= 1
        assert heartbeat["last_ack_age_s"] is not None
        assert heartbeat["last_error"] is None
        assert heartbeat["orchestrator_url"] == orch.url
        # An acknowledged heartbeat is orchestrator contact for the re-registration watchdog.
        assert stats["registration"]["last_contact_age_s"] is not None
        assert stats["registration"]["heartbeats_acknowledged"] is True
        assert stats["epochs"] == {"hb": 3, "plain": 0}
        assert stats["fences"] == {"hb": 3}


def test_acknowledged_heartbeats_keep_the_reregistration_watchdog_quiet(
    start_supervisor: Start,
) -> None:
    with running_orchestrator() as orch:
        # Nobody polls /health here: only heartbeats tell the watchdog the orchestrator is there.
        sup = start_supervisor(
            "hb-quiet",
            args=["--orchestrator", orch.url],
            env={"WASMFLEET_REREGISTER_AFTER": "1"},
        )
        assert orch.wait_for(lambda: bool(orch.requests_to(REGISTER, "POST")), timeout=15)
        time.sleep(3.0)
        assert len(orch.requests_to(REGISTER, "POST")) == 1
        assert len(orch.heartbeats()) >= 2

        orch.answer_heartbeats(status=500)  # contact lost: the watchdog registers again
        assert orch.wait_for(lambda: len(orch.requests_to(REGISTER, "POST")) >= 2, timeout=10)
        assert status(sup)["heartbeat"]["failed"] >= 1


def test_an_unknown_device_registers_again(start_supervisor: Start) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor("hb-unknown", args=["--orchestrator", orch.url])
        assert orch.wait_for(lambda: bool(orch.requests_to(REGISTER, "POST")), timeout=15)
        assert orch.wait_for(lambda: bool(orch.heartbeats()), timeout=10)
        registered = len(orch.requests_to(REGISTER, "POST"))

        orch.answer_heartbeats(known=False)  # the orchestrator lost its state
        assert orch.wait_for(
            lambda: len(orch.requests_to(REGISTER, "POST")) > registered, timeout=10
        )
        body = orch.requests_to(REGISTER, "POST")[-1].json
        assert body["name"] == "hb-unknown"
        heartbeat = status(sup)["heartbeat"]
        assert heartbeat["unknown"] >= 1
        assert "does not know" in heartbeat["last_error"]

        orch.answer_heartbeats()
        assert wait_until(lambda: status(sup)["heartbeat"]["last_error"] is None, timeout=10)


def test_an_orchestrator_learned_by_post_register_gets_heartbeats(start_supervisor: Start) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor("hb-learn")
        assert status(sup)["heartbeat"]["orchestrator_url"] is None
        assert sup.post("/register", json={"url": orch.url}).status_code == 200
        assert orch.wait_for(lambda: len(orch.heartbeats()) >= 2, timeout=10)
        assert orch.heartbeats()[-1].json["name"] == "hb-learn"
        assert wait_until(lambda: status(sup)["heartbeat"]["acked"] >= 1, timeout=10)


def test_an_orchestrator_without_heartbeats_is_not_a_reason_to_register(
    start_supervisor: Start,
) -> None:
    with running_orchestrator() as orch:
        orch.answer_heartbeats(status=404)  # a plain 404, as from the wasmiot orchestrator
        sup = start_supervisor("hb-404", args=["--orchestrator", orch.url + "/"])
        assert orch.wait_for(lambda: bool(orch.requests_to(REGISTER, "POST")), timeout=15)
        assert orch.wait_for(lambda: len(orch.heartbeats()) >= 3, timeout=10)
        assert len(orch.requests_to(REGISTER, "POST")) == 1
        heartbeat = status(sup)["heartbeat"]
        assert heartbeat["unknown"] == 0
        assert heartbeat["failed"] >= 2
        assert heartbeat["last_error"].startswith("HTTP 404")


def test_one_heartbeat_in_flight_at_most(start_supervisor: Start) -> None:
    with running_orchestrator() as orch:
        orch.answer_heartbeats(delay_s=3.0)  # slower than the 1 s heartbeat timeout
        sup = start_supervisor("hb-slow", args=["--orchestrator", orch.url])

        def slow_seen() -> bool:
            heartbeat = status(sup)["heartbeat"]
            return heartbeat["skipped"] >= 1 and heartbeat["failed"] >= 1

        assert wait_until(slow_seen, timeout=10)
        heartbeat = status(sup)["heartbeat"]
        assert heartbeat["acked"] == 0
        assert heartbeat["last_error"] == "no answer within 1 s"
        orch.answer_heartbeats()
        assert wait_until(lambda: status(sup)["heartbeat"]["acked"] >= 1, timeout=10)


def test_interval_zero_sends_no_heartbeats(start_supervisor: Start) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor(
            "hb-off", args=["--orchestrator", orch.url, "--heartbeat-interval", "0"]
        )
        assert orch.wait_for(lambda: bool(orch.requests_to(REGISTER, "POST")), timeout=15)
        time.sleep(1.5)
        assert orch.heartbeats() == []
        heartbeat = status(sup)["heartbeat"]
        assert heartbeat["enabled"] is False
        assert heartbeat["sent"] == 0


def test_interval_from_the_environment(start_supervisor: Start) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor(
            "hb-env",
            args=["--orchestrator", orch.url],
            env={"WASMFLEET_HEARTBEAT_INTERVAL": "0.2", "WASMFLEET_HEARTBEAT_JITTER": "0.05"},
        )
        assert orch.wait_for(lambda: bool(orch.heartbeats()), timeout=10)
        heartbeat = status(sup)["heartbeat"]
        assert heartbeat["interval_s"] == 0.2
        assert heartbeat["jitter_s"] == 0.05
        assert orch.heartbeats()[-1].json["interval_s"] == 0.2


def test_a_down_orchestrator_does_not_disturb_calls(
    start_supervisor: Start, files: FileServer
) -> None:
    down = f"http://127.0.0.1:{unused_port()}"
    sup = start_supervisor("hb-down", args=["--orchestrator", down])
    assert sup.deploy(readme_body(files, "d", "fibo")).status_code == 200
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        call = sup.get("/d/modules/fibo/fibo?iterations=7")
        assert call.status_code == 200, call.text
        assert call.json()["result"] == "13"
        time.sleep(0.05)
    assert wait_until(lambda: status(sup)["heartbeat"]["failed"] >= 2, timeout=10)
    heartbeat = status(sup)["heartbeat"]
    assert heartbeat["acked"] == 0
    assert heartbeat["last_error"]
    # Logged once per streak of failures, not once per heartbeat.
    assert sup.log().count("heartbeat to ") == 1


def test_a_heartbeat_goes_out_right_after_sigstop(start_supervisor: Start) -> None:
    with running_orchestrator() as orch:
        sup = start_supervisor("hb-stop", args=["--orchestrator", orch.url])
        assert orch.wait_for(lambda: len(orch.heartbeats()) >= 2, timeout=15)
        assert sup.proc is not None
        os.kill(sup.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(1.5)
            before = len(orch.heartbeats())
        finally:
            resumed = time.monotonic()
            os.kill(sup.proc.pid, signal.SIGCONT)
        assert orch.wait_for(
            lambda: any(b.received_at >= resumed for b in orch.heartbeats()), timeout=0.5
        ), "no heartbeat within 0.5 s of SIGCONT"
        assert len(orch.heartbeats()) > before
        # The slots that passed during the stop were skipped, not sent in a burst afterwards.
        assert status(sup)["heartbeat"]["missed"] >= 1
