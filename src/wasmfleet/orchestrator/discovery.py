"""mDNS discovery: browse ``_webthing._tcp.local.`` and register every supervisor found.

Best effort, like the supervisor's advertiser: without multicast the orchestrator logs a
warning and relies on HTTP registration. An orchestrator bound to one address browses on
that interface only, so a loopback-bound test fleet never sends packets elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from zeroconf import ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from wasmfleet.core.errors import WasmfleetError
from wasmfleet.orchestrator.devices import Sighting
from wasmfleet.service.mdns import SERVICE_TYPE, zeroconf_binding

log = logging.getLogger(__name__)


class MdnsDiscovery:
    """Browses for supervisors and hands each one to ``on_found``."""

    def __init__(self, host: str, on_found: Callable[[Sighting], Awaitable[object]]) -> None:
        self._host = host
        self._on_found = on_found
        self._zc: AsyncZeroconf | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.seen: dict[str, Sighting] = {}

    async def start(self) -> None:
        """Open zeroconf and start browsing (returns at once; failures are logged)."""
        if self._zc is not None:
            return
        interfaces, ip_version = zeroconf_binding(self._host)
        try:
            if interfaces is None:
                self._zc = AsyncZeroconf(ip_version=ip_version)
            else:
                self._zc = AsyncZeroconf(interfaces=interfaces, ip_version=ip_version)
            self._browser = AsyncServiceBrowser(
                self._zc.zeroconf, [SERVICE_TYPE], handlers=[self._on_change]
            )
        except Exception as exc:  # no multicast here: HTTP registration still works
            log.warning("mDNS browsing is unavailable (%s); devices must register over HTTP", exc)
            await self.stop()
            return
        log.info("browsing mDNS", extra={"service": SERVICE_TYPE})

    async def rescan(self) -> None:
        """Forget what was seen and browse again from scratch."""
        await self.stop()
        self.seen.clear()
        await self.start()

    def _on_change(
        self,
        zeroconf: Zeroconf,
        service_type: str,
        name: str,
        state_change: ServiceStateChange,
    ) -> None:
        if state_change not in (ServiceStateChange.Added, ServiceStateChange.Updated):
            return
        task = asyncio.get_running_loop().create_task(self._resolve(service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, service_type: str, name: str) -> None:
        zc = self._zc
        if zc is None:
            return
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zc.zeroconf, 3000):
            log.warning("mDNS service did not resolve", extra={"service": name})
            return
        props = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode() if isinstance(v, bytes) else ("" if v is None else str(v))
            )
            for k, v in (info.properties or {}).items()
        }
        addresses = [props["address"]] if props.get("address") else []
        addresses += [a for a in info.parsed_scoped_addresses() if a not in addresses]
        if not addresses or not info.port:
            return
        device = name.removesuffix("." + service_type).removesuffix(service_type)
        sighting = Sighting(
            name=device,
            port=int(info.port),
            addresses=tuple(addresses),
            path=props.get("path") or "/",
            tls=props.get("tls", "0") in {"1", "true"},
            source="mdns",
        )
        self.seen[device] = sighting
        try:
            await self._on_found(sighting)
        except WasmfleetError as err:
            log.warning(
                "discovered device not registered", extra={"device": device, "error": err.message}
            )

    async def stop(self) -> None:
        """Stop browsing and close zeroconf."""
        browser, zc = self._browser, self._zc
        self._browser = self._zc = None
        for task in list(self._tasks):
            task.cancel()
        if browser is not None:
            with contextlib.suppress(Exception):
                await browser.async_cancel()
        if zc is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await zc.async_close()
