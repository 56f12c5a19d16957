"""Announce this supervisor over mDNS as a ``_webthing._tcp`` service (wasmiot discovery).

The announcement is best effort: when multicast is unavailable (no interface, no route, a
container without a network) the supervisor logs a warning and keeps serving; the orchestrator
can still learn about it through HTTP registration. A supervisor bound to one address (for
example ``127.0.0.1``) binds zeroconf to that interface only, so nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from zeroconf import ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from wasmfleet.service.mdns import SERVICE_TYPE, zeroconf_binding
from wasmfleet.supervisor.settings import SupervisorSettings

log = logging.getLogger(__name__)


def service_info(settings: SupervisorSettings) -> ServiceInfo:
    """The mDNS record set announcing a supervisor (name, port, TXT path/tls/address)."""
    address = settings.public_address
    return ServiceInfo(
        SERVICE_TYPE,
        f"{settings.name}.{SERVICE_TYPE}",
        port=settings.port,
        properties={"path": "/", "tls": "1" if settings.tls else "0", "address": address},
        server=f"{settings.name}.local.",
        parsed_addresses=[address],
    )


class Advertiser:
    """Registers and withdraws this supervisor's mDNS service; never fails the supervisor."""

    def __init__(self, settings: SupervisorSettings) -> None:
        self._settings = settings
        self._info = service_info(settings)
        self._zc: AsyncZeroconf | None = None
        self._task: asyncio.Task[None] | None = None
        self._advertised = asyncio.Event()

    @property
    def info(self) -> ServiceInfo:
        """The announced service record."""
        return self._info

    @property
    def advertised(self) -> bool:
        """True once the service has been announced on the network."""
        return self._advertised.is_set()

    async def start(self) -> None:
        """Open zeroconf and announce the service in the background (returns quickly)."""
        if not self._settings.mdns:
            log.info("mDNS advertising is turned off")
            return
        if self._zc is not None:
            return
        interfaces, ip_version = zeroconf_binding(self._settings.host)
        try:
            if interfaces is None:
                self._zc = AsyncZeroconf(ip_version=ip_version)
            else:
                self._zc = AsyncZeroconf(interfaces=interfaces, ip_version=ip_version)
        except Exception as exc:  # OSError, zeroconf errors: multicast is not available here
            log.warning(
                "mDNS is unavailable (%s); this supervisor is not advertised, "
                "register it with the orchestrator over HTTP instead",
                exc,
                extra={"interfaces": interfaces or "all"},
            )
            return
        self._task = asyncio.create_task(self._announce(self._zc), name="mdns-advertise")

    async def _announce(self, zc: AsyncZeroconf) -> None:
        try:
            broadcast = await zc.async_register_service(self._info, allow_name_change=False)
            await broadcast
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "could not advertise %s over mDNS (%s); carrying on without it",
                self._info.name,
                exc,
            )
            return
        self._advertised.set()
        log.info(
            "advertised over mDNS",
            extra={"service": self._info.name, "port": self._settings.port},
        )

    async def wait_advertised(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the announcement; True when it went out."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._advertised.wait(), timeout)
        return self.advertised

    async def stop(self, timeout: float = 3.0) -> None:
        """Withdraw the service (goodbye packets) and close zeroconf within ``timeout`` s."""
        zc, task = self._zc, self._task
        self._zc = self._task = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if zc is None:
            return
        try:
            async with asyncio.timeout(timeout):
                if self._advertised.is_set():
                    goodbye = await zc.async_unregister_service(self._info)
                    await goodbye
                await zc.async_close()
        except TimeoutError:
            log.warning("mDNS shutdown took longer than %.1f s; closing anyway", timeout)
            with contextlib.suppress(Exception):
                zc.zeroconf.close()
        except Exception as exc:
            log.warning("mDNS shutdown failed (%s)", exc)
        finally:
            self._advertised.clear()
