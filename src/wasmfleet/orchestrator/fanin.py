"""Heartbeats and live events reach every orchestrator on one PostgreSQL (LISTEN/NOTIFY).

Several orchestrators share one PostgreSQL database; a supervisor heartbeats to one of
them (or to any, behind a load balancer). Each orchestrator feeds its own monitor with the
heartbeats it receives and also queues them here; a publisher task sends the queue as
``NOTIFY wasmfleet_fanin`` payloads (JSON, at most ``MAX_PAYLOAD`` bytes each, as many
items as fit, several payloads per round trip), and a listener task on a second connection
feeds every heartbeat sent by *another* orchestrator (each process has an ``origin`` id;
its own echoes are skipped) to the local monitor, so whichever orchestrator leads sees the
whole fleet. The dashboard's live events (``EventHub``) travel the same way, so an SSE
client on any orchestrator sees every change.

A heartbeat on the channel carries the device name, its sequence number, its interval and
the usage summary (CPU, memory): what the failure detector and the usage charts need, not
the stream counters or deployment epochs (the receiving orchestrator answers those). A
heartbeat older than the newest one already seen for that device (its ``seq`` is not
larger, and the newer one arrived less than two intervals ago) is dropped, so a device that
alternates between orchestrators does not feed the detector out-of-order arrivals.

Nothing waits for the channel: the queue is bounded (the oldest items go first, counted in
``dropped``). If the database connection fails, both tasks reconnect with backoff; the
state (``up``/``down``) and the last error are in ``stats()`` (/api/v1/status) and logged
once per outage. With SQLite there is one orchestrator: the fan-in is ``off``.

The wire format is in ``fanin_wire``.
Each process holds two connections of its own (``application_name`` wasmfleet-fanin-publish and
-listen): LISTEN needs a session, so not through a pooler in transaction mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from wasmfleet.core.device_wire import Heartbeat
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.orchestrator.fanin_peers import ALONE_S, GONE_S, PeerBook
from wasmfleet.orchestrator.fanin_wire import CHANNEL, MAX_PAYLOAD, event_item, pack
from wasmfleet.orchestrator.monitor import CALM_S, LAG_S
from wasmfleet.service.backoff import Backoff

if TYPE_CHECKING:
    from wasmfleet.orchestrator.events import EventHub
    from wasmfleet.orchestrator.monitor import FleetMonitor
    from wasmfleet.orchestrator.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "ALONE_S",
    "CHANNEL",
    "GONE_S",
    "MAX_PAYLOAD",
    "FanIn",
    "conninfo_of",
    "event_item",
    "pack",
]

QUEUE_MAX = 20_000
"""Items waiting to be published at most; beyond, the oldest are dropped."""
BATCH_PAYLOADS = 64
"""Notifications sent in one round trip at most."""
PACE_S = 0.02
"""Round trips of notifications start at most this often: a heartbeat that comes after a
quiet spell leaves at once, under load the queue gathers for at most this long (a thousand
devices at 2/s: ~50 notifications a second of ~20 heartbeats each, instead of ~1,000 of one
or two, every one of them a round trip here and a delivery to every listener)."""
PROBE_S = 5.0
"""The listening connection is checked with a query when nothing arrived for this long."""
CONNECT_TIMEOUT_S = 5
SEQ_BOOK_MAX = 100_000
HELLO_S = 1.0
"""Each orchestrator says it is there this often (a notification with no items), busy or not."""
USAGE_KEYS = ("cpu", "memory", "memory_used_mb", "memory_total_mb", "cpuUsage", "memoryUsage")


def conninfo_of(store: Store) -> str | None:
    """The libpq URL of a PostgreSQL store (with its password); None for SQLite."""
    url = store.engine.url
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class FanIn:
    """Publishes this orchestrator's heartbeats and events; feeds those of the others here."""

    def __init__(
        self,
        conninfo: str | None,
        *,
        origin: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.conninfo = conninfo
        self.clock = clock
        self.origin = origin or uuid.uuid4().hex[:12]
        self._own_head = '{"o":' + orjson.dumps(self.origin).decode() + ","
        """How this process' own notifications begin (``pack``)."""
        self.stopped = False
        self.monitor: FleetMonitor | None = None
        self.events: EventHub | None = None
        self.published = 0
        self.notifications = 0
        self.received_beats = 0
        self.received_events = 0
        self.out_of_order = 0
        self.dropped = 0
        self.outages = 0
        self.last_error: str | None = None
        self._out: deque[tuple[float, bytes]] = deque()
        self._connected: set[str] = set()
        self._wake: asyncio.Event | None = None
        self._seq: dict[str, tuple[int, float]] = {}
        self._latency: deque[float] = deque(maxlen=4096)
        self.peers = PeerBook()
        """What this process knows of the other orchestrators on the channel."""
        self.late = 0
        """Notifications that arrived late enough to hold judgement here."""
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def for_store(cls, store: Store) -> FanIn:
        """A fan-in on the store's PostgreSQL database, or an ``off`` one for SQLite."""
        return cls(conninfo_of(store))

    @property
    def enabled(self) -> bool:
        """True when there is a channel to use (PostgreSQL)."""
        return self.conninfo is not None

    @property
    def state(self) -> str:
        """off (SQLite), starting, up (both connections open), down, or stopped."""
        if not self.enabled:
            return "off"
        if self.stopped:
            return "stopped"
        if self._connected == {"publish", "listen"}:
            return "up"
        return "down" if self.outages else "starting"

    # -- this orchestrator's side ------------------------------------------------------

    def beat(self, beat: Heartbeat) -> None:
        """A heartbeat this orchestrator received: remember its seq and publish it."""
        if not self.enabled:
            return
        self._note(beat, self.clock(), direct=True)
        if not self.has_peers():
            return
        usage = {k: v for k in USAGE_KEYS if _is_number(v := beat.usage.get(k))}
        self._queue(orjson.dumps(["b", beat.name, beat.seq, beat.interval_s, usage]))

    def event(self, kind: str, data: dict[str, Any]) -> None:
        """A live event published here (called on the event loop): send it to the others."""
        if not self.enabled or not self.peers_watch():
            return
        item = event_item(kind, data)
        if item is None:
            self.dropped += 1
            return
        self._queue(item)

    def announce(self) -> None:
        """Say hello now, with this process' count of live event streams (one just opened):
        the others send their events from then on."""
        if self.enabled:
            self._queue(orjson.dumps(["p"]))

    def peers_watch(self) -> bool:
        """Whether another orchestrator has live event streams open: only then are events
        published (``PeerBook.watching``)."""
        return self.peers.watching(self.clock())

    def has_peers(self) -> bool:
        """Whether another orchestrator was heard lately: only then are heartbeats published."""
        return self.peers.present(self.clock())

    def _queue(self, item: bytes) -> None:
        if len(self._out) >= QUEUE_MAX:
            self._out.popleft()
            self.dropped += 1
        self._out.append((time.time(), item))
        if self._wake is not None:
            self._wake.set()

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, monitor: FleetMonitor, events: EventHub) -> None:
        """Feed ``monitor`` and ``events`` from the channel; publish theirs (PostgreSQL only)."""
        self.monitor, self.events = monitor, events
        if not self.enabled:
            return
        self._wake = asyncio.Event()
        events.forward = self.event
        events.watched = self.announce
        self._tasks.append(asyncio.create_task(self._keep(self._publish, "publish")))
        self._tasks.append(asyncio.create_task(self._keep(self._listen, "listen")))

    async def stop(self) -> None:
        """End both tasks and close their connections."""
        if self.events is not None and self.events.forward == self.event:
            self.events.forward = None
            self.events.watched = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        self.stopped = True

    def stats(self) -> dict[str, Any]:
        """State and counters for /api/v1/status."""
        lat = sorted(self._latency.copy())  # (read from a worker thread)
        return {
            "state": self.state,
            "channel": CHANNEL if self.enabled else None,
            "origin": self.origin,
            "published": self.published,
            "notifications": self.notifications,
            "received_heartbeats": self.received_beats,
            "received_events": self.received_events,
            "out_of_order": self.out_of_order,
            "dropped": self.dropped,
            "queued": len(self._out),
            "outages": self.outages,
            "last_error": self.last_error,
            "latency_ms_p50": _ms(lat, 0.50),
            "latency_ms_p99": _ms(lat, 0.99),
            "late": self.late,
            "peers": self.has_peers(),
        }

    # -- the two connections ---------------------------------------------------------------

    async def _keep(self, body: Any, what: str) -> None:
        """Run one connection's loop forever: reconnect with backoff, report outages once."""
        import psycopg

        backoff = Backoff(0.2, 5.0)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo or "",
                    autocommit=True,
                    connect_timeout=CONNECT_TIMEOUT_S,
                    application_name=f"wasmfleet-fanin-{what}",
                ) as conn:
                    await body(conn, lambda: self._up(what, backoff))
            except asyncio.CancelledError:
                raise
            except Exception as err:  # any failure: the connection is gone, try again
                self._down(what, err)
            await asyncio.sleep(backoff.next())

    def _up(self, what: str, backoff: Backoff) -> None:
        backoff.reset()
        self._connected.add(what)
        if self.state == "up" and self.outages:
            log.info("fan-in channel %s is up again", CHANNEL)

    def _down(self, what: str, err: BaseException) -> None:
        was_up = self.state == "up" or not self.outages
        self._connected.discard(what)
        self.last_error = f"{what}: {type(err).__name__}: {err}".strip()[:300]
        if was_up:  # once per outage
            self.outages += 1
            log.warning(
                "fan-in channel %s is down (%s); heartbeats and events of other orchestrators "
                "are not seen here until it is back",
                CHANNEL,
                self.last_error,
            )

    async def _publish(self, conn: Any, connected: Callable[[], None]) -> None:
        assert self._wake is not None
        connected()
        hello = orjson.dumps(["p"])
        await self._send(conn, [(time.time(), hello)])  # the others start publishing to us
        sent_at = time.monotonic()
        while True:
            if not self._out:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), sent_at + HELLO_S - time.monotonic())
                if not self._out:
                    await self._send(conn, [(time.time(), hello)])
                    sent_at = time.monotonic()
                    continue
            wait = sent_at + PACE_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            sent_at = time.monotonic()
            items = [self._out.popleft() for _ in range(min(len(self._out), 4000))]
            await self._send(conn, items)
            self.published += len(items)

    async def _send(self, conn: Any, items: list[tuple[float, bytes]]) -> None:
        """Notify ``items`` in as few payloads and round trips as they fit."""
        streams = self.events.subscribers if self.events is not None else 0
        payloads = pack(self.origin, items, streams)
        sent = 0
        try:
            for start in range(0, len(payloads), BATCH_PAYLOADS):
                group = payloads[start : start + BATCH_PAYLOADS]
                await conn.execute(
                    "SELECT pg_notify(%s, x) FROM unnest(%s::text[]) AS x", (CHANNEL, group)
                )
                self.notifications += len(group)
                sent += len(group)
        except BaseException:
            self.dropped += len(items) if sent < len(payloads) else 0
            raise

    async def _listen(self, conn: Any, connected: Callable[[], None]) -> None:
        await conn.execute("LISTEN " + CHANNEL)
        connected()
        while True:
            async for note in conn.notifies(timeout=PROBE_S):
                await self.received(note.payload)
            await conn.execute("SELECT 1")  # a quiet channel: is the connection alive?

    # -- the others' side --------------------------------------------------------------------

    async def received(self, payload: str) -> None:
        """One notification: feed its heartbeats and events here, unless it is our own."""
        if payload.startswith(self._own_head):
            return  # our own echo (PostgreSQL delivers to every listener): not even parsed
        try:
            doc = orjson.loads(payload)
            origin, sent_at, items = doc["o"], float(doc["t"]), doc["i"]
            streams = int(doc.get("s", 1))  # (from a version before the count: assume some)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed fan-in notification (%d bytes)", len(payload))
            return
        if origin == self.origin or not isinstance(items, list):
            return
        lag = max(0.0, time.time() - sent_at)
        self._latency.append(lag)
        lateness = self.peers.heard(origin, streams, lag, self.clock())
        if lateness > LAG_S and self.monitor is not None:  # late: nobody judged meanwhile
            self.late += 1
            why = f"heartbeats relayed by {origin} arrived {lateness:.2f} s late"
            self.monitor.hold(CALM_S, why=why)
        for item in items:
            try:
                await self._item(item)
            except Exception:  # one bad item must not end the listener
                log.exception("fan-in item failed")

    async def _item(self, item: Any) -> None:
        if not isinstance(item, list) or not item:
            return
        if item[0] == "e" and len(item) == 3 and isinstance(item[2], dict):
            self.received_events += 1
            if self.events is not None:
                self.events.deliver_remote(str(item[1]), item[2])
        elif item[0] == "b" and len(item) == 5:
            try:
                beat = Heartbeat(
                    {"name": item[1], "seq": item[2], "interval_s": item[3], "usage": item[4]}
                )
            except InvalidDocument:
                return
            self.received_beats += 1
            if not self._note(beat, self.clock()):
                self.out_of_order += 1
                return
            if self.monitor is not None:
                await self.monitor.heartbeat(beat, remote=True)

    def peers_quiet(self, now: float) -> bool:
        """Whether a streaming orchestrator went quiet just now (``PeerBook.quiet``)."""
        return self.peers.quiet(now)

    def _note(self, beat: Heartbeat, now: float, *, direct: bool = False) -> bool:
        """Remember a device's newest seq; False for an older one arriving late from elsewhere."""
        name, seq = beat.name, beat.seq
        if seq is None:
            return True
        last = self._seq.get(name)
        if (
            not direct
            and last is not None
            and seq <= last[0]
            and now - last[1] < 2.0 * beat.interval_s
        ):
            return False  # (a restarted device counts from 1 again: accepted after 2 intervals)
        if last is None and len(self._seq) >= SEQ_BOOK_MAX:
            self._seq.clear()  # bounded; at worst one late beat is not recognised
        self._seq[name] = (seq, now)
        return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ms(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000.0, 2)
