"""Two orchestrators on one PostgreSQL: a supervisor heartbeats only to A, yet B's monitor
judges it by heartbeats (relayed over LISTEN/NOTIFY) and an SSE client on B sees A's device
events; when B's listening connection is cut, B says so once, reconnects and relays again."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support import OrchestratorProcess, SupervisorProcess, wait_until


def _follow(url: str, events: list[dict[str, Any]], stop: threading.Event) -> None:
    with httpx.stream("GET", url + "/api/v1/events", timeout=httpx.Timeout(30.0)) as answer:
        for line in answer.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            if stop.is_set():
                return


def test_heartbeats_and_events_reach_the_other_orchestrator(
    tmp_path: Path, fresh_postgres_url: str
) -> None:
    db = ["--database-url", fresh_postgres_url]
    a = OrchestratorProcess(tmp_path / "a", name="orch-a", args=db)
    b = OrchestratorProcess(tmp_path / "b", name="orch-b", args=db)
    sup = SupervisorProcess(tmp_path / "sv", name="cam", args=["--orchestrator", a.url])
    events: list[dict[str, Any]] = []
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(2) as pool:  # both at once: each takes seconds to start
            list(pool.map(OrchestratorProcess.start, (a, b)))
        follower = threading.Thread(target=_follow, args=(b.url, events, stop), daemon=True)
        follower.start()
        assert wait_until(lambda: bool(events), timeout=10)  # the stream's hello

        def fanin(orch: OrchestratorProcess) -> dict[str, Any]:
            info: dict[str, Any] = orch.get("/api/v1/status").json()["orchestrator"]["fanin"]
            return info

        assert wait_until(lambda: fanin(a)["state"] == fanin(b)["state"] == "up", timeout=10)
        sup.start()

        def on_b() -> dict[str, Any]:
            devices = {d["name"]: d for d in b.get("/api/v1/devices").json()}
            return devices.get("cam", {})

        # B never got a heartbeat over HTTP: it judges the device by A's, relayed.
        assert wait_until(lambda: on_b().get("monitoring") == "heartbeats", timeout=15), on_b()
        assert on_b()["status"] == "active"
        # The registration happened on A: only A published that event.
        assert wait_until(
            lambda: any(e.get("name") == "cam" and e.get("registered") for e in events), 10
        ), events
        assert fanin(a)["received_heartbeats"] == 0  # nobody relays to A: cam talks to A
        since = time.monotonic()
        before = fanin(b)["received_heartbeats"]
        assert wait_until(lambda: fanin(b)["received_heartbeats"] > before, timeout=10)
        assert on_b()["last_heard_s"] <= time.monotonic() - since  # heard of it meanwhile

        # Cut both orchestrators' listening connections: each says so once and comes back.
        with psycopg.connect(fresh_postgres_url, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'wasmfleet-fanin-listen'"
            ).fetchall()
        assert len(cut) == 2
        assert wait_until(lambda: fanin(b)["outages"] == 1 and fanin(b)["state"] == "up", 15)
        after = fanin(b)["received_heartbeats"]
        assert wait_until(lambda: fanin(b)["received_heartbeats"] > after, timeout=10)
        assert b.log().count("fan-in channel wasmfleet_fanin is down") == 1, b.log()
        assert "fan-in channel wasmfleet_fanin is up again" in b.log()
    finally:
        stop.set()
        sup.stop()
        b.stop()
        a.stop()
