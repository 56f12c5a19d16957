"""Live events for the dashboard: an in-process hub and its server-sent-event streams.

The monitor, deployments, executions, log ingestion and rollouts ``publish(kind, data)``
(from the event loop or from a worker thread); each subscriber (one per open
``/api/v1/events`` or ``/api/v1/logs/stream`` answer) has a bounded queue. A slow client
loses its oldest events and is told so with a ``dropped`` event; the number of subscribers
is bounded (one more answers 503 with a sentence). Nothing is stored: a client that
reconnects reloads what it shows from the API and then follows the stream again.

Wire format (``text/event-stream``): ``retry: 3000`` once, then per event
``event: <kind>`` + ``data: <one JSON line>``, and a ``: keep-alive`` comment every
``heartbeat_s`` so proxies and the browser see the connection alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from wasmfleet.core.errors import Unavailable

KINDS = ("device", "deployment", "execution", "log", "rollout", "install")
"""The kinds of event the hub carries (plus ``dropped`` and ``hello`` on each stream)."""
QUEUE_SIZE = 1000
"""Events kept per subscriber before the oldest are dropped."""
MAX_SUBSCRIBERS = 64
"""Open streams at most (the dashboard opens one or two per browser tab)."""
HEARTBEAT_S = 15.0
RETRY_MS = 3000
HEARTBEAT_EVERY_S = 5.0
"""A device's heartbeat is published at most this often per device."""


Notify = Callable[[str, dict[str, Any]], None]
"""How a service tells the hub of a change: ``notify(kind, data)``."""


def quiet(kind: str, data: dict[str, Any]) -> None:
    """A ``Notify`` that tells nobody (a service used without a hub, as in tests)."""


class TooManyStreams(Unavailable):
    """The hub already has its maximum of subscribers."""


@dataclass(eq=False)
class Subscriber:
    """One open stream: a bounded queue and a filter."""

    accept: Callable[[str, dict[str, Any]], bool]
    queue: deque[tuple[str, dict[str, Any]]] = field(default_factory=lambda: deque())
    dropped: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class EventHub:
    """Fans published events out to the open streams; bounded in clients and queue size."""

    def __init__(
        self,
        *,
        queue_size: int = QUEUE_SIZE,
        max_subscribers: int = MAX_SUBSCRIBERS,
        heartbeat_s: float = HEARTBEAT_S,
    ) -> None:
        self.queue_size = queue_size
        self.max_subscribers = max_subscribers
        self.heartbeat_s = heartbeat_s
        self.published = 0
        self._subs: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._beats: dict[str, float] = {}
        self._lock = threading.Lock()
        self.closed = False
        self.forward: Notify | None = None
        self.watched: Callable[[], None] | None = None
        """Told when the first stream opens (fanin.py: the other orchestrators start sending
        their events here)."""
        """Also sends each event published here to the other orchestrators (fanin.py)."""

    @property
    def subscribers(self) -> int:
        """How many streams are open."""
        return len(self._subs)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send an event to every subscriber that accepts it (safe from any thread)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop:
            self._local(kind, data)
        elif self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._local, kind, data)

    def deliver_remote(self, kind: str, data: dict[str, Any]) -> None:
        """An event another orchestrator published: to the streams here, not forwarded again."""
        self._deliver(kind, data)

    def _local(self, kind: str, data: dict[str, Any]) -> None:
        self._deliver(kind, data)
        if self.forward is not None:
            self.forward(kind, data)

    def heartbeat(self, device: str, usage: dict[str, Any]) -> None:
        """A device's heartbeat as a ``device`` event, at most every few seconds per device."""
        now = time.monotonic()
        with self._lock:
            if now - self._beats.get(device, -1e9) < HEARTBEAT_EVERY_S:
                return
            self._beats[device] = now
            if len(self._beats) > 100_000:  # bounded: forget the oldest half
                for key in sorted(self._beats, key=self._beats.__getitem__)[:50_000]:
                    del self._beats[key]
        self.publish("device", {"name": device, "heartbeat": True, "usage": usage})

    def _deliver(self, kind: str, data: dict[str, Any]) -> None:
        self.published += 1
        for sub in self._subs:
            if not sub.accept(kind, data):
                continue
            if len(sub.queue) >= self.queue_size:
                sub.queue.popleft()
                sub.dropped += 1
            sub.queue.append((kind, data))
            sub.wake.set()

    def subscribe(self, accept: Callable[[str, dict[str, Any]], bool]) -> Subscriber:
        """A new subscriber, or TooManyStreams."""
        self._loop = asyncio.get_running_loop()
        if len(self._subs) >= self.max_subscribers:
            raise TooManyStreams(
                f"This orchestrator already serves {self.max_subscribers} live streams; "
                "close another dashboard tab or try again later."
            )
        sub = Subscriber(accept)
        self._subs.add(sub)
        if len(self._subs) == 1 and self.watched is not None:
            self.watched()
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget a subscriber (its stream ended)."""
        self._subs.discard(sub)

    def close(self) -> None:
        """End every stream now (the server is stopping; safe from a signal handler)."""
        self.closed = True
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        for sub in list(self._subs):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(sub.wake.set)

    def bind(self) -> None:
        """Remember the running loop so threads can publish before anyone subscribes."""
        self._loop = asyncio.get_running_loop()

    async def stream(self, sub: Subscriber, hello: dict[str, Any]) -> AsyncIterator[bytes]:
        """The SSE bytes of one subscriber until the client goes away."""
        try:
            yield f"retry: {RETRY_MS}\n".encode() + frame("hello", hello)
            while not self.closed:
                if not sub.queue:
                    sub.wake.clear()
                    try:
                        await asyncio.wait_for(sub.wake.wait(), self.heartbeat_s)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if self.closed:
                        return
                if sub.dropped:
                    lost, sub.dropped = sub.dropped, 0
                    yield frame(
                        "dropped",
                        {
                            "count": lost,
                            "message": f"{lost} events were dropped because this client "
                            "read too slowly; reload to see the current state.",
                        },
                    )
                chunk: list[bytes] = []
                while sub.queue and len(chunk) < 100:
                    kind, data = sub.queue.popleft()
                    chunk.append(frame(kind, data))
                yield b"".join(chunk)
        finally:
            self.unsubscribe(sub)


def frame(kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event: ``event:`` line, one ``data:`` line of JSON, blank line."""
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data, default=str) + b"\n\n"


def log_filter(
    device: str | None, deployment: str | None, level: str | None, q: str | None
) -> Callable[[str, dict[str, Any]], bool]:
    """Accept ``log`` events that match every given filter (level = that level or worse)."""
    order = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
    least = order.get(level.upper(), 0) if level else 0
    needle = q.lower() if q else None

    def accept(kind: str, data: dict[str, Any]) -> bool:
        if kind != "log":
            return False
        if device and data.get("device") != device:
            return False
        if least and order.get(str(data.get("level", "")).upper(), 0) < least:
            return False
        extra = data.get("data")
        if not isinstance(extra, dict):
            extra = {}
        if deployment and deployment not in (
            extra.get("deployment"),
            extra.get("deploymentId"),
            extra.get("deployment_id"),
        ):
            return False
        return not needle or needle in str(data.get("message", "")).lower()

    return accept
