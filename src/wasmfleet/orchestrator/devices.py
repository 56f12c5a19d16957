"""The device registry: learn a device from a discovery record, health-check it, forget it.

Discovery (mDNS or ``POST /file/device/discovery/register``) gives a name, addresses and a
port; the registry reads the device description from the supervisor and stores platform,
interfaces, labels, capacity and addresses. Health polls run on an interval for devices
that do not push heartbeats (and for dead ones, to see them return): each answer feeds the
device's failure detector (``monitor.py``), which decides ``active → suspect → dead``.
Refused connections are strong evidence: ``health_failures`` of them in a row, or one on
the first poll after an orchestrator restart, make the device dead at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from wasmfleet.core.errors import FetchFailed, Forbidden, InvalidDocument
from wasmfleet.core.names import check_identifier
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import DeviceRecord, Store
from wasmfleet.service.backoff import backoff_delay

if TYPE_CHECKING:
    from wasmfleet.orchestrator.monitor import FleetMonitor

log = logging.getLogger(__name__)

DESCRIPTION_PATH = "/.well-known/wasmiot-device-description"


@dataclass(frozen=True, slots=True)
class Sighting:
    """A device as discovery saw it: where it says it can be reached."""

    name: str
    port: int
    addresses: tuple[str, ...]
    path: str = "/"
    tls: bool = False
    source: str = "http"

    @property
    def address(self) -> str:
        """The address to use (the first one)."""
        return self.addresses[0]

    @property
    def url(self) -> str:
        """The supervisor's base URL."""
        return device_url(self.address, self.port, self.tls, self.path)


def device_url(address: str, port: int, tls: bool = False, path: str = "/") -> str:
    """``http://address:port[/path]`` with IPv6 addresses bracketed; the path (the wasmiot
    registration's ``properties.path``, ``/`` for a whole server) prefixes every route."""
    host = f"[{address}]" if ":" in address else address
    prefix = path.strip("/")
    return f"{'https' if tls else 'http'}://{host}:{port}{'/' + prefix if prefix else ''}"


def url_of(device: DeviceRecord) -> str:
    """The base URL of a stored device."""
    address = device.addresses[0] if device.addresses else ""
    return device_url(address, device.port, device.tls, device.path or "/")


def parse_registration(body: Any) -> Sighting:
    """Validate a ``/file/device/discovery/register`` body (the wasmiot shape)."""
    if not isinstance(body, dict):
        raise InvalidDocument(
            'The registration must be a JSON object like {"name": "cam-1", "port": 5000, '
            '"properties": {"address": "10.0.0.5", "path": "/", "tls": "0"}, '
            '"addresses": ["10.0.0.5"]}.'
        )
    name = check_identifier("Device name", body.get("name"))
    port = body.get("port")
    if isinstance(port, str) and port.isascii() and port.isdigit() and len(port) <= 5:
        port = int(port)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise InvalidDocument(f"'port' must be a number between 1 and 65535, got {port!r}.")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidDocument("'properties' must be an object with path, tls and address.")
    raw = body.get("addresses") or []
    if not isinstance(raw, list):
        raise InvalidDocument("'addresses' must be a list of IP addresses.")
    candidates = [props["address"]] if props.get("address") else []
    candidates += [a for a in raw if a not in candidates]
    addresses: list[str] = []
    for item in candidates:
        try:
            addresses.append(str(ipaddress.ip_address(str(item))))
        except ValueError:
            raise InvalidDocument(f"{item!r} is not an IP address.") from None
    if not addresses:
        raise InvalidDocument(
            "The registration names no address: give 'addresses' or properties.address."
        )
    tls = str(props.get("tls", "0")).strip().lower() in {"1", "true", "yes"}
    path = check_device_path(str(props.get("path") or "/"))
    return Sighting(name, port, tuple(addresses), path, tls, "http")


_PATH = re.compile(r"^/(?:[A-Za-z0-9._~-]+/?)*$")


def check_device_path(path: str) -> str:
    """A device's path prefix (``/`` or ``/sim/dev-1``); InvalidDocument when it is not one."""
    if len(path) > 200 or not _PATH.match(path) or "/../" in path + "/" or "/./" in path + "/":
        raise InvalidDocument(
            f"properties.path must be '/' or a path like '/devices/cam-1' (letters, digits, "
            f"'.', '_', '~', '-' between slashes), got {path[:200]!r}."
        )
    return path


