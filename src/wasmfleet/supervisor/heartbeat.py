"""Heartbeats: tell the orchestrator, every ``heartbeat_interval_s``, that this device is alive.

Each heartbeat is ``POST <orchestrator>/api/v1/heartbeat`` with the device's name, URL, a
sequence number, its CPU and memory usage and the installed epoch of every deployment. The
orchestrator answers:

- ``200 {"known": true, "epochs": {dep: epoch}}``: acknowledged. Fences rise to the listed
  epochs, the leases of stateful functions are renewed from the moment the heartbeat was
  *sent*, and the registration watchdog counts it as orchestrator contact.
- ``404 {"known": false}`` (or ``200 {"known": false}``): the orchestrator does not know this
  device (it lost its state); register again, at most once every few seconds.
- anything else, or no answer: counted; logged once per streak of failures.

Cadence is a fixed schedule (slot k at start + k x interval). Slots that passed while the
process could not run (SIGSTOP, a stalled loop) are skipped, and the next heartbeat goes out
at once. At most one heartbeat is in flight: a slot that finds the previous one unanswered is
skipped and counted, unless that one is older than its timeout (it was sent before a stall or
hangs), in which case it is abandoned as failed and a fresh one is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import psutil

from wasmfleet.core import device_wire
from wasmfleet.core.device_wire import HeartbeatVerdict, heartbeat_body, usage_summary
from wasmfleet.runtime.limits import MiB
from wasmfleet.service.http_clients import tls_context
from wasmfleet.service.tasks import cancel_and_wait
from wasmfleet.supervisor.platform_info import health_report

if TYPE_CHECKING:
    from wasmfleet.supervisor.deployments import DeploymentManager
    from wasmfleet.supervisor.fencing import FenceBook
    from wasmfleet.supervisor.registration import Registrar
    from wasmfleet.supervisor.settings import SupervisorSettings

log = logging.getLogger("wasmfleet.supervisor.heartbeat")

HEARTBEAT_PATH = device_wire.HEARTBEAT_PATH
REGISTER_AGAIN_AFTER_S = 3.0
"""An orchestrator that does not know us triggers at most one registration this often."""


def usage_report() -> dict[str, Any]:
    """CPU and memory usage for a heartbeat: fractions in [0, 1] and MiB; never sleeps."""
    memory = psutil.virtual_memory()
    return usage_summary(
        health_report(), int(memory.total - memory.available) // MiB, int(memory.total) // MiB
    )


def _describe(err: BaseException) -> str:
    text = str(err)
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class Heartbeater:
    """Sends heartbeats on a fixed schedule and applies what the answers say."""

    def __init__(
        self,
        settings: SupervisorSettings,
        registrar: Registrar,
        manager: DeploymentManager,
        fences: FenceBook,
        *,
        rng: random.Random | None = None,
        streams: Callable[[], dict[str, int] | None] | None = None,
    ) -> None:
        self.interval_s = settings.heartbeat_interval_s
        self._streams = streams
        """Stream counters to report (None when this device has no broker)."""
        self.jitter_s = settings.heartbeat_jitter_s
        self.timeout_s = min(1.0, 2 * self.interval_s)
        self._name = settings.name
        self._base_url = settings.base_url
        self._ca_file = settings.ca_file
        self._registrar = registrar
        self._manager = manager
        self._fences = fences
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self.auth: httpx.Auth | None = None
        """Sends the device's credential (a joined device, supervisor/trust.py)."""
        self._closing: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._inflight_since = 0.0
        self._last_ack: float | None = None
        self._last_register = -REGISTER_AGAIN_AFTER_S
        self._streak = 0
        self._warned = False
        self.seq = 0
        self.sent = 0
        self.acked = 0
        self.failed = 0
        self.unknown = 0
        self.skipped = 0
        self.missed = 0
        self.last_error: str | None = None

    @property
    def enabled(self) -> bool:
        """False when ``heartbeat_interval_s`` is 0."""
        return self.interval_s > 0

    async def start(self) -> None:
        """Start the heartbeat schedule (nothing happens while no orchestrator is known)."""
        if not self.enabled or self._task is not None:
            return
        self._client = self._new_client()
        self._task = asyncio.create_task(self._schedule(), name="heartbeat")

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            auth=self.auth,
            verify=tls_context(self._ca_file),
            timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=1),
        )

    def _replace_client(self) -> None:
        """Start over with a fresh client after a heartbeat was cut off mid-exchange.

        A request interrupted by cancellation can leave its connection unusable in the
        pool; a new client (one new TCP connection) is cheaper than finding out."""
        old, self._client = self._client, self._new_client()
        if old is not None:
            closing = asyncio.create_task(old.aclose(), name="heartbeat-client-close")
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def stop(self) -> None:
        """Stop sending; an unanswered heartbeat is abandoned."""
        tasks = [t for t in (self._task, self._inflight) if t is not None]
        self._task = self._inflight = None
        await cancel_and_wait(tasks)
        for closing in list(self._closing):
            with contextlib.suppress(Exception):
                await closing
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def stats(self) -> dict[str, Any]:
        """Counters and state for /api/v1/status."""
        age = None if self._last_ack is None else round(time.monotonic() - self._last_ack, 3)
        return {
            "enabled": self.enabled,
            "interval_s": self.interval_s,
            "jitter_s": self.jitter_s,
            "timeout_s": self.timeout_s,
            "orchestrator_url": self._registrar.orchestrator_url,
            "seq": self.seq,
            "sent": self.sent,
            "acked": self.acked,
            "failed": self.failed,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "missed": self.missed,
            "in_flight": self._inflight is not None and not self._inflight.done(),
            "last_ack_age_s": age,
            "last_error": self.last_error,
        }

    # -- the schedule -------------------------------------------------------------------------

    async def _schedule(self) -> None:
        interval = self.interval_s
        due = time.monotonic() + interval  # registration (started just before) goes first
        while True:
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.monotonic()
            # Whole slots that went by unserved (the loop may wake a hair early: never < 0).
            passed = max(0, int((now - due) // interval))
            self.missed += passed
            due += (passed + 1) * interval
            try:
                self._slot(now)
            except Exception:  # never let one bad slot end the heartbeats
                log.exception("heartbeat slot failed")

    def _slot(self, now: float) -> None:
        url = self._registrar.orchestrator_url
        if url is None or self._client is None:
            return
        previous = self._inflight
        if previous is not None and not previous.done():
            if now - self._inflight_since <= self.timeout_s + self.jitter_s:
                self.skipped += 1
                return
            previous.cancel()
            self._replace_client()
            self._failed(f"no answer within {self.timeout_s:g} s", url)
        self._inflight_since = now
        self._inflight = asyncio.create_task(self._beat(self._client, url), name="heartbeat-post")

    async def _beat(self, client: httpx.AsyncClient, url: str) -> None:
        if self.jitter_s > 0:
            await asyncio.sleep(self._rng.uniform(0.0, self.jitter_s))
        self.seq += 1
        body = heartbeat_body(
            name=self._name,
            url=self._base_url,
            seq=self.seq,
            interval_s=self.interval_s,
            sent_at=time.time(),
            usage=usage_report(),
            deployments={d: dep.spec.epoch for d, dep in self._manager.deployments.items()},
            streams=self._streams() if self._streams is not None else None,
        )
        sent = time.monotonic()
        self.sent += 1
        try:
            async with asyncio.timeout(self.timeout_s):  # the whole exchange, not each phase
                response = await client.post(
                    url.rstrip("/") + HEARTBEAT_PATH,
                    content=orjson.dumps(body),
                    headers={"content-type": "application/json"},
                )
        except (TimeoutError, httpx.TimeoutException):
            if self._client is client:
                self._replace_client()
            self._failed(f"no answer within {self.timeout_s:g} s", url)
            return
        except Exception as err:  # refused, reset, bad URL: count it and keep going
            self._failed(_describe(err), url)
            return
        try:
            self._answer(response, sent, url)
        except Exception:  # a bug here must not surface as an unretrieved task exception
            log.exception("could not apply a heartbeat answer")

    # -- answers ------------------------------------------------------------------------------

    def _answer(self, response: httpx.Response, sent: float, url: str) -> None:
        try:
            data = orjson.loads(response.content) if response.content else None
        except orjson.JSONDecodeError:
            data = None
        reply = device_wire.read_heartbeat_answer(response.status_code, data)
        if reply.verdict is HeartbeatVerdict.ACKNOWLEDGED:
            self._acknowledged(reply.epochs, sent)
        elif reply.verdict is HeartbeatVerdict.UNKNOWN:
            self._unknown(url)
        else:
            self._failed(reply.reason, url)

    def _acknowledged(self, epochs: dict[str, int], sent: float) -> None:
        self.acked += 1
        self._last_ack = time.monotonic()
        self._registrar.note_heartbeat_ack()
        self._fences.raise_many(epochs)
        for dep in self._manager.deployments.values():
            if dep.lease is not None:
                dep.lease.renew(sent)
        if self._streak:
            log.info("heartbeats are acknowledged again (after %d that were not)", self._streak)
        self._streak = 0
        self._warned = False
        self.last_error = None

    def _unknown(self, url: str) -> None:
        self.unknown += 1
        self.last_error = "the orchestrator does not know this device"
        self._streak += 1  # not a warning: it happens whenever an orchestrator lost its state
        now = time.monotonic()
        if now - self._last_register >= REGISTER_AGAIN_AFTER_S:
            self._last_register = now
            log.info("the orchestrator at %s does not know this device; registering", url)
            self._registrar.register_soon()

    def _failed(self, reason: str, url: str) -> None:
        self.failed += 1
        self.last_error = reason
        if not self._warned:
            self._warned = True
            log.warning(
                "heartbeat to %s failed (%s); still sending every %g s, quiet until one "
                "is acknowledged",
                url,
                reason,
                self.interval_s,
            )
        self._streak += 1
