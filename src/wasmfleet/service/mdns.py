"""mDNS facts both services need: the wasmiot service type and zeroconf's interfaces."""

from __future__ import annotations

import ipaddress

from zeroconf import IPVersion

from wasmfleet.service.net import WILDCARDS

SERVICE_TYPE = "_webthing._tcp.local."
"""What wasmiot supervisors announce and orchestrators browse for."""


def zeroconf_binding(host: str) -> tuple[list[str] | None, IPVersion]:
    """Which interfaces zeroconf listens on: the bound address only, or all for a wildcard."""
    host = "127.0.0.1" if host == "localhost" else host
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None, IPVersion.V4Only  # a host name: let zeroconf use every interface
    if host in WILDCARDS or ip.is_unspecified:
        return None, IPVersion.V4Only if ip.version == 4 else IPVersion.All
    return [str(ip)], IPVersion.V4Only if ip.version == 4 else IPVersion.V6Only
