"""Who is calling: API tokens checked on every route, roles checked against core/rbac.py.

``Authenticator.check`` runs as a FastAPI dependency of every route (after routing, before
the handler reads the body), so a refused request changes nothing. With ``--auth off`` every
caller is ``anonymous`` and allowed; with ``--auth on`` a route that is not open needs
``Authorization: Bearer wf_...``: missing, malformed, unknown, expired or revoked tokens (and
tokens of disabled users) → 401 ``Unauthenticated`` saying which; a valid token whose role
the route does not allow → 403 ``Forbidden`` naming the roles that are.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request

from wasmfleet.core import rbac
from wasmfleet.core.errors import ConfigurationError, Conflict, Forbidden, Unauthenticated
from wasmfleet.orchestrator.settings import OrchestratorSettings
from wasmfleet.orchestrator.store import AuditRecord, Store, TokenRecord, UserRecord
from wasmfleet.orchestrator.store.base import utcnow

log = logging.getLogger(__name__)

TOKEN_PREFIX = "wf_"
TOKEN_SHAPE = re.compile(r"^wf_[A-Za-z0-9_-]{32,200}$")
TOUCH_EVERY = timedelta(seconds=60)
"""``last_used_at`` is written at most this often per token (not on every request)."""
IDENTITY = "wasmfleet_identity"
RULE = "wasmfleet_rule"
"""Keys of ``request.state`` (``scope["state"]``) the audit middleware reads."""
DEVICE = frozenset({rbac.Access.DEVICE, rbac.Access.FETCH})
"""The access levels of the routes supervisors call (``--open-device-routes``)."""
HOW_TO_SEND = (
    "send the header 'Authorization: Bearer <token>' (the CLI reads WASMFLEET_TOKEN or "
    "~/.config/wasmfleet/token; an admin creates tokens with `wasmfleet token create`)"
)


def new_token() -> str:
    """A fresh secret: ``wf_`` and 43 url-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_sha256(token: str) -> str:
    """The hex sha256 of a token, the only form in which it is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller of one request."""

    actor: str
    """The user's name, or ``anonymous``."""
    role: rbac.Role | None = None
    user_id: str | None = None
    token_id: str | None = None
    token_name: str | None = None
    last_used_at: datetime | None = None
    """When the token was last recorded as used (before this request)."""

    @property
    def signed_in(self) -> bool:
        """Whether a token identified the caller."""
        return self.user_id is not None


ANONYMOUS = Identity("anonymous")