def capacity_of(description: dict[str, Any]) -> dict[str, Any]:
    """Declared capacity of a device: the supervisor's own, else derived from its platform."""
    declared = (description.get("wasmfleet") or {}).get("capacity")
    if isinstance(declared, dict) and isinstance(declared.get("cores"), list):
        return {
            "cores": [int(c) for c in declared["cores"]],
            "memory_mb": int(declared.get("memory_mb") or 0),
            "accelerator_pct": int(declared.get("accelerator_pct") or 0),
        }
    platform = description.get("platform") or {}
    cores = int(((platform.get("cpu") or {}).get("coreCount")) or 0)
    memory = int(((platform.get("memory") or {}).get("bytes")) or 0)
    return {"cores": [1000] * cores, "memory_mb": memory // (1024 * 1024), "accelerator_pct": 0}


def interfaces_of(description: dict[str, Any]) -> list[str]:
    """Every host interface a device offers, qualified names first, then bare wasmiot ones."""
    qualified = (description.get("wasmfleet") or {}).get("interfaces") or []
    bare = description.get("supervisorInterfaces") or []
    return list(dict.fromkeys(str(i) for i in [*qualified, *bare]))


class DeviceRegistry:
    """Knows the fleet: registers, health-checks and forgets devices."""

    def __init__(
        self, store: Store, client: httpx.AsyncClient, settings: OrchestratorSettings
    ) -> None:
        self.store = store
        self.client = client
        self.settings = settings
        self.monitor: FleetMonitor | None = None
        self.on_registered: Callable[[str], None] | None = None
        self.revoked: Callable[[], set[str]] = set
        """Names of revoked devices: never registered nor polled (device_trust.py)."""
        self._checking: set[str] = set()
        self._confirmed: set[str] = set()
        """Devices that answered a health check (or registered) since this process started.
        A stored device whose first check after a restart is refused is declared dead at once:
        its stored ``active`` is only a memory, not an observation."""

    async def register(self, sighting: Sighting, *, attempts: int = 6) -> DeviceRecord:
        """Read the device's description and store it as active; FetchFailed when unreachable,
        Forbidden for a revoked device."""
        if sighting.name in self.revoked():
            raise Forbidden(
                f"The device {sighting.name} was revoked; it may not register. An admin can "
                "let it join again under another name."
            )
        check_device_path(sighting.path)
        description = await self._fetch_description(sighting.url, attempts)
        now = datetime.now(UTC)
        labels = (description.get("wasmfleet") or {}).get("labels") or {}
        record = DeviceRecord(
            name=sighting.name,
            addresses=list(sighting.addresses),
            port=sighting.port,
            path=sighting.path,
            tls=sighting.tls,
            description=description,
            interfaces=interfaces_of(description),
            labels={str(k): str(v) for k, v in labels.items()},
            status="active",
            last_seen=now,
        )
        stored = await asyncio.to_thread(self.store.upsert_device, record)
        self._confirmed.add(stored.name)
        changed = await asyncio.to_thread(
            self.store.set_device_status,
            stored.name,
            "active",
            f"discovered via {sighting.source} at {sighting.url}",
            at=now,
        )
        if changed:
            log.info("device registered", extra={"device": stored.name, "url": sighting.url})
        if self.monitor is not None:
            # A supervisor that registered itself knows this orchestrator and pushes
            # heartbeats at the interval its description declares: judge it by them at once.
            self.monitor.watch(
                stored.name,
                pushes_every=_pushes_every(description) if sighting.source == "http" else 0.0,
            )
            if self.monitor.status(stored.name) == "dead":
                await self.monitor.polled(stored.name)  # registering is a sign of life
        if self.on_registered is not None:
            self.on_registered(stored.name)
        asyncio.get_running_loop().create_task(self.check(stored.name))
        return stored

    async def _fetch_description(self, url: str, attempts: int) -> dict[str, Any]:
        error = ""
        for attempt in range(attempts):
            try:
                response = await self.client.get(
                    url + DESCRIPTION_PATH, timeout=self.settings.health_timeout_s
                )
                if response.status_code == 200:
                    body = response.json()
                    if isinstance(body, dict):
                        return body
                    error = "the description is not a JSON object"
                else:
                    error = f"it answered {response.status_code}"
            except (httpx.HTTPError, ValueError) as err:
                error = str(err) or type(err).__name__
            if attempt + 1 < attempts:
                await asyncio.sleep(backoff_delay(attempt, 0.1, 1.0))
        raise FetchFailed(
            f"Could not read the device description from {url}{DESCRIPTION_PATH} ({error}); "
            "is the supervisor running and reachable from the orchestrator?"
        )

    async def check(self, name: str, device: DeviceRecord | None = None) -> None:
        """One health check of one device (``device``: its record, if just read); updates
        health, failures, status and its log."""
        if name in self._checking:
            return
        self._checking.add(name)
        try:
            await self._check(name, device)
        finally:
            self._checking.discard(name)

    async def _check(self, name: str, device: DeviceRecord | None) -> None:
        monitor = self.monitor
        if monitor is not None and monitor.pushes(name) and monitor.status(name) != "dead":
            return  # its heartbeats say more, and sooner, than a poll (and cost no read)
        if device is None:
            device = await asyncio.to_thread(self.store.get_device, name)
        if device is None or name in self.revoked():
            return  # a revoked device is not polled: it stays dead
        url = url_of(device)
        now = datetime.now(UTC)
        try:
            response = await self.client.get(
                url + "/health", timeout=self.settings.health_timeout_s
            )
            response.raise_for_status()
            health = response.json()
            if not isinstance(health, dict):
                raise ValueError("the health answer is not a JSON object")
        except (httpx.HTTPError, ValueError) as err:
            await self._failed(name, err, now)
            return
        await asyncio.to_thread(self.store.record_health, name, health, ok=True, at=now)
        self._confirmed.add(name)
        if monitor is not None and monitor.usage is not None:
            monitor.usage.record(name, health)
        if device.status != "active":
            await self._refresh_description(device)
        if monitor is not None:
            await monitor.polled(name)
        elif device.status != "active":
            await asyncio.to_thread(
                self.store.set_device_status, name, "active", "health check succeeded again", at=now
            )
        if self.settings.register_devices and _header_false(
            response.headers.get("custom-orchestrator-set")
        ):
            await self._tell_orchestrator(name, url)

    async def _failed(self, name: str, err: Exception, now: datetime) -> None:
        """A failed poll: refused connections are strong evidence, the rest is phi's job."""
        reason = str(err) or type(err).__name__
        updated = await asyncio.to_thread(self.store.record_health, name, None, ok=False, at=now)
        if updated is None or self.monitor is None:
            return
        refused = isinstance(err, httpx.ConnectError)
        unconfirmed = name not in self._confirmed
        if refused and unconfirmed:
            why = f"not reachable since the orchestrator started: {reason}"
        elif refused and updated.failures >= self.settings.health_failures:
            why = f"health check refused {updated.failures} times in a row: {reason}"
        else:
            return
        await self.monitor.declare_dead(name, why)

    async def _refresh_description(self, device: DeviceRecord) -> None:
        try:
            description = await self._fetch_description(url_of(device), 1)
        except FetchFailed:
            return
        device.description = description
        device.interfaces = interfaces_of(description)
        labels = (description.get("wasmfleet") or {}).get("labels") or device.labels
        device.labels = {str(k): str(v) for k, v in labels.items()}
        await asyncio.to_thread(self.store.upsert_device, device)

    async def _tell_orchestrator(self, name: str, url: str) -> None:
        try:
            response = await self.client.post(
                url + "/register",
                json={"url": self.settings.resolved_public_url},
                timeout=self.settings.health_timeout_s,
            )
            log.info(
                "sent POST /register to device",
                extra={"device": name, "status_code": response.status_code},
            )
        except httpx.HTTPError as err:
            log.warning(
                "POST /register to device failed", extra={"device": name, "error": str(err)}
            )

    async def check_all(self) -> None:
        """Health-check every known device concurrently."""
        devices = await asyncio.to_thread(self.store.list_devices)
        await asyncio.gather(*(self.check(d.name, d) for d in devices))

    async def run(self) -> None:
        """Health-check the fleet forever, every ``health_interval_s``."""
        while True:
            try:
                await self.check_all()
            except Exception:  # the monitor must survive anything a device does
                log.exception("health round failed")
            await asyncio.sleep(self.settings.health_interval_s)


def _pushes_every(description: dict[str, Any]) -> float:
    """The heartbeat interval a wasmfleet supervisor declares (0: it does not push)."""
    value = (description.get("wasmfleet") or {}).get("heartbeat_interval_s")
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def _header_false(value: str | None) -> bool:
    return value is not None and value.strip().lower() in {"false", "0", "no"}
