"""The fan-in channel's pure parts: payload packing under PostgreSQL's limit, large events
shrunk, own echoes skipped, others' events delivered here and not forwarded again, late
(out-of-order) heartbeats dropped but a restarted device's low seq accepted."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from wasmfleet.core.device_wire import Heartbeat
from wasmfleet.orchestrator.events import EventHub
from wasmfleet.orchestrator.fanin import (
    ALONE_S,
    GONE_S,
    MAX_PAYLOAD,
    PACE_S,
    FanIn,
    event_item,
    pack,
)
from wasmfleet.orchestrator.monitor import CALM_S, LAG_S


class _Monitor:
    def __init__(self) -> None:
        self.beats: list[tuple[str, int | None, bool]] = []
        self.holds: list[float] = []

    def hold(self, seconds: float, now: float | None = None, *, why: str = "") -> None:
        assert why  # every hold says why, for the log
        self.holds.append(seconds)

    async def heartbeat(self, beat: Heartbeat, *, remote: bool = False) -> bool:
        self.beats.append((beat.name, beat.seq, remote))
        return True


def _beat(name: str, seq: int, interval: float = 0.5) -> list[Any]:
    return ["b", name, seq, interval, {"cpu": 0.1, "memory": 0.2}]


def _note(origin: str, *items: list[Any]) -> str:
    return orjson.dumps({"o": origin, "t": 1.0, "i": list(items)}).decode()


def test_pack_fills_payloads_below_the_limit_in_order() -> None:
    items = [(float(i), orjson.dumps(_beat(f"device-{i:05d}", i))) for i in range(2000)]
    payloads = pack("me", items)
    assert len(payloads) > 1
    seen: list[list[Any]] = []
    for payload in payloads:
        assert len(payload.encode()) < MAX_PAYLOAD
        doc = orjson.loads(payload)
        assert doc["o"] == "me"
        assert doc["t"] == float(doc["i"][0][2])  # when its oldest item was queued
        seen += doc["i"]
    assert seen == [orjson.loads(item) for _, item in items]


def test_a_large_event_keeps_its_short_scalar_fields() -> None:
    item = event_item("execution", {"id": "e1", "status": "ok", "result": "x" * 20_000})
    assert item is not None
    assert orjson.loads(item) == ["e", "execution", {"id": "e1", "status": "ok", "truncated": True}]
    small = event_item("device", {"name": "a"})
    assert small is not None and orjson.loads(small) == ["e", "device", {"name": "a"}]


def test_others_events_reach_streams_here_once_and_own_echoes_are_skipped() -> None:
    async def run() -> tuple[list[Any], list[Any]]:
        hub = EventHub()
        fan = FanIn("postgresql://unused", origin="me")
        forwarded: list[Any] = []
        hub.forward = lambda kind, data: forwarded.append((kind, data))
        fan.events = hub
        sub = hub.subscribe(lambda kind, data: True)
        await fan.received(_note("me", ["e", "device", {"name": "mine"}]))
        await fan.received(_note("other", ["e", "device", {"name": "theirs"}]))
        await fan.received("not json")
        hub.publish("log", {"message": "local"})
        return list(sub.queue), forwarded

    queued, forwarded = asyncio.run(run())
    assert queued == [("device", {"name": "theirs"}), ("log", {"message": "local"})]
    assert forwarded == [("log", {"message": "local"})]  # a received event is not sent back


def test_late_heartbeats_are_dropped_and_a_restart_is_accepted() -> None:
    async def run() -> tuple[_Monitor, FanIn]:
        now = [100.0]
        fan = FanIn("postgresql://unused", origin="me", clock=lambda: now[0])
        monitor = _Monitor()
        fan.monitor = monitor  # type: ignore[assignment]
        fan.beat(Heartbeat({"name": "cam", "seq": 7, "interval_s": 0.02}))  # direct, here
        await fan.received(_note("other", _beat("cam", 6, 0.02), _beat("cam", 8, 0.02)))
        await fan.received(_note("other", _beat("cam", 8, 0.02), ["b", "bad name!", 1, 1, {}]))
        now[0] += 0.05  # more than two intervals later: a low seq is a restart
        await fan.received(_note("other", _beat("cam", 1, 0.02)))
        return monitor, fan

    monitor, fan = asyncio.run(run())
    assert monitor.beats == [("cam", 8, True), ("cam", 1, True)]
    assert fan.out_of_order == 2
    assert fan.stats()["received_heartbeats"] == 4


def test_sqlite_means_no_channel() -> None:
    fan = FanIn(None)
    fan.beat(Heartbeat({"name": "cam", "seq": 1}))
    fan.event("device", {"name": "cam"})
    assert fan.stats()["state"] == "off" and fan.stats()["queued"] == 0


def test_a_payload_relayed_late_holds_judgement_and_a_fresh_one_does_not() -> None:
    async def run() -> _Monitor:
        fan = FanIn("postgresql://unused", origin="me")
        monitor = _Monitor()
        fan.monitor = monitor  # type: ignore[assignment]
        fresh = orjson.dumps({"o": "other", "t": time.time(), "i": [_beat("a", 1)]}).decode()
        await fan.received(fresh)
        assert monitor.holds == []
        late = orjson.dumps({"o": "other", "t": time.time() - 2.0, "i": [_beat("a", 2)]})
        await fan.received(late.decode())
        return monitor

    monitor = asyncio.run(run())
    assert monitor.holds == [CALM_S]


def test_a_streaming_peer_that_goes_quiet_holds_judgement_until_it_is_gone() -> None:
    async def run() -> None:
        now = [0.0]
        fan = FanIn("postgresql://unused", origin="me", clock=lambda: now[0])
        fan.monitor = _Monitor()  # type: ignore[assignment]
        few = orjson.dumps({"o": "few", "t": time.time(), "i": [_beat("x", 1)]}).decode()
        for i in range(60):  # "busy" streams 50 notifications a second; "few" sends 1
            now[0] = i * 0.02
            beat = _beat(f"d{i}", i + 1)
            await fan.received(orjson.dumps({"o": "busy", "t": time.time(), "i": [beat]}).decode())
        await fan.received(few)
        last = now[0]
        assert not fan.peers_quiet(last + LAG_S / 2)  # a pause shorter than a lag
        assert fan.peers_quiet(last + LAG_S * 2)  # the streaming peer went quiet
        assert not fan.peers_quiet(last + GONE_S + 0.1)  # gone: its devices report elsewhere
        assert not fan.peers_quiet(last + GONE_S + 0.2)

    asyncio.run(run())


def test_a_peers_clock_offset_is_not_lateness() -> None:
    """A peer whose clock runs 5 s behind sends payloads that look 5 s late from the first
    one on: only lateness beyond the least lag seen from it holds judgement."""

    async def run() -> tuple[_Monitor, FanIn]:
        fan = FanIn("postgresql://unused", origin="me")
        monitor = _Monitor()
        fan.monitor = monitor  # type: ignore[assignment]
        for seq in range(1, 6):
            skewed = {"o": "other", "t": time.time() - 5.0, "i": [_beat("a", seq)]}
            await fan.received(orjson.dumps(skewed).decode())
        assert monitor.holds == []
        later = {"o": "other", "t": time.time() - 6.0, "i": [_beat("a", 9)]}  # 1 s behind it
        await fan.received(orjson.dumps(later).decode())
        return monitor, fan

    monitor, fan = asyncio.run(run())
    assert monitor.holds == [CALM_S] and fan.stats()["late"] == 1


class _Conn:
    """A publishing connection that answers at once and counts its round trips."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.items = 0

    async def execute(self, query: str, params: tuple[str, list[str]]) -> None:
        self.round_trips += 1
        self.items += sum(len(orjson.loads(p)["i"]) for p in params[1])


