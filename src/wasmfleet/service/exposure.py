"""Safe defaults at start: who can reach a service, and whether it may run open there.

A service that listens on a loopback address (127.0.0.0/8, ::1, localhost) is reachable from
this machine only, so it may run without auth, with a one-line warning. On any other address
(a wildcard such as 0.0.0.0 included) it refuses to start without auth configured unless the
operator says ``--insecure``. Both services call ``check_exposure`` once their settings are
read, before they listen.
"""

from __future__ import annotations

import ipaddress

from wasmfleet.core.errors import ConfigurationError


def is_loopback(host: str) -> bool:
    """True when listening on ``host`` reaches this machine only (127.0.0.0/8, ::1,
    localhost); wildcards and every other address or name are not loopback."""
    text = host.strip().strip("[]").lower()
    if text == "localhost" or text.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def check_exposure(
    service: str, host: str, *, secured: bool, insecure: bool, how_to_secure: str
) -> str | None:
    """ConfigurationError when ``service`` would listen on a non-loopback ``host`` without
    auth (``secured`` False) and without ``insecure``; else the warning line to print when
    it runs open (None when it is secured, or open by ``--insecure``: that is said once)."""
    if secured:
        return None
    where = "every interface" if host.strip() in ("", "0.0.0.0", "::") else "a network address"
    if not is_loopback(host):
        if insecure:
            return (
                f"warning: this {service} listens on {host or '0.0.0.0'} ({where}) with no "
                "auth (--insecure): anyone who reaches it can deploy code to your devices."
            )
        raise ConfigurationError(
            f"Refusing to start the {service} open on {host or '0.0.0.0'} ({where}): anyone "
            f"who reaches it could deploy code to your devices; {how_to_secure}, listen on "
            "this machine only with --host 127.0.0.1, or accept the risk with --insecure "
            "(docs/security.md)."
        )
    return (
        f"warning: this {service} runs with no auth on {host}: fine on loopback (only this "
        "machine can reach it); see docs/security.md before listening on another address."
    )
