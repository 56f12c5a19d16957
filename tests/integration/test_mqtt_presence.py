"""The name check of the supervisor's MQTT link in one process, on a real Mosquitto.

Two ``BrokerLink``s with one client id stand for two supervisors with one name; short check
intervals keep the tests quick (the supervisor uses a 3 s ping timeout and a 30 s recheck).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.mqtt import MosquittoProcess, running_mosquitto
from tests.streams_support import broker, publish
from wasmfleet.core.broker_url import BrokerAddress, parse_broker_url
from wasmfleet.supervisor.mqtt_link import BrokerLink, Delivery
from wasmfleet.supervisor.mqtt_presence import NameClaim, Presence

__all__ = ["broker"]  # fixture


def link(address: BrokerAddress, path: Path, **claim: float) -> BrokerLink:
    """A link with client id ``wasmfleet-edge`` and quick name checks."""
    checks = {"ping_timeout": 0.5, "recheck_s": 0.5, **claim}
    return BrokerLink(
        address,
        client_id="wasmfleet-edge",
        capacity=16,
        state_path=path,
        on_message=lambda delivery: None,
        claim=NameClaim(address, "wasmfleet-edge", **checks),
    )


async def until(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``check`` on the event loop until it holds (True) or ``timeout`` passes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 60))


def test_a_held_off_link_connects_once_the_holder_stops(
    broker: MosquittoProcess, tmp_path: Path
) -> None:
    address = parse_broker_url(broker.url)

    async def body() -> None:
        first, second = link(address, tmp_path / "a.json"), link(address, tmp_path / "b.json")
        first.start()
        assert await until(lambda: first.connected)
        second.start()
        try:
            assert await until(lambda: second.name_conflict is not None)
            conflict = second.name_conflict
            assert conflict is not None and conflict["kind"] == "in_use"
            assert conflict["holder"]["instance"] == first.claim.instance
            assert first.connected and first.stats.connects == 1
            await first.stop()  # says "offline": the next check finds the name free
            assert await until(lambda: second.connected)
            assert second.name_conflict is None and second.stats.last_error is None
        finally:
            await second.stop()
            await first.stop()

    run(body)


def test_a_stale_online_presence_delays_a_restart_by_the_ping_timeout_only(
    broker: MosquittoProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A device that lost power leaves "online" retained until the broker gives up on its
    # connection (1.5 x keepalive). Nobody answers the ping: the restart takes the name.
    ghost = Presence(True, "0" * 32, "gone", 4242, 1.0e9)
    publish(broker.url, "wasmfleet/presence/wasmfleet-edge", ghost.to_bytes(), retain=True)
    address = parse_broker_url(broker.url)

    async def body() -> None:
        restarted = link(address, tmp_path / "a.json")
        with caplog.at_level(logging.WARNING, logger="wasmfleet.supervisor.mqtt"):
            restarted.start()
            try:
                assert await until(lambda: restarted.connected)
                assert restarted.name_conflict is None
            finally:
                await restarted.stop()
        assert "does not answer: taking its session over" in caplog.text

    run(body)


def test_a_held_off_link_needs_two_silent_checks_before_taking_over(
    broker: MosquittoProcess, tmp_path: Path
) -> None:
    address = parse_broker_url(broker.url)

    async def body() -> None:
        holder = link(address, tmp_path / "a.json")
        waiting = link(address, tmp_path / "b.json", recheck_s=1.0)
        holder.start()
        assert await until(lambda: holder.connected)
        waiting.start()
        try:
            assert await until(lambda: waiting.name_conflict is not None)
            # The holder stops answering pings (its presence stays "online"): the first
            # silent check only warns, the second one takes over.
            holder.claim.pong = lambda payload: None  # type: ignore[method-assign]
            assert await until(lambda: (waiting.name_conflict or {}).get("kind") == "silent")
            assert not waiting.connected
            assert await until(lambda: waiting.connected)
        finally:
            await waiting.stop()
            await holder.stop()

    run(body)


def test_a_broker_that_hides_the_presence_topic_gets_no_check_but_a_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite numbers/#\n")  # nothing under wasmfleet/presence/
    with running_mosquitto(tmp_path / "mosquitto", extra=[f"acl_file {acl}"]) as broker_process:
        address = parse_broker_url(broker_process.url)
        seen: list[Delivery] = []

        async def body() -> None:
            only = link(address, tmp_path / "a.json")
            only._on_message = seen.append
            with caplog.at_level(logging.WARNING, logger="wasmfleet.supervisor.mqtt"):
                only.start()
                try:
                    assert await until(lambda: only.connected)
                    only.set_subscriptions({"numbers/in": 1})
                    assert await until(lambda: only.active == ["numbers/in"])
                finally:
                    await only.stop()

        run(body)
    assert "cannot check whether another supervisor uses this MQTT client id" in caplog.text