def test_heartbeats_under_load_leave_in_paced_groups_and_a_lone_one_at_once() -> None:
    async def run() -> tuple[int, int, float, int]:
        fan = FanIn("postgresql://unused", origin="me")
        fan._wake = asyncio.Event()
        await fan.received(_note("peer"))  # another orchestrator is there: publish
        conn = _Conn()
        publisher = asyncio.create_task(fan._publish(conn, lambda: None))
        await asyncio.sleep(0.005)
        assert conn.round_trips == 1  # hello: the others start publishing to us
        fan.beat(Heartbeat({"name": "lone", "seq": 1, "interval_s": 0.5}))
        await asyncio.sleep(0.03)
        lone = conn.round_trips - 1  # it left without waiting for company
        started = time.monotonic()
        for i in range(100):  # a heartbeat every ~2 ms, as 1,000 devices at 2/s would send
            fan.beat(Heartbeat({"name": f"d{i}", "seq": 1, "interval_s": 0.5}))
            await asyncio.sleep(0.002)
        elapsed = time.monotonic() - started
        for _ in range(100):
            if conn.items >= 102:
                break
            await asyncio.sleep(0.01)
        publisher.cancel()
        return lone, conn.round_trips, elapsed, conn.items

    lone, trips, elapsed, items = asyncio.run(run())
    assert lone == 1
    assert items == 102  # the hello and every heartbeat
    # One round trip per PACE_S at most while they keep coming (unpaced: one per heartbeat).
    assert trips <= 2 + elapsed / PACE_S + 2


