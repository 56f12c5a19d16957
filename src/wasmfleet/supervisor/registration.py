"""Register this supervisor with the orchestrator over HTTP, and again when it seems forgotten.

A registration is ``POST <orchestrator>/file/device/discovery/register`` with the same facts the
mDNS announcement carries. It runs in a background task: startup never waits for it. A failed
attempt is logged once and retried after a capped exponential back-off, for a bounded number
of attempts per cycle.

The watchdog starts a new cycle when the orchestrator has not been heard from for
``settings.reregister_after_s`` seconds (it restarted, or lost us), and then waits a full
interval again before the next one. What counts as hearing from the orchestrator:

1. an acknowledged heartbeat (``heartbeat.py``): a wasmfleet orchestrator answered
   ``{"known": true}``, the strongest proof there is;
2. a ``GET /health`` whose TCP peer is one of the addresses the orchestrator URL's host
   resolves to (resolved at the start of each registration cycle, off the event loop) —
   the original wasmiot orchestrator sends no heartbeats and only polls ``/health``;
3. but once the orchestrator at this URL has acknowledged a heartbeat, ``/health`` stops
   counting: a wasmfleet orchestrator does not poll devices that push heartbeats, so such a
   request is a liveness probe or a monitoring script, even from the orchestrator's host.

Any other ``GET /health`` (a Kubernetes probe, ``curl`` in a loop) is answered as usual and
counted in ``health_checks_ignored``; it never hides a lost orchestrator. When the
orchestrator reaches the device through NAT or a proxy (its health checks come from an address
its URL does not resolve to) and sends no heartbeats, the watchdog registers again every
``reregister_after_s``; registering is idempotent, so that costs one request per interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from wasmfleet.core import device_wire
from wasmfleet.core.errors import InvalidDocument
from wasmfleet.service.backoff import Backoff
from wasmfleet.service.tasks import cancel_and_wait
from wasmfleet.supervisor.settings import SupervisorSettings

log = logging.getLogger(__name__)

REGISTER_PATH = device_wire.REGISTER_PATH
RESOLVE_TIMEOUT_S = 5.0
"""How long to wait for the orchestrator's host name to resolve (its health checks do not
count until it has)."""


def normalized_address(host: str) -> str | None:
    """An IP address as one spelling (IPv4-mapped IPv6 as IPv4, no scope), None if not one."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


