"""This machine's addresses, as other machines should use them."""

from __future__ import annotations

import socket

WILDCARDS = frozenset({"0.0.0.0", "::", ""})
"""Listen addresses that mean "every interface"."""


def primary_ipv4() -> str:
    """The IPv4 address of the interface with the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1; connect() on UDP sends nothing
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def reachable_host(host: str) -> str:
    """``host``, or this machine's primary address when ``host`` is a wildcard."""
    return primary_ipv4() if host in WILDCARDS else host
