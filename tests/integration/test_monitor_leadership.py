"""The failure detector under leader election: a follower judges in memory only; what it judged
is written, as transitions told to the listeners, once it leads (store on SQLite)."""

from __future__ import annotations

import asyncio
import contextvars
from pathlib import Path

from tests.integration.test_store_devices import device
from wasmfleet.core.device_wire import Heartbeat
from wasmfleet.core.failure_detector import Transition
from wasmfleet.orchestrator.monitor import FleetMonitor
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import open_store
from wasmfleet.orchestrator.store.fence import FENCE


def test_a_follower_judges_in_memory_and_writes_when_it_leads(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    store.upsert_device(device("cam-1"))
    store.set_device_status("cam-1", "active", "registered")
    now = [0.0]
    monitor = FleetMonitor(store, OrchestratorSettings(data_dir=tmp_path), clock=lambda: now[0])
    told: list[Transition] = []

    async def listener(transition: Transition) -> None:
        told.append(transition)

    monitor.listeners.append(listener)
    leading: list[contextvars.Context] = []
    monitor.acting = lambda: leading[0] if leading else None

    async def scenario() -> None:
        for _ in range(6):
            await monitor.heartbeat(Heartbeat({"name": "cam-1", "interval_s": 0.5}))
            now[0] += 0.5
        now[0] += 30.0
        await monitor.evaluate(now[0])  # silent for 30 s: dead, in this follower's memory
        assert monitor.status("cam-1") == "dead"
        await monitor.catch_up()  # still following: nothing to write yet
        found = store.get_device("cam-1")
        assert found is not None and found.status == "active" and told == []

        fencing = store.lease_round("me", None, 30.0).lease.fencing
        context = contextvars.copy_context()
        context.run(FENCE.set, fencing)
        leading.append(context)
        await monitor.catch_up()

    try:
        asyncio.run(scenario())
        found = store.get_device("cam-1")
        assert found is not None and found.status == "dead"
        assert [(t.previous, t.status) for t in told] == [("active", "dead")]
        assert (
            store.status_log("cam-1")[-1].reason == "judged dead by the orchestrator that leads now"
        )
    finally:
        store.close()
