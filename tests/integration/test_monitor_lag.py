"""A held event loop is not evidence against the devices: after the detector's own tick comes
late, nobody is judged until the heartbeats that waited in the socket buffers have been read
(orchestrator/monitor.py LAG_S, CALM_S); a device that stays silent is still declared dead."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.integration.test_store_devices import device
from wasmfleet.core.device_wire import Heartbeat
from wasmfleet.orchestrator.monitor import CALM_S, FleetMonitor
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import open_store


def _scenario(tmp_path: Path, *, beats_after_lag: bool) -> tuple[str | None, int, int]:
    store = open_store(f"sqlite:///{tmp_path / 'o.db'}")
    store.upsert_device(device("cam-1"))
    store.set_device_status("cam-1", "active", "registered")
    offset = [0.0]

    def clock() -> float:
        return time.monotonic() + offset[0]

    settings = OrchestratorSettings(data_dir=tmp_path, monitor_tick_s=0.02)
    monitor = FleetMonitor(store, settings, clock=clock)

    async def scenario() -> str | None:
        for _ in range(8):
            await monitor.heartbeat(Heartbeat({"name": "cam-1", "interval_s": 0.05}))
            await asyncio.sleep(0.05)
        runner = asyncio.create_task(monitor.run())
        await asyncio.sleep(0.1)
        offset[0] += 30.0  # the loop was "held" 30 s: the detector's next tick is 30 s late
        await asyncio.sleep(CALM_S / 2)
        status_in_calm = monitor.status("cam-1")
        assert status_in_calm == "active", "judged while the waiting heartbeats were unread"
        if beats_after_lag:
            for _ in range(int(CALM_S / 0.05) + 12):  # through the calm and beyond it
                await monitor.heartbeat(Heartbeat({"name": "cam-1", "interval_s": 0.05}))
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(CALM_S)
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        return monitor.status("cam-1")

    try:
        return asyncio.run(scenario()), monitor.skipped_rounds, monitor.holds
    finally:
        store.close()


def test_a_device_that_heartbeats_after_the_loop_was_held_is_never_judged_dead(
    tmp_path: Path,
) -> None:
    status, skipped, holds = _scenario(tmp_path, beats_after_lag=True)
    assert status == "active"
    assert skipped >= 2  # the late round and the calm after it
    assert holds == 1  # one hold, counted (and logged) once


def test_a_device_silent_after_the_calm_is_declared_dead(tmp_path: Path) -> None:
    status, _, _ = _scenario(tmp_path, beats_after_lag=False)
    assert status == "dead"
