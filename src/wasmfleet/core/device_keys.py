"""The secrets a joined device and its orchestrator derive from the device's credential.

A device joins with a single-use ``device-join`` token and receives its own API token (role
``device``). The orchestrator keeps only that token's sha256; the device keeps the token.
Both derive from that sha256 the *control bearer* the orchestrator sends on every call to
the device (``Authorization: Bearer wfo_<hex>``): nobody without the token's hash (the
device, the orchestrator's database) can produce it. Chained hops between devices carry a
*hop token* for the deployment they call, an HMAC with the fleet's hop key, which the
orchestrator hands every device when it joins.
"""

from __future__ import annotations

import hashlib
import hmac

CONTROL_PREFIX = "wfo_"
HOP_PREFIX = "wfh_"
DEVICE_USER_PREFIX = "device@"
"""A joined device is the user ``device@<name>`` with role ``device``."""
JOIN_TOKEN_PREFIX = "join@"
"""A join token named ``join@<name>`` may only be used by the device ``<name>``."""


def token_hash(token: str) -> str:
    """The hex sha256 of a token (what the orchestrator stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def control_bearer(credential_sha256: str) -> str:
    """The bearer the orchestrator sends to the device whose credential has this sha256."""
    key = bytes.fromhex(credential_sha256)
    return CONTROL_PREFIX + hmac.new(key, b"wasmfleet control v1", hashlib.sha256).hexdigest()


def hop_token(hop_key: str, deployment: str) -> str:
    """The bearer a device sends when it forwards a result to a step of ``deployment``."""
    message = b"wasmfleet hop v1\n" + deployment.encode("utf-8")
    return HOP_PREFIX + hmac.new(bytes.fromhex(hop_key), message, hashlib.sha256).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Whether two secrets are equal (compared in constant time)."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer_of(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def device_user(name: str) -> str:
    """The user name of the device ``name``."""
    return DEVICE_USER_PREFIX + name


def device_of_user(user: str) -> str | None:
    """The device name of a device user, or None for another user."""
    return user[len(DEVICE_USER_PREFIX) :] if user.startswith(DEVICE_USER_PREFIX) else None
