"""Devices that trust only their orchestrator: joins, control bearers, revocation.

``POST /api/v1/devices/join`` trades a single-use ``device-join`` token for the device's own
credential (user ``device@<name>``, an API token of role ``device``) and the fleet's hop key.
Every call this orchestrator makes to a joined device carries the device's control bearer
(``core/device_keys.py``), added by ``ControlAuth`` on the shared HTTP client. Revoking a
device revokes its credential, disables its user, declares it dead (self-healing moves its
steps) and keeps it out of placement, polls and registration.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from wasmfleet.core import device_keys, rbac
from wasmfleet.core.errors import Forbidden, InvalidDocument, NotFound, Unauthenticated
from wasmfleet.orchestrator.auth import Identity, new_token, token_sha256
from wasmfleet.orchestrator.devices import device_url
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import Store, TokenRecord, UserRecord
from wasmfleet.orchestrator.store.base import utcnow

log = logging.getLogger(__name__)

DEVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
HOP_KEY_FILE = "fleet-hop.key"
REFRESH_S = 1.0
"""The origin → bearer map is re-read from the store at most this often on a miss."""
Origin = tuple[str, str, int]


def _origin(url: str | httpx.URL) -> Origin:
    parts = urlsplit(str(url))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


class DeviceTrust:
    """Joins devices, knows their control bearers, revokes them."""

    def __init__(self, store: Store, settings: OrchestratorSettings) -> None:
        self.store = store
        self.settings = settings
        self.auth_on = settings.auth == "on"
        self._key_path = settings.resolved_data_dir / HOP_KEY_FILE
        self._hop_key: str | None = None
        self._bearers: dict[Origin, str] = {}
        self._read_at = -REFRESH_S
        self._revoked: set[str] | None = None

    # -- the fleet's hop key -----------------------------------------------------------

    @property
    def hop_key(self) -> str:
        """The fleet's hop key (hex), made on first use and kept in the data dir (0600)."""
        if self._hop_key is None:
            self._hop_key = _read_or_make_key(self._key_path)
        return self._hop_key

    # -- joining -------------------------------------------------------------------------

    def join(self, who: Identity, body: Any) -> dict[str, Any]:
        """A device's credential for a join token (used up here); the join answer."""
        if not self.auth_on:
            raise InvalidDocument(
                "This orchestrator runs with --auth off: devices join only when it checks "
                "tokens (--auth on); start the supervisor with --orchestrator URL instead."
            )
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not DEVICE_NAME.match(name):
            raise InvalidDocument(
                'Send {"name": "<device name>"}: 1-63 letters, digits, ".", "_" or "-".'
            )
        token_name = who.token_name or ""
        if who.role is rbac.Role.JOIN and token_name.startswith(device_keys.JOIN_TOKEN_PREFIX):
            meant = token_name[len(device_keys.JOIN_TOKEN_PREFIX) :]
            if meant != name:
                raise Forbidden(
                    f"This join token is for the device {meant!r}, not {name!r}; start the "
                    f"supervisor with --name {meant}."
                )
        if who.role is rbac.Role.JOIN and who.token_id:
            now = utcnow()
            used = self.store.revoke_token(who.token_id, at=now)
            if used.revoked_at != now:  # another join used it first
                raise Unauthenticated("The join token was already used; create a new one.")
        user = self._device_user(name)
        for old in self.store.list_tokens(user.id):
            if old.revoked_at is None:
                self.store.revoke_token(old.id)  # a device re-joining replaces its credential
        secret = new_token()
        self.store.add_token(TokenRecord(token_sha256(secret), "credential", user.id, "device"))
        self.forget()
        log.info("device joined", extra={"device": name, "by": who.actor})
        return {
            "device": name,
            "user": user.name,
            "token": secret,
            "hop_key": self.hop_key,
            "orchestrator_url": self.settings.resolved_public_url,
        }

    def _device_user(self, name: str) -> UserRecord:
        user_name = device_keys.device_user(name)
        found = self.store.get_user(user_name)
        if found is None:
            return self.store.add_user(UserRecord(name=user_name, role="device"))
        if found.disabled_at is not None:
            raise Forbidden(
                f"The device {name} was revoked at {found.disabled_at.isoformat()}; it may "
                "not join again under this name."
            )
        if found.role != "device":
            raise Forbidden(f"The user {user_name} is not a device; choose another device name.")
        return found

    # -- revoking ------------------------------------------------------------------------

    def revoke(self, name: str) -> dict[str, Any]:
        """Revoke a device's credentials and disable its user; the revoked device."""
        user = self.store.get_user(device_keys.device_user(name))
        if user is None:
            raise NotFound(f"No joined device named {name!r}; see `wasmfleet device ls`.")
        tokens = [t for t in self.store.list_tokens(user.id) if t.revoked_at is None]
        for token in tokens:
            self.store.revoke_token(token.id)
        disabled = self.store.disable_user(user.name)
        self.forget()
        self._revoked = None
        return {"device": name, "revoked_at": disabled.disabled_at, "tokens": len(tokens)}

    def revoked(self) -> set[str]:
        """Names of revoked devices (their users are disabled)."""
        if self._revoked is None:
            self._revoked = {
                device
                for u in self.store.list_users()
                if u.disabled_at is not None
                and (device := device_keys.device_of_user(u.name)) is not None
            }
        return self._revoked

    def refuse_revoked(self, name: str) -> None:
        """Forbidden when ``name`` is a revoked device (it may not register again)."""
        if name in self.revoked():
            raise Forbidden(
                f"The device {name} was revoked; it may not register. An admin can let it "
                "join again under another name."
            )

    @staticmethod
    def check_caller(who: Identity, name: str) -> None:
        """A device's credential speaks only for that device: Forbidden otherwise."""
        if who.role is not rbac.Role.DEVICE:
            return
        own = device_keys.device_of_user(who.actor)
        if own != name:
            raise Forbidden(f"The credential of {who.actor} may not speak for the device {name!r}.")

    # -- control bearers -----------------------------------------------------------------

    def forget(self) -> None:
        """Re-read the bearers at the next call: a device joined, registered (its address
        may be new) or was revoked. (Another orchestrator on the same database is seen
        within ``REFRESH_S``.)"""
        self._read_at = -REFRESH_S

    def bearer_for(self, url: str | httpx.URL) -> str | None:
        """The control bearer of the joined device at ``url``, or None."""
        origin = _origin(url)
        found = self._bearers.get(origin)
        if found is None and time.monotonic() - self._read_at >= REFRESH_S:
            self._bearers = self._read_bearers()
            self._read_at = time.monotonic()
            found = self._bearers.get(origin)
        return found

    def _read_bearers(self) -> dict[Origin, str]:
        active: dict[str, str] = {}
        for token in self.store.list_tokens():
            device = device_keys.device_of_user(token.user)
            if device is None or token.role != "device" or token.revoked_at is not None:
                continue
            if token.user_disabled_at is None:
                active[device] = device_keys.control_bearer(token.sha256)
        if not active:  # no device has joined: no need to read the fleet (on the event loop)
            return {}
        out: dict[Origin, str] = {}
        for dev in self.store.list_devices():
            bearer = active.get(dev.name)
            if bearer is None:
                continue
            for address in dev.addresses:
                out[_origin(device_url(address, dev.port, dev.tls))] = bearer
        return out


class ControlAuth(httpx.Auth):
    """Adds the control bearer to every request this orchestrator sends to a joined device."""

    def __init__(self, trust: DeviceTrust) -> None:
        self.trust = trust

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Send the request with the device's control bearer, if it has joined."""
        if "authorization" not in request.headers:
            bearer = self.trust.bearer_for(request.url)
            if bearer is not None:
                request.headers["authorization"] = f"Bearer {bearer}"
        yield request


def _read_or_make_key(path: Path) -> str:
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if re.fullmatch(r"[0-9a-f]{64}", key):
            return key
        log.warning("the hop key file is damaged; making a new one", extra={"path": str(path)})
        path.unlink()
    key = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key
