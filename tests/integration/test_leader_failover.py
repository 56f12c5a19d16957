"""Several orchestrators on one database: one leader, a takeover when it stops, fencing.

Two orchestrator processes share a PostgreSQL database. One leads; SIGSTOP freezes it
(a paused process keeps its sockets, unlike a crash) and the other takes the lease with the
next fencing number; SIGCONT wakes the old leader, which finds it lost and stands down. A
supervisor heartbeating to the survivor all along is never declared dead. On SQLite a second
orchestrator process on the same file is refused at start.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support import OrchestratorProcess, SupervisorProcess, wait_until
from wasmfleet.orchestrator.store.sqlite_lock import hold_sqlite_lock

TTL_S = 1.5
"""A short lease keeps the test quick; the takeover bound is ttl + ttl/3 (docs/scale-out.md)."""


def leader(orch: OrchestratorProcess) -> dict[str, Any]:
    info: dict[str, Any] = orch.get("/api/v1/status", timeout=5).json()["orchestrator"]["leader"]
    return info


def test_a_stopped_leader_is_replaced_and_stands_down_when_it_wakes(
    tmp_path: Path,
    fresh_postgres_url: str,
    start_supervisor: Callable[..., SupervisorProcess],
) -> None:
    args = ["--database-url", fresh_postgres_url, "--leader-ttl", str(TTL_S)]
    both = [OrchestratorProcess(tmp_path / name, name=f"orch-{name}", args=args) for name in "ab"]
    try:
        with ThreadPoolExecutor(2) as pool:  # start both at once: one of them wins the lease
            list(pool.map(lambda orch: orch.start(), both))
        views = [leader(orch) for orch in both]
        assert sorted(v["leading"] for v in views) == [False, True], views
        first, second = both if views[0]["leading"] else both[::-1]
        a, b = leader(first), leader(second)
        assert b["holder"] == a["me"] and b["fencing"] == a["fencing"]
        # The device talks to the orchestrator that stays up (heartbeats reach the leader
        # through the database's notification channel once that lands; see docs/scale-out.md).
        start_supervisor("sv", args=["--orchestrator", second.url])
        assert wait_until(lambda: _status(second, "sv") == "active", timeout=20)

        assert first.proc is not None
        first.proc.send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            assert wait_until(lambda: leader(second)["leading"], timeout=15, interval=0.05)
            took_s = time.monotonic() - stopped
            now = leader(second)
            assert now["fencing"] == a["fencing"] + 1 and now["holder"] == now["me"]
            print(f"takeover {took_s:.2f} s after SIGSTOP (lease {TTL_S} s)")
            assert _status(second, "sv") == "active"
        finally:
            first.proc.send_signal(signal.SIGCONT)

        # Woken, the old leader finds the lease moved on and does not act as leader.
        assert wait_until(lambda: leader(first)["lost"] >= 1, timeout=10)
        old = leader(first)
        assert not old["leading"] and old["holder"] == now["me"]
        assert old["fencing"] == now["fencing"]
        assert leader(second)["leading"]
        time.sleep(0.5)  # let the woken process' monitor run a few rounds
        log = second.get("/api/v1/devices/sv").json()["status_log"]
        assert [e for e in log if e["status"] != "active"] == [], log
    finally:
        for orch in both:
            if orch.proc is not None and orch.proc.poll() is None:
                orch.proc.send_signal(signal.SIGCONT)
            orch.stop()


def _status(orch: OrchestratorProcess, name: str) -> str | None:
    answer = orch.get(f"/api/v1/devices/{name}", timeout=5)
    return str(answer.json()["status"]) if answer.status_code == 200 else None


def test_a_second_orchestrator_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    held = hold_sqlite_lock(f"sqlite:///{tmp_path / 'orchestrator.db'}")  # "the first one"
    assert held is not None
    try:
        second = OrchestratorProcess(tmp_path, name="second")
        done = subprocess.run(
            [*second.command()], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 2, done.stderr
        said = " ".join((done.stderr + done.stdout).split())
        assert "Another orchestrator (pid" in said and "already uses the SQLite database" in said
        assert "use PostgreSQL to run several orchestrators" in said
    finally:
        held.close()
