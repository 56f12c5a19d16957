"""The dashboard's event hub: fan-out, filters, bounded queues (drop oldest, say so), a
bounded number of streams, the SSE wire format, publishing from a worker thread, close."""

from __future__ import annotations

import asyncio
import json

import pytest

from wasmfleet.core.errors import Unavailable
from wasmfleet.orchestrator.events import EventHub, frame, log_filter


def _parse(chunk: bytes) -> list[tuple[str, object]]:
    out = []
    for block in chunk.decode().split("\n\n"):
        kind, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
        if kind:
            out.append((kind, data))
    return out


def test_frame_is_one_event_with_one_json_data_line() -> None:
    assert frame("device", {"name": "a\nb"}) == b'event: device\ndata: {"name":"a\\nb"}\n\n'


def test_events_reach_subscribers_that_accept_them() -> None:
    async def run() -> list[tuple[str, object]]:
        hub = EventHub()
        sub = hub.subscribe(lambda kind, data: kind == "device")
        stream = hub.stream(sub, {"hello": True})
        first = await anext(stream)
        assert first.startswith(b"retry: 3000\n") and b"event: hello" in first
        hub.publish("log", {"message": "not for me"})
        hub.publish("device", {"name": "cam-1", "status": "dead"})
        got = _parse(await asyncio.wait_for(anext(stream), 2))
        await stream.aclose()
        assert hub.subscribers == 0
        return got

    assert asyncio.run(run()) == [("device", {"name": "cam-1", "status": "dead"})]


def test_a_slow_client_loses_the_oldest_and_is_told() -> None:
    async def run() -> list[tuple[str, object]]:
        hub = EventHub(queue_size=3)
        sub = hub.subscribe(lambda kind, data: True)
        stream = hub.stream(sub, {})
        await anext(stream)
        for i in range(5):
            hub.publish("execution", {"i": i})
        got = _parse(await anext(stream)) + _parse(await anext(stream))
        await stream.aclose()
        return got

    got = asyncio.run(run())
    assert got[0][0] == "dropped" and got[0][1]["count"] == 2  # type: ignore[index]
    assert [d for k, d in got[1:]] == [{"i": 2}, {"i": 3}, {"i": 4}]


def test_the_number_of_streams_is_bounded_with_a_sentence() -> None:
    async def run() -> None:
        hub = EventHub(max_subscribers=1)
        hub.subscribe(lambda kind, data: True)
        with pytest.raises(Unavailable, match="live streams"):
            hub.subscribe(lambda kind, data: True)

    asyncio.run(run())


def test_publishing_from_a_worker_thread_and_closing() -> None:
    async def run() -> tuple[list[tuple[str, object]], list[bytes]]:
        hub = EventHub()
        sub = hub.subscribe(lambda kind, data: True)
        stream = hub.stream(sub, {})
        await anext(stream)
        await asyncio.to_thread(hub.publish, "log", {"message": "from a thread"})
        got = _parse(await asyncio.wait_for(anext(stream), 2))
        hub.close()
        rest = [chunk async for chunk in stream]  # ends at once
        return got, rest

    got, rest = asyncio.run(run())
    assert got == [("log", {"message": "from a thread"})] and rest == []


def test_heartbeats_are_published_at_most_every_few_seconds_per_device() -> None:
    async def run() -> int:
        hub = EventHub()
        sub = hub.subscribe(lambda kind, data: True)
        for _ in range(5):
            hub.heartbeat("cam-1", {"cpu": 0.1})
        hub.heartbeat("cam-2", {"cpu": 0.2})
        return len(sub.queue)

    assert asyncio.run(run()) == 2


def test_log_filter() -> None:
    accept = log_filter("cam-1", "dep", "warning", "Disk")
    entry = {
        "device": "cam-1",
        "level": "ERROR",
        "message": "disk full",
        "data": {"deploymentId": "dep"},
    }
    assert accept("log", entry)
    assert not accept("device", entry)
    assert not accept("log", {**entry, "device": "cam-2"})
    assert not accept("log", {**entry, "level": "INFO"})
    assert not accept("log", {**entry, "message": "ok"})
    assert not accept("log", {**entry, "data": {}})
    assert log_filter(None, None, None, None)("log", {"message": "x", "data": None})
