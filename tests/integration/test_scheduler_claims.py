"""The scheduler on a real database: two orchestrators sharing one SQLite file claim the same
fire and exactly one acts on it; a fire found late follows the install's ``missed`` policy.

Window-mode installs are used because installing one deploys nothing (its window deploys);
with no devices the window's deploy fails, which the winner records on the fire's row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import MODULES
from wasmfleet.core.places import parse_thing
from wasmfleet.orchestrator.auth import Identity
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store.installs import InstallRecord

APP = b"""
name: lab-window
needs:
  room_temp: {sensor: temperature}
  room_fan: {controller: fan, exclusive: true}
  logic: {module: counter}
steps:
  - {module: logic, function: count, uses: [room_temp, room_fan]}
"""
WHO = Identity("tester")


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Orchestrator, Orchestrator]]:
    settings = OrchestratorSettings(data_dir=tmp_path / "shared", mdns=False)
    first, second = Orchestrator(settings), Orchestrator(settings)
    store = first.store
    first.modules.push("counter", (MODULES / "counter" / "counter.wasm").read_bytes())
    store.add_location("campus/lab-1", "", "tester")
    for doc in (
        {"kind": "sensor", "name": "t1", "type": "temperature", "location": "campus/lab-1",
         "topic": "campus/lab-1/temp", "outputs": {"celsius": "float"}},
        {"kind": "controller", "name": "f1", "type": "fan", "location": "campus/lab-1",
         "topic": "campus/lab-1/fan", "inputs": {"speed": "int 0..3"}},
        {"kind": "controller", "name": "f2", "type": "fan", "location": "campus/lab-1",
         "topic": "campus/lab-1/fan2", "inputs": {"speed": "int 0..3"}},
    ):  # fmt: skip
        store.add_thing(parse_thing(doc), "tester")
    first.apps.publish(APP, "tester")
    yield first, second
    for orch in (first, second):
        asyncio.run(orch.client.aclose())
        orch.store.close()


def _install(orch: Orchestrator, name: str, missed: str) -> InstallRecord:
    body = {
        "app": "lab-window",
        "location": "campus/lab-1",
        "name": name,
        "schedule": {
            "cron": "0 8 * * *",
            "timezone": "Europe/Helsinki",
            "mode": "window",
            "duration": "8h",
            "missed": missed,
        },
    }
    view, ok = asyncio.run(orch.installs.install(body, WHO))
    assert ok and view["status"] == "pending" and view["deployment"] is None
    found = orch.store.get_install(name)
    assert found is not None and found.next_fire is not None
    return found


def test_two_orchestrators_claim_one_fire_exactly_once(
    pair: tuple[Orchestrator, Orchestrator],
) -> None:
    first, second = pair
    install = _install(first, "win-once", "once")
    assert install.next_fire is not None
    at = install.next_fire + timedelta(seconds=1)

    async def both() -> list[int]:
        return list(await asyncio.gather(first.scheduler.tick(at), second.scheduler.tick(at)))

    assert asyncio.run(both()) == [1, 1]  # both saw the install due
    claims = (first.scheduler.claimed, second.scheduler.claimed)
    assert sorted(claims) == [0, 1], claims
    assert first.scheduler.lost + second.scheduler.lost == 1
    fires = first.store.list_fires(install.id)
    assert len(fires) == 1
    winner = first.scheduler if first.scheduler.claimed else second.scheduler
    assert fires[0].claimed_by == winner.name and fires[0].fire_at == install.next_fire
    # no device runs anything here: the window's deploy fails, recorded by the winner only
    assert fires[0].outcome == "failed" and "device" in (fires[0].detail or "")
    after = first.store.get_install("win-once")
    assert after is not None and after.fired == 1 and after.status == "failed"
    assert after.next_fire is not None and after.next_fire > install.next_fire
    # ticking again at the same moment claims nothing more
    asyncio.run(both())
    assert len(first.store.list_fires(install.id)) == 1


def test_a_late_window_follows_the_missed_policy(pair: tuple[Orchestrator, Orchestrator]) -> None:
    first, _ = pair
    skip = _install(first, "win-skip", "skip")
    assert skip.next_fire is not None
    late = skip.next_fire + timedelta(hours=2)  # down when it opened, back inside the window
    asyncio.run(first.scheduler.tick(late))
    fires = first.store.list_fires(skip.id)
    assert [f.outcome for f in fires] == ["skipped"]
    assert "policy skip" in (fires[0].detail or "")
    after = first.store.get_install("win-skip")
    assert after is not None and after.fired == 0 and after.deployment_id is None
    assert after.next_fire is not None and after.next_fire - skip.next_fire == timedelta(days=1)


def test_a_late_window_with_missed_once_still_opens(
    pair: tuple[Orchestrator, Orchestrator],
) -> None:
    first, _ = pair
    once = _install(first, "win-late", "once")
    assert once.next_fire is not None
    asyncio.run(first.scheduler.tick(once.next_fire + timedelta(hours=2)))
    fires = first.store.list_fires(once.id)
    assert len(fires) == 1 and fires[0].fire_at == once.next_fire
    assert fires[0].outcome == "failed"  # it tried to deploy (no devices here)


def test_a_run_install_that_cannot_be_placed_stores_nothing(
    pair: tuple[Orchestrator, Orchestrator],
) -> None:
    first, _ = pair
    body = {
        "app": "lab-window",
        "location": "campus/lab-1",
        "name": "no-devices",
        "schedule": {"cron": "0 8 * * *", "timezone": "UTC"},
    }
    with pytest.raises(Exception, match="device"):
        asyncio.run(first.installs.install(body, WHO))
    assert first.store.get_install("no-devices") is None
    assert all(h.install != "no-devices" for h in first.store.all_holds())