class Authenticator:
    """Checks the token and the role of every request against the route table."""

    def __init__(self, store: Store, settings: OrchestratorSettings) -> None:
        self.store = store
        self.enabled = settings.auth == "on"
        self.open_wasmiot = settings.open_wasmiot_routes
        self.open_device = settings.open_device_routes
        self.admin_token_file = settings.admin_token_file

    async def check(self, request: Request) -> Identity:
        """The FastAPI dependency: the caller, or Unauthenticated/Forbidden."""
        route = request.scope.get("route")
        # path_format drops converters: /locations/{path:path} is the row /locations/{path}
        template = str(getattr(route, "path_format", None) or request.url.path)
        header = request.headers.get("authorization")
        return await self.admit(request.scope, request.method, template, header)

    async def admit(
        self, scope: MutableMapping[str, Any], method: str, template: str, header: str | None
    ) -> Identity:
        """The caller of a request to the route ``template``, left in ``scope["state"]``
        (with the route's rule) for the handlers and the audit middleware.

        Only a token is looked up in the store, in a worker thread; everything else (auth
        off, an open route, no header) is decided here without leaving the event loop: a
        synchronous dependency would cost every request a worker-thread hop."""
        rule = rbac.rule_for(method, template)
        state = scope.setdefault("state", {})
        state[RULE] = rule
        if self._reads_store(rule, header):
            identity = await asyncio.to_thread(self.identify, method, template, header)
        else:
            identity = self.identify(method, template, header)
        state[IDENTITY] = identity
        return identity

    def _reads_store(self, rule: rbac.Rule | None, header: str | None) -> bool:
        """Whether ``identify`` may read or write the store (a token must be looked up)."""
        if not self.enabled or (rule is not None and rule.access is rbac.Access.OPEN):
            return False
        return bool(header and header.strip())

    def identify(self, method: str, template: str, header: str | None) -> Identity:
        """Who sends ``header`` to the route, if they may; Unauthenticated or Forbidden."""
        rule = rbac.rule_for(method, template)
        if not self.enabled or (rule is not None and rule.access is rbac.Access.OPEN):
            return ANONYMOUS
        if rule is not None and (
            (rule.wasmiot and self.open_wasmiot) or (self.open_device and rule.access in DEVICE)
        ):
            return self._used(self.authenticate(header)) if header else ANONYMOUS
        identity = self.authenticate(header)
        assert identity.role is not None
        if not rbac.allowed(identity.role, method, template):
            raise Forbidden(
                f"{method} {template} needs the role {rbac.needed_roles(method, template)}; "
                f"the token {identity.token_name!r} of {identity.actor} has the role "
                f"{identity.role}."
            )
        return self._used(identity)

    def _used(self, identity: Identity) -> Identity:
        """Record an accepted token's use (at most once per ``TOUCH_EVERY``); the identity."""
        now = utcnow()
        last = identity.last_used_at
        if identity.token_id and (last is None or now - last >= TOUCH_EVERY):
            self.store.touch_token(identity.token_id, now)
        return identity

    def authenticate(self, header: str | None) -> Identity:
        """The identity behind an Authorization header, or Unauthenticated saying why not.
        Nothing is written: a refused request leaves the token as it was."""
        if not header or not header.strip():
            raise Unauthenticated(f"This route needs an API token: {HOW_TO_SEND}.")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated(
                "The Authorization header is malformed: it must be 'Bearer <token>', "
                f"not {scheme[:20]!r} ...; {HOW_TO_SEND}."
            )
        if not TOKEN_SHAPE.match(token):
            raise Unauthenticated(
                "The token is malformed: wasmfleet tokens are 'wf_' followed by 43 letters, "
                "digits, '-' or '_'; check that it was copied whole."
            )
        found = self.store.token_by_sha256(token_sha256(token))
        if found is None:
            raise Unauthenticated(
                "The token is not known to this orchestrator (mistyped, made for another "
                "orchestrator, or its user was deleted); ask an admin for a new one."
            )
        now = utcnow()
        if found.revoked_at is not None and found.role == rbac.Role.JOIN:
            raise Unauthenticated(
                f"The join token {found.name!r} was used (or revoked) at "
                f"{found.revoked_at.isoformat()}: join tokens work once; create a new one "
                "with `wasmfleet token create --device`."
            )
        if found.revoked_at is not None:
            raise Unauthenticated(
                f"The token {found.name!r} of {found.user} was revoked at "
                f"{found.revoked_at.isoformat()}; create a new one with `wasmfleet token create`."
            )
        if found.expires_at is not None and found.expires_at <= now:
            raise Unauthenticated(
                f"The token {found.name!r} of {found.user} expired at "
                f"{found.expires_at.isoformat()}; create a new one with `wasmfleet token create`."
            )
        if found.user_disabled_at is not None:
            raise Unauthenticated(
                f"The user {found.user} was disabled at {found.user_disabled_at.isoformat()}; "
                "their tokens are refused."
            )
        return Identity(
            found.user, rbac.Role(found.role), found.user_id, found.id, found.name,
            found.last_used_at,
        )  # fmt: skip

    def bootstrap(self) -> str | None:
        """With auth on and no active admin: create one with a token; the token, else None.

        The token is read from ``--admin-token-file`` when that file exists, else generated
        (and written to that file with mode 0600 when one is named)."""
        if not self.enabled or self.store.has_active_admin():
            return None
        path = self.admin_token_file
        token = _read_token_file(path) if path is not None and path.exists() else new_token()
        name = "admin"
        for n in range(2, 100):
            if self.store.get_user(name) is None:
                break
            name = f"admin-{n}"
        try:
            user = self.store.add_user(UserRecord(name=name, role="admin"))
            self.store.add_token(
                TokenRecord(token_sha256(token), "bootstrap", user.id, role="admin")
            )
        except Conflict:  # another orchestrator on this database bootstrapped meanwhile
            return None
        self.store.add_audit(
            AuditRecord("orchestrator", "START", "first admin", "", 201, target=name)
        )
        if path is not None and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(token + "\n")
            told = f"First admin {name!r} created; its token was written to {path}."
            log.warning(told)
            print(told, flush=True)
        elif path is None:
            told = (
                f"First admin {name!r} created. Its token, shown once, is: {token}\n"
                "Keep it: export WASMFLEET_TOKEN=... or save it in ~/.config/wasmfleet/token."
            )
            log.warning(told)
            print(told, flush=True)
        return token


def _read_token_file(path: Path) -> str:
    token = path.read_text(encoding="utf-8", errors="replace").strip()
    if not TOKEN_SHAPE.match(token):
        raise ConfigurationError(
            f"The admin token file {path} must hold one token: 'wf_' followed by 32 to 200 "
            "letters, digits, '-' or '_'."
        )
    return token


def expiry(now: datetime, seconds: float | None) -> datetime | None:
    """When a token made ``now`` that lives ``seconds`` expires (None: never)."""
    return None if seconds is None else now + timedelta(seconds=seconds)