async def resolve_addresses(url: str) -> frozenset[str]:
    """The addresses the host of ``url`` resolves to (empty when it does not, in time)."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return frozenset()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return frozenset()
    literal = normalized_address(host)
    if literal is not None:
        return frozenset({literal})
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, TimeoutError):
        return frozenset()
    found = (normalized_address(str(info[4][0])) for info in infos)
    return frozenset(a for a in found if a is not None)


def registration_body(settings: SupervisorSettings) -> dict[str, Any]:
    """The JSON body the wasmiot orchestrator expects from a registering device."""
    return device_wire.registration_body(
        settings.name, settings.port, settings.public_address, tls=settings.tls
    )


class Registrar:
    """Keeps this supervisor registered with the orchestrator (when one is known)."""

    def __init__(
        self,
        settings: SupervisorSettings,
        client_factory: Callable[[], httpx.AsyncClient],
        *,
        on_orchestrator: Callable[[str], None] | None = None,
        max_attempts: int = 8,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._client_factory = client_factory
        self._on_orchestrator = on_orchestrator
        self._max_attempts = max(1, max_attempts)
        self._first_backoff_s = first_backoff_s
        self._max_backoff_s = max(first_backoff_s, max_backoff_s)
        self._url: str | None = settings.orchestrator_url
        self._orchestrator_set = self._url is not None
        self._wake = asyncio.Event()
        self._cycling = False
        self._quiet_since = time.monotonic()
        self._last_health: float | None = None
        self._last_contact: float | None = None
        self._addresses: frozenset[str] = frozenset()
        self._heartbeat_acked = False
        self._health_ignored = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._ok = 0
        self._failed = 0
        self._last_error: str | None = None

    @property
    def orchestrator_set(self) -> bool:
        """True when an orchestrator URL came from configuration or from POST /register."""
        return self._orchestrator_set

    @property
    def orchestrator_url(self) -> str | None:
        """The orchestrator this supervisor registers with, if any."""
        return self._url

    async def start(self) -> None:
        """Start the background tasks; registers right away when an orchestrator is known."""
        if self._tasks:
            return
        self._quiet_since = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._register_loop(), name="registration"),
            asyncio.create_task(self._watchdog(), name="registration-watchdog"),
        ]
        if self._url is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Cancel the background tasks."""
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(tasks)

    def note_heartbeat_ack(self) -> None:
        """The orchestrator acknowledged a heartbeat: it is there, and knows us."""
        self._last_contact = time.monotonic()
        self._heartbeat_acked = True

    def note_health_check(self, peer: str | None) -> bool:
        """A GET /health from ``peer`` arrived; True when it counts as orchestrator contact
        (see the module docstring), False when it is someone else's probe."""
        address = normalized_address(peer) if peer else None
        if self._heartbeat_acked or address is None or address not in self._addresses:
            self._health_ignored += 1
            return False
        self._last_health = self._last_contact = time.monotonic()
        return True

    def set_orchestrator(self, url: str) -> None:
        """Use ``url`` as the orchestrator from now on and register with it soon."""
        url = url.strip() if isinstance(url, str) else ""
        if not re.match(r"^https?://[^/\s]+", url):
            raise InvalidDocument(
                f"url must be the orchestrator's address starting with http:// or https://, "
                f"got {url!r}."
            )
        if url.rstrip("/") != self._url:
            self._addresses = frozenset()  # resolved again when the cycle starts
            self._heartbeat_acked = False
        self._url = url.rstrip("/")
        self._orchestrator_set = True
        log.info("orchestrator set", extra={"orchestrator": self._url})
        if self._on_orchestrator is not None:
            try:
                self._on_orchestrator(self._url)
            except Exception:
                log.exception("orchestrator change callback failed")
        self.register_soon()

    def register_soon(self) -> None:
        """Start a registration cycle now (restarting one that is backing off)."""
        self._wake.set()

    def stats(self) -> dict[str, Any]:
        """Counters and state for the metrics and status endpoints."""
        now = time.monotonic()
        age = None if self._last_health is None else now - self._last_health
        contact = None if self._last_contact is None else now - self._last_contact
        return {
            "registrations_ok": self._ok,
            "registrations_failed": self._failed,
            "last_contact_age_s": contact,
            "last_health_check_age_s": age,
            "health_checks_ignored": self._health_ignored,
            "heartbeats_acknowledged": self._heartbeat_acked,
            "orchestrator_addresses": sorted(self._addresses),
            "orchestrator_url": self._url,
            "orchestrator_set": self._orchestrator_set,
            "last_error": self._last_error,
        }

    async def _register_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._cycling = True
            try:
                await self._cycle()
            finally:
                self._cycling = False
                self._quiet_since = time.monotonic()

    async def _cycle(self) -> None:
        """Try to register up to ``max_attempts`` times; a new trigger restarts the cycle."""
        backoff = Backoff(self._first_backoff_s, self._max_backoff_s)
        if self._url is not None:
            self._addresses = await resolve_addresses(self._url)
        async with self._client_factory() as client:
            for attempt in range(1, self._max_attempts + 1):
                url = self._url
                if url is None:
                    return
                error = await self._register_once(client, url)
                if error is None:
                    return
                last = attempt == self._max_attempts
                delay = backoff.next()
                log.warning(
                    "registering with the orchestrator at %s failed (%s); %s",
                    url,
                    error,
                    "giving up until the next trigger" if last else f"retrying in {delay:.1f} s",
                    extra={"attempt": attempt},
                )
                if last:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                if self._wake.is_set():
                    return  # set_orchestrator or the watchdog asked for a fresh cycle

    async def _register_once(self, client: httpx.AsyncClient, url: str) -> str | None:
        """One POST; None on success, else a short reason."""
        target = url.rstrip("/") + REGISTER_PATH
        try:
            response = await client.post(target, json=registration_body(self._settings))
        except Exception as exc:  # connection refused, timeout, bad URL: count and retry
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        else:
            if response.is_success:
                self._ok += 1
                self._last_error = None
                log.info("registered with the orchestrator", extra={"orchestrator": url})
                return None
            error = f"HTTP {response.status_code}"
        self._failed += 1
        self._last_error = error
        return error

    async def _watchdog(self) -> None:
        interval = max(0.01, self._settings.reregister_after_s)
        while True:
            reference = max(self._quiet_since, self._last_contact or 0.0)
            wait = reference + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self._quiet_since = time.monotonic()
            if self._url is not None and not self._cycling:
                log.info(
                    "no heartbeat answer or health check from the orchestrator for %g s; "
                    "registering again",
                    interval,
                )
                self._wake.set()
