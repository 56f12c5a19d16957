"""The simulated fleet: register every device, push their heartbeats, obey commands.

Each device registers (``POST /file/device/discovery/register`` with its own ``path``) with
bounded concurrency and a capped back-off, then heartbeats on a fixed schedule like the real
supervisor: slot k at its own random phase + k x interval, slots that went by while the
process could not keep up are counted as ``missed`` (never sent late in a burst), and a
heartbeat waits at most ``timeout_s`` for its answer. An orchestrator that answers "unknown"
gets the device registered again (at most every few seconds). Round-trip times of answered
heartbeats are kept (a bounded window) for ``stats()``. Heartbeats to a plain-http orchestrator
go over ``wire.KeepAlivePool`` (less work per request than httpx), others with httpx.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from wasmfleet.core.device_wire import (
    HEARTBEAT_PATH,
    REGISTER_PATH,
    HeartbeatVerdict,
    read_heartbeat_answer,
    registration_body,
)
from wasmfleet.core.errors import InvalidDocument, NotFound
from wasmfleet.service.backoff import Backoff
from wasmfleet.service.tasks import cancel_and_wait
from wasmfleet.sim.devices import Command, Life, SimDevice
from wasmfleet.sim.wire import KeepAlivePool

log = logging.getLogger("wasmfleet.sim")

REGISTER_AGAIN_AFTER_S = 3.0
REGISTER_ATTEMPTS = 8
LATENCY_WINDOW = 200_000
"""Heartbeat round trips kept for the percentiles (the most recent ones)."""


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How many devices, where they report, and how often."""

    orchestrator_url: str
    count: int
    more_orchestrators: tuple[str, ...] = ()
    """Further orchestrators of the same fleet (one database): device i reports to the
    (i mod n)-th of all of them, and to the next one when its own does not answer, as
    behind a load balancer."""
    host: str = "127.0.0.1"
    port: int = 0
    heartbeat_s: float = 0.5
    name_prefix: str = "sim-"
    labels: dict[str, str] = field(default_factory=dict)
    connections: int = 64
    """Connections the simulator opens to the orchestrator (heartbeats and registrations)."""
    register_concurrency: int = 32
    seed: int = 0

    def check(self) -> None:
        """Refuse settings that cannot work, with a sentence."""
        if not 1 <= self.count <= 100_000:
            raise InvalidDocument(f"--count must be from 1 to 100000, got {self.count}.")
        if not 0.05 <= self.heartbeat_s <= 60:
            raise InvalidDocument(
                f"--heartbeat must be from 0.05 to 60 seconds, got {self.heartbeat_s}."
            )
        for url in self.orchestrator_urls:
            if not url.startswith(("http://", "https://")):
                raise InvalidDocument(
                    f"--orchestrator must be a URL like http://127.0.0.1:3000, got {url!r}."
                )

    @property
    def orchestrator_urls(self) -> tuple[str, ...]:
        """Every orchestrator the devices report to, the first one first."""
        return (self.orchestrator_url, *self.more_orchestrators)


