"""Moves of one deployment requested together are done together: one under way, and one more
for every request that arrived meanwhile (it reads every device's state when it starts)."""

from __future__ import annotations

import asyncio
from typing import Any

from wasmfleet.orchestrator.healing import SETTLE_S, Healer


class _Deployments:
    def __init__(self) -> None:
        self.locks: dict[str, asyncio.Lock] = {}

    def lock_for(self, deployment_id: str) -> asyncio.Lock:
        return self.locks.setdefault(deployment_id, asyncio.Lock())


def _healer(calls: list[tuple[str, str]], pause: float) -> Healer:
    healer = Healer(None, None, _Deployments(), None)  # type: ignore[arg-type]

    async def move(deployment_id: str, why: str) -> None:
        calls.append((deployment_id, why))
        await asyncio.sleep(pause)

    healer._move = move  # type: ignore[method-assign]
    return healer


def test_ten_deaths_at_once_move_a_shared_deployment_twice_not_ten_times() -> None:
    calls: list[tuple[str, str]] = []

    async def scenario() -> Any:
        healer = _healer(calls, 0.05)
        await asyncio.gather(
            *(healer.move("everywhere", f"d{i} is dead") for i in range(10)),
            healer.move("other", "d3 is dead"),
        )
        return healer

    healer = asyncio.run(scenario())
    assert [c[0] for c in calls].count("everywhere") == 2
    assert ("everywhere", "d0 is dead") in calls  # the first, under way at once
    joined = next(why for dep, why in calls if dep == "everywhere" and why != "d0 is dead")
    assert joined == "d1 is dead; d2 is dead; d3 is dead; and 6 more"
    assert ("other", "d3 is dead") in calls  # another deployment is not held back
    assert healer.coalesced == 8 and not healer._waiting


def test_a_move_cancelled_while_waiting_does_not_swallow_later_ones() -> None:
    calls: list[tuple[str, str]] = []

    async def scenario() -> None:
        healer = _healer(calls, 0.05)
        first = asyncio.create_task(healer.move("d", "a"))
        await asyncio.sleep(0.01)
        waiting = asyncio.create_task(healer.move("d", "b"))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await asyncio.gather(first, waiting, return_exceptions=True)
        await healer.move("d", "c")  # must run, not join the cancelled one

    asyncio.run(scenario())
    assert calls == [("d", "a"), ("d", "c")]


def test_devices_registering_together_cause_one_retry() -> None:
    retries: list[str] = []

    async def scenario() -> None:
        healer = _healer([], 0.0)

        async def retry(why: str) -> None:
            retries.append(why)

        healer.retry = retry  # type: ignore[method-assign]
        for i in range(100):
            healer.fleet_changed(f"sim-{i} registered")
        await asyncio.sleep(SETTLE_S + 0.2)
        healer.fleet_changed("late registered")  # after the settle: a retry of its own
        await asyncio.sleep(SETTLE_S + 0.2)
        await healer.tasks.stop()

    asyncio.run(scenario())
    assert retries == [
        "sim-0 registered; sim-1 registered; sim-2 registered; and 97 more",
        "late registered",
    ]
