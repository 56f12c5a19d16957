"""The leader lease in the store (SQLite and PostgreSQL): rounds, takeover, fenced writes."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.integration.test_store_devices import device
from wasmfleet.core.errors import NotLeader
from wasmfleet.core.leadership import Decision
from wasmfleet.orchestrator.store import Store
from wasmfleet.orchestrator.store.fence import fenced

TTL = 0.3


def test_one_leader_then_a_successor_with_the_next_fencing_number(
    orchestrator_store: Store,
) -> None:
    store = orchestrator_store
    assert store.schema_version >= 10
    a = store.lease_round("a", None, TTL)
    assert (a.decision, a.won, a.lease.holder, a.lease.fencing) == (Decision.TAKE, True, "a", 1)
    b = store.lease_round("b", None, TTL)
    assert (b.decision, b.won, b.lease.holder) == (Decision.FOLLOW, False, "a")
    renewed = store.lease_round("a", 1, TTL)
    assert (renewed.decision, renewed.won, renewed.lease.fencing) == (Decision.RENEW, True, 1)

    time.sleep(TTL + 0.05)  # a stops renewing (paused): its lease runs out
    b = store.lease_round("b", None, TTL)
    assert (b.decision, b.won, b.lease.holder, b.lease.fencing) == (Decision.TAKE, True, "b", 2)
    # a wakes up: the row is not its own any more; it does not write and learns it lost.
    late = store.lease_round("a", 1, TTL)
    assert not late.won and late.lease.holder == "b"
    lease = store.get_lease()
    assert lease is not None and (lease.holder, lease.fencing) == ("b", 2)


def test_a_write_under_an_old_fencing_number_is_refused_and_writes_nothing(
    orchestrator_store: Store,
) -> None:
    store = orchestrator_store
    store.upsert_device(device("cam-1"))
    store.lease_round("a", None, TTL)
    with fenced(1):
        store.set_device_status("cam-1", "suspect", "a's judgement while it leads")
    time.sleep(TTL + 0.05)
    store.lease_round("b", None, TTL)
    with fenced(1), pytest.raises(NotLeader, match="held by b under number 2"):
        store.set_device_status("cam-1", "dead", "a's judgement after it lost the lease")
    assert store.refused_writes == 1
    found = store.get_device("cam-1")
    assert found is not None and found.status == "suspect"
    with fenced(2):
        store.set_device_status("cam-1", "active", "b's judgement")
    # Requests (no fence) are served by any orchestrator, leader or not.
    store.set_device_status("cam-1", "active", "an API request")


def test_release_lets_a_successor_take_over_at_once(orchestrator_store: Store) -> None:
    store = orchestrator_store
    store.lease_round("a", None, 30.0)
    assert not store.release_lease("b", 1)  # not b's to release
    assert store.release_lease("a", 1)
    b = store.lease_round("b", None, 30.0)
    assert (b.won, b.lease.fencing) == (True, 2)


def test_electors_hand_over_and_a_woken_leader_stands_down(orchestrator_store: Store) -> None:
    from wasmfleet.orchestrator.leadership import LeaderElector

    events: list[str] = []
    now = [0.0]

    async def scenario() -> None:
        a = LeaderElector(orchestrator_store, "a", TTL, clock=lambda: now[0])
        b = LeaderElector(orchestrator_store, "b", TTL)

        async def gained(name: str, fencing: int) -> None:
            events.append(f"{name} leads under {fencing}")

        async def lost(name: str) -> None:
            events.append(f"{name} stops")

        for elector in (a, b):
            elector.on_gained.append(lambda n, e=elector: gained(e.me, n))
            elector.on_lost.append(lambda e=elector: lost(e.me))
        await a.round()
        await b.round()
        assert a.leading and a.fence() == 1 and not b.leading and b.fence() is None
        context = a.context()
        assert context is not None
        now[0] += TTL  # a is paused past its lease: it must not act, before any round runs
        assert a.fence() is None and a.context() is None
        await asyncio.sleep(TTL + 0.05)
        await b.round()
        assert b.fence() == 2
        await a.round()  # a wakes: the lease moved on
        assert not a.leading and a.lost == 1 and a.view()["holder"] == "b"
        # Its work's writes would be refused (fenced under 1): see the test above.
        await b.stop()  # a clean stop lets the lease expire at once
        await a.round()
        assert a.fence() == 3

    asyncio.run(scenario())
    assert events == ["a leads under 1", "b leads under 2", "a stops", "b stops", "a leads under 3"]