def test_nothing_is_published_until_another_orchestrator_is_heard() -> None:
    now = [100.0]
    fan = FanIn("postgresql://unused", origin="me", clock=lambda: now[0])
    fan._wake = asyncio.Event()
    fan.beat(Heartbeat({"name": "a", "seq": 1, "interval_s": 0.5}))
    fan.event("device", {"name": "a"})
    assert len(fan._out) == 0 and not fan.stats()["peers"]
    asyncio.run(fan.received(_note("peer")))  # any notification of theirs, a hello too
    fan.beat(Heartbeat({"name": "a", "seq": 2, "interval_s": 0.5}))
    fan.event("device", {"name": "a"})
    assert len(fan._out) == 2 and fan.stats()["peers"]
    now[0] += ALONE_S + 0.1  # the peer stopped saying hello
    fan.beat(Heartbeat({"name": "a", "seq": 3, "interval_s": 0.5}))
    assert len(fan._out) == 2


def test_events_go_out_only_while_another_orchestrator_has_streams_open() -> None:
    now = [100.0]
    fan = FanIn("postgresql://unused", origin="me", clock=lambda: now[0])
    fan._wake = asyncio.Event()
    quiet = orjson.dumps({"o": "peer", "t": 1.0, "s": 0, "i": []}).decode()
    asyncio.run(fan.received(quiet))  # a peer with no dashboard open
    fan.event("device", {"name": "a"})
    fan.beat(Heartbeat({"name": "a", "seq": 1, "interval_s": 0.5}))
    assert len(fan._out) == 1  # the heartbeat only: its leader must see it
    watching = orjson.dumps({"o": "peer", "t": 1.0, "s": 2, "i": []}).decode()
    asyncio.run(fan.received(watching))
    fan.event("device", {"name": "a"})
    assert len(fan._out) == 2
    hub = EventHub()
    fan.events = hub
    hub.watched = fan.announce

    async def open_stream() -> None:
        hub.subscribe(lambda kind, data: True)

    asyncio.run(open_stream())  # the first stream here: say so at once, with the count
    assert orjson.loads(fan._out[-1][1]) == ["p"]
    assert '"s":1,' in pack("me", [fan._out[-1]], hub.subscribers)[0]