class SimFleet:
    """Every simulated device of this process and the tasks that make them speak."""

    def __init__(self, settings: SimSettings) -> None:
        settings.check()
        self.settings = settings
        self.port = settings.port
        self._rng = random.Random(settings.seed)
        width = len(str(settings.count))
        self.urls = [u.rstrip("/") for u in settings.orchestrator_urls]
        self.devices: dict[str, SimDevice] = {}
        for i in range(1, settings.count + 1):
            name = f"{settings.name_prefix}{i:0{width}d}"
            self.devices[name] = SimDevice(
                name=name,
                path=f"/d/{name}",
                labels=dict(settings.labels),
                cpu=round(self._rng.uniform(0.02, 0.3), 3),
                home=(i - 1) % len(self.urls),
            )
        self.changed = asyncio.Event()
        """Set (then replaced) whenever devices change state: stalled requests look again."""
        self.timeout_s = min(1.0, 2 * settings.heartbeat_s)
        self._client: httpx.AsyncClient | None = None
        self._pools: list[KeepAlivePool] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._last_register: dict[str, float] = {}
        self._registering: set[str] = set()
        self._beating: set[str] = set()
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.counters = dict.fromkeys(
            (
                "sent",
                "acked",
                "unknown",
                "failed",
                "missed",
                "registered",
                "register_failed",
                "switched",
            ),
            0,
        )
        self.started = time.monotonic()

    @property
    def base(self) -> str:
        """The simulator's own base URL (set once its server listens)."""
        return f"http://{self.settings.host}:{self.port}"

    def url_of(self, device: SimDevice) -> str:
        """A device's base URL: every route of the device is below it."""
        return self.base + device.path

    async def start(self) -> None:
        """Register every device and start their heartbeats (the server must listen first)."""
        limits = httpx.Limits(
            max_connections=self.settings.connections,
            max_keepalive_connections=self.settings.connections,
        )
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0), limits=limits)
        if all(url.startswith("http://") for url in self.urls):
            self._pools = [KeepAlivePool(url, self.settings.connections) for url in self.urls]
        self._tasks.append(asyncio.create_task(self._register_all(), name="sim-register"))

    async def stop(self) -> None:
        """Stop every task and close the client."""
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        pools, self._pools = self._pools, []
        for pool in pools:
            await pool.close()

    def device(self, name: str) -> SimDevice:
        """The simulated device of that name, or NotFound."""
        found = self.devices.get(name)
        if found is None:
            raise NotFound(f"No simulated device {name!r} (they are named like {self._first}).")
        return found

    @property
    def _first(self) -> str:
        return next(iter(self.devices))

    def command(self, command: Command, names: Iterable[str]) -> dict[str, str]:
        """Kill, stall or revive the named devices at once; their new states."""
        found = [self.device(n) for n in names]  # all or nothing: check the names first
        states = {d.name: str(d.command(command)) for d in found}
        self.changed.set()  # requests held by a stalled device look again
        self.changed = asyncio.Event()
        return states

    def reset_stats(self) -> None:
        """Start counting (and timing) afresh, e.g. after a warm-up."""
        self._latencies.clear()
        for key in self.counters:
            if key != "registered":
                self.counters[key] = 0
        self.started = time.monotonic()

    def stats(self) -> dict[str, Any]:
        """Counters, heartbeat round trips (ms) and how many devices are in each state."""
        ordered = sorted(self._latencies)
        elapsed = max(1e-9, time.monotonic() - self.started)
        lives = dict.fromkeys((str(life) for life in Life), 0)
        for dev in self.devices.values():
            lives[str(dev.life)] += 1
        return {
            "devices": len(self.devices),
            "lives": lives,
            "heartbeat_s": self.settings.heartbeat_s,
            **self.counters,
            "elapsed_s": round(elapsed, 3),
            "acked_per_s": round(self.counters["acked"] / elapsed, 1),
            "heartbeat_ms": {
                "count": len(ordered),
                "p50": _percentile(ordered, 0.50),
                "p99": _percentile(ordered, 0.99),
                "max": round(ordered[-1], 3) if ordered else None,
            },
            "calls": sum(d.calls for d in self.devices.values()),
        }

    # -- registration -------------------------------------------------------------------

    async def _register_all(self) -> None:
        gate = asyncio.Semaphore(self.settings.register_concurrency)

        async def one(dev: SimDevice) -> None:
            async with gate:
                await self._register(dev)

        await asyncio.gather(*(one(d) for d in self.devices.values()))
        log.info("simulated devices registered", extra={"count": self.counters["registered"]})

    async def _register(self, dev: SimDevice) -> None:
        """Register one device, retrying with back-off a bounded number of times."""
        assert self._client is not None
        if dev.name in self._registering:
            return
        self._registering.add(dev.name)
        backoff = Backoff(0.5, 10.0)
        body = registration_body(dev.name, self.port, self.settings.host, path=dev.path)
        try:
            for _ in range(REGISTER_ATTEMPTS):
                if dev.life is not Life.ALIVE:
                    return
                try:
                    target = self.urls[dev.home] + REGISTER_PATH
                    response = await self._client.post(target, json=body)
                    if response.is_success:
                        if not dev.registered:
                            self.counters["registered"] += 1
                        dev.registered = True
                        self._start_heartbeats(dev)
                        return
                    why = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as err:
                    why = str(err) or type(err).__name__
                    self._switch(dev)
                self.counters["register_failed"] += 1
                log.warning("registering %s failed (%s)", dev.name, why)
                await asyncio.sleep(backoff.next())
        finally:
            self._registering.discard(dev.name)

    def _register_soon(self, dev: SimDevice) -> None:
        now = time.monotonic()
        if (
            now - self._last_register.get(dev.name, -REGISTER_AGAIN_AFTER_S)
            < REGISTER_AGAIN_AFTER_S
        ):
            return
        self._last_register[dev.name] = now
        self._tasks = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.create_task(self._register(dev), name=f"register-{dev.name}"))

    # -- heartbeats ---------------------------------------------------------------------

    def _start_heartbeats(self, dev: SimDevice) -> None:
        if dev.name in self._beating:
            return
        self._beating.add(dev.name)
        self._tasks.append(asyncio.create_task(self._beats(dev), name=f"beats-{dev.name}"))

    async def _beats(self, dev: SimDevice) -> None:
        interval = self.settings.heartbeat_s
        due = time.monotonic() + self._rng.uniform(0.0, interval)  # spread the fleet out
        while True:
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            passed = max(0, int((now - due) // interval))
            self.counters["missed"] += passed
            due += (passed + 1) * interval
            if dev.life is Life.ALIVE:
                try:
                    await self._beat(dev)
                except Exception:  # one bad answer must not end a device's heartbeats
                    log.exception("heartbeat of %s failed", dev.name)

    def _switch(self, dev: SimDevice) -> None:
        """The device's orchestrator did not answer: report to the next one from now on."""
        if len(self.urls) > 1:
            dev.home = (dev.home + 1) % len(self.urls)
            self.counters["switched"] += 1

    async def _post_heartbeat(self, dev: SimDevice, body: bytes) -> tuple[int, bytes]:
        """POST one heartbeat: over the keep-alive pool (plain http), else with httpx."""
        if self._pools:
            return await self._pools[dev.home].post_json(HEARTBEAT_PATH, body)
        assert self._client is not None
        response = await self._client.post(
            self.urls[dev.home] + HEARTBEAT_PATH,
            content=body,
            headers={"content-type": "application/json"},
        )
        return response.status_code, response.content

    async def _beat(self, dev: SimDevice) -> None:
        body = dev.heartbeat(self.url_of(dev), self.settings.heartbeat_s)
        self.counters["sent"] += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                status, content = await self._post_heartbeat(dev, orjson.dumps(body))
        except (TimeoutError, httpx.HTTPError, OSError):
            self.counters["failed"] += 1
            self._switch(dev)
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        try:
            data = orjson.loads(content) if content else None
        except orjson.JSONDecodeError:
            data = None
        reply = read_heartbeat_answer(status, data)
        if reply.verdict is HeartbeatVerdict.ACKNOWLEDGED:
            self.counters["acked"] += 1
            self._latencies.append(elapsed_ms)
            dev.raise_fences(reply.epochs)
        elif reply.verdict is HeartbeatVerdict.UNKNOWN:
            self.counters["unknown"] += 1
            self._register_soon(dev)
        else:
            self.counters["failed"] += 1


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
