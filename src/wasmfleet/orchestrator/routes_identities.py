"""``/api/v1/whoami``, ``/users``, ``/tokens`` and ``/audit``: identities and the audit log.

Route-level rights are in core/rbac.py; these handlers add the finer rule for tokens: anyone
signed in may create, list and revoke their own tokens, of their role or one it covers; an
admin may do so for any user. With ``--auth off`` nobody is signed in, so creating a token
names its user (that is how the first tokens are made before auth is turned on).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request

from wasmfleet.core import rbac
from wasmfleet.core.errors import ConfigurationError, Forbidden, InvalidDocument, NotFound
from wasmfleet.core.places import parse_location
from wasmfleet.orchestrator.auth import ANONYMOUS, IDENTITY, Identity, expiry, new_token
from wasmfleet.orchestrator.auth import token_sha256 as sha256_of
from wasmfleet.orchestrator.service import Orchestrator
from wasmfleet.orchestrator.store import AuditRecord, TokenRecord, UserRecord
from wasmfleet.orchestrator.store.base import utcnow
from wasmfleet.service.http import JSONResponse, read_json
from wasmfleet.service.setting_values import parse_duration

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
MAX_TOKEN_LIFE_S = 10 * 366 * 86400.0
MAX_AUDIT = 1000


def caller(request: Request) -> Identity:
    """The identity the auth dependency found for this request."""
    found = getattr(request.state, IDENTITY, None)
    return found if isinstance(found, Identity) else ANONYMOUS


def user_view(user: UserRecord) -> dict[str, Any]:
    """A user as /api/v1 shows it."""
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "created_at": user.created_at,
        "disabled_at": user.disabled_at,
        "locations": user.locations,
    }


def _locations(value: Any) -> list[str] | None:
    """Where an end user may install apps: a list of location paths, or None (anywhere)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise InvalidDocument(
            '"locations" must be a non-empty list of location paths such as ["campus/lab-1"], '
            "or left out (anywhere)."
        )
    return sorted({parse_location(v, "locations") for v in value})


def token_view(token: TokenRecord) -> dict[str, Any]:
    """A token as /api/v1 shows it: never its secret nor its hash."""
    return {
        "id": token.id,
        "name": token.name,
        "user": token.user,
        "role": token.role,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
    }


def audit_view(entry: AuditRecord) -> dict[str, Any]:
    """An audit entry as /api/v1 shows it."""
    return {
        "id": entry.id,
        "time": entry.time,
        "actor": entry.actor,
        "role": entry.role,
        "token_id": entry.token_id,
        "method": entry.method,
        "route": entry.route,
        "path": entry.path,
        "target": entry.target,
        "status": entry.status,
    }


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise InvalidDocument(
            f"The {what} must be 1 to 64 letters, digits or . _ @ + - (starting with a letter "
            f"or digit), got {value!r}."
        )
    return value


def _role(value: Any) -> rbac.Role:
    names = ", ".join(r.value for r in rbac.HUMAN_ROLES)
    if value == rbac.Role.JOIN:
        return rbac.Role.JOIN  # an admin's single-use token for a device to join with
    if value == rbac.Role.DEVICE:
        raise InvalidDocument(
            "The role device is for supervisors, which get it from a join token; choose one "
            f"of {names}."
        )
    if value not in [r.value for r in rbac.HUMAN_ROLES]:
        raise InvalidDocument(f"The role must be one of {names}, got {value!r}.")
    return rbac.Role(value)


def _lifetime(value: Any) -> float | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ConfigurationError("")
        seconds = float(value) if isinstance(value, int | float) else parse_duration(str(value), "")
    except (ConfigurationError, ValueError, OverflowError):
        seconds = -1.0
    if not 0 < seconds <= MAX_TOKEN_LIFE_S:
        raise InvalidDocument(
            f'"expires_in" must be a duration such as 30d, 12h or 3600 (seconds), more than 0 '
            f"and at most 10 years; got {value!r}."
        )
    return seconds


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            back = parse_duration(value, "")
            return utcnow() - timedelta(seconds=min(back, 100 * 366 * 86400.0))
        except (ConfigurationError, OverflowError):
            raise InvalidDocument(
                f"since must be an ISO time (2025-01-31T12:00:00Z) or a duration back from "
                f"now (15m, 2h, 7d), got {value!r}."
            ) from None
    return moment


def identities_router(orch: Orchestrator) -> APIRouter:
    """The identity and audit routes bound to one orchestrator."""
    router = APIRouter(prefix="/api/v1", tags=["identities"])
    limit = orch.settings.body_limit.fixed(16 * 1024)
    Caller = Depends(caller)

    def user_named(name: str) -> UserRecord:
        found = orch.store.get_user(name)
        if found is None:
            raise NotFound(f"No user named {name!r}; see `wasmfleet user ls`.")
        return found

    def may_manage(who: Identity, user_id: str) -> bool:
        return not who.signed_in or who.role is rbac.Role.ADMIN or who.user_id == user_id

    @router.get("/whoami")
    def whoami(who: Identity = Caller) -> Any:
        """Who the token belongs to, its role, and whether this orchestrator checks tokens."""
        return {
            "user": who.actor,
            "role": who.role,
            "token": {"id": who.token_id, "name": who.token_name} if who.token_id else None,
            "auth": "on" if orch.auth.enabled else "off",
        }

    @router.get("/users")
    def list_users() -> Any:
        """Every user, by name."""
        return [user_view(u) for u in orch.store.list_users()]

    @router.post("/users", status_code=201)
    async def add_user(request: Request) -> Any:
        """Add a user: `{"name", "role", "locations"?}` (`locations`: where an end user may
        install apps, at or below these paths; left out: anywhere)."""
        body = await read_json(request, limit)
        if not isinstance(body, dict):
            raise InvalidDocument('Send {"name": "alice", "role": "developer"}.')
        user = UserRecord(
            name=_name(body.get("name"), "user name"),
            role=_role(body.get("role")),
            locations=_locations(body.get("locations")),
        )
        return user_view(orch.store.add_user(user))

    @router.get("/users/{name}")
    def get_user(name: str) -> Any:
        """One user with their tokens (without secrets)."""
        user = user_named(name)
        tokens = orch.store.list_tokens(user.id)
        return {**user_view(user), "tokens": [token_view(t) for t in tokens]}

    @router.post("/users/{name}/disable")
    def disable_user(name: str) -> Any:
        """Disable a user: their tokens are refused from now on (kept for the audit)."""
        user_named(name)
        return user_view(orch.store.disable_user(name))

    @router.post("/tokens", status_code=201)
    async def create_token(request: Request, who: Identity = Caller) -> Any:
        """Create a token: `{"name", "role"?, "expires_in"?: "30d", "user"?}`; the answer
        holds the secret `token`, shown this once."""
        body = await read_json(request, limit)
        if not isinstance(body, dict):
            raise InvalidDocument('Send {"name": "ci", "role": "viewer", "expires_in": "30d"}.')
        name = _name(body.get("name", "token"), "token name")
        seconds = _lifetime(body.get("expires_in"))
        if body.get("user") is not None:
            user = user_named(_name(body["user"], "user name"))
        elif who.signed_in:
            user = user_named(who.actor)
        else:
            raise InvalidDocument(
                'Name the user the token is for ("user": "alice"): with --auth off nobody '
                "is signed in."
            )
        if not may_manage(who, user.id):
            raise Forbidden(f"Only an admin may create tokens for another user ({user.name}).")
        role = _role(body.get("role", user.role))
        if not rbac.covers(user.role, role) or (who.role and not rbac.covers(who.role, role)):
            raise Forbidden(
                f"A token of role {role} needs a user whose role covers it; {user.name} is "
                f"{user.role}."
            )
        if user.disabled_at is not None:
            raise InvalidDocument(f"The user {user.name} is disabled; their tokens are refused.")
        secret = new_token()
        now = utcnow()
        record = orch.store.add_token(
            TokenRecord(
                sha256_of(secret),
                name,
                user.id,
                role=role,
                created_at=now,
                expires_at=expiry(now, seconds),
            )
        )
        return JSONResponse({**token_view(record), "token": secret}, status_code=201)

    @router.get("/tokens")
    def list_tokens(user: str | None = None, who: Identity = Caller) -> Any:
        """Tokens without secrets: one's own; an admin sees everyone's (or one `user`'s)."""
        if who.signed_in and who.role is not rbac.Role.ADMIN:
            if user is not None and user != who.actor:
                raise Forbidden("Only an admin may list another user's tokens.")
            return [token_view(t) for t in orch.store.list_tokens(who.user_id)]
        user_id = user_named(user).id if user is not None else None
        return [token_view(t) for t in orch.store.list_tokens(user_id)]

    @router.delete("/tokens/{token_id}")
    def revoke_token(token_id: str, who: Identity = Caller) -> Any:
        """Revoke a token (one's own; an admin any): it is refused from now on."""
        found = orch.store.get_token(token_id)
        if found is None or not may_manage(who, found.user_id):
            raise NotFound(f"No token {token_id!r} of yours; see `wasmfleet token ls`.")
        return token_view(orch.store.revoke_token(token_id))

    @router.get("/audit")
    def list_audit(since: str | None = None, actor: str | None = None, limit: int = 100) -> Any:
        """Changes made through the API, newest first (`since`: ISO time or 2h, 7d)."""
        if not 1 <= limit <= MAX_AUDIT:
            raise InvalidDocument(f"limit must be between 1 and {MAX_AUDIT}, got {limit}.")
        rows = orch.store.list_audit(since=_since(since), actor=actor, limit=limit)
        return [audit_view(e) for e in rows]

    return router
