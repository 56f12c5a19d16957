"""Users, their API tokens (sha256 only) and the audit log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store.base import StoreBase, as_utc, row_by_name, utcnow
from wasmfleet.orchestrator.store.records import AuditRecord, TokenRecord, UserRecord, new_id
from wasmfleet.orchestrator.store.schema import api_tokens, audit, users

MAX_AUDIT_PAGE = 1000


def _user(row: Row[Any]) -> UserRecord:
    return UserRecord(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        locations=json.loads(row.locations) if row.locations else None,
    )


def _token(row: Row[Any]) -> TokenRecord:
    return TokenRecord(
        id=row.id,
        sha256=row.sha256,
        name=row.name,
        user_id=row.user_id,
        user=row.user_name,
        role=row.role,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        user_disabled_at=row.user_disabled_at,
    )


def _tokens_with_users() -> Any:
    return select(
        api_tokens,
        users.c.name.label("user_name"),
        users.c.disabled_at.label("user_disabled_at"),
    ).join(users, users.c.id == api_tokens.c.user_id)


def _audit(row: Row[Any]) -> AuditRecord:
    return AuditRecord(
        id=int(row.id),
        time=row.time,
        actor=row.actor,
        token_id=row.token_id,
        role=row.role,
        method=row.method,
        route=row.route,
        path=row.path,
        target=row.target,
        status=int(row.status),
    )


class IdentityQueries(StoreBase):
    """Users by name, tokens by id or by the sha256 of their secret, and audit entries."""

    def add_user(self, user: UserRecord) -> UserRecord:
        """Store a new user; Conflict when the name is taken."""
        taken = f"A user named {user.name!r} already exists; choose another name."
        with self._unique(taken), self._write() as conn:
            if row_by_name(conn, users, user.name) is not None:
                raise Conflict(taken)
            user_id = user.id or new_id()
            conn.execute(
                insert(users).values(
                    id=user_id,
                    name=user.name,
                    role=str(user.role),
                    created_at=user.created_at or utcnow(),
                    disabled_at=user.disabled_at,
                    locations=json.dumps(user.locations) if user.locations is not None else None,
                )
            )
            return _user(conn.execute(select(users).where(users.c.id == user_id)).one())

    def get_user(self, name: str) -> UserRecord | None:
        """The user with this name, or None."""
        with self._read() as conn:
            row = row_by_name(conn, users, name)
            return _user(row) if row is not None else None

    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        with self._read() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.name))]

    def has_active_admin(self) -> bool:
        """Whether some admin user is not disabled."""
        query = select(users.c.id).where(users.c.role == "admin", users.c.disabled_at.is_(None))
        with self._read() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def disable_user(self, name: str, *, at: datetime | None = None) -> UserRecord:
        """Disable a user (kept, with their tokens, for the audit); NotFound if unknown.
        Disabling a disabled user keeps the first time."""
        with self._write() as conn:
            row = row_by_name(conn, users, name)
            if row is None:
                raise NotFound(f"No user named {name!r}; see `wasmfleet user ls`.")
            if row.disabled_at is None:
                conn.execute(
                    update(users)
                    .where(users.c.id == row.id)
                    .values(disabled_at=as_utc(at) if at else utcnow())
                )
            return _user(conn.execute(select(users).where(users.c.id == row.id)).one())

    def add_token(self, token: TokenRecord) -> TokenRecord:
        """Store a token (its sha256, never the secret); NotFound when the user is unknown."""
        with self._unique("This token already exists."), self._write() as conn:
            if conn.execute(select(users.c.id).where(users.c.id == token.user_id)).first() is None:
                raise NotFound(f"No user with id {token.user_id!r}.")
            token_id = token.id or new_id()
            conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    sha256=token.sha256,
                    name=token.name,
                    user_id=token.user_id,
                    role=str(token.role),
                    created_at=token.created_at or utcnow(),
                    expires_at=as_utc(token.expires_at) if token.expires_at else None,
                    revoked_at=None,
                    last_used_at=None,
                )
            )
            query = _tokens_with_users().where(api_tokens.c.id == token_id)
            return _token(conn.execute(query).one())

    def token_by_sha256(self, sha256: str) -> TokenRecord | None:
        """The token whose secret has this sha256 (with its user's name and state), or None."""
        with self._read() as conn:
            row = conn.execute(_tokens_with_users().where(api_tokens.c.sha256 == sha256)).first()
            return _token(row) if row is not None else None

    def get_token(self, token_id: str) -> TokenRecord | None:
        """The token with this id, or None."""
        with self._read() as conn:
            row = conn.execute(_tokens_with_users().where(api_tokens.c.id == token_id)).first()
            return _token(row) if row is not None else None

    def list_tokens(self, user_id: str | None = None) -> list[TokenRecord]:
        """Every token (of one user), oldest first."""
        query = _tokens_with_users().order_by(api_tokens.c.created_at, api_tokens.c.id)
        if user_id is not None:
            query = query.where(api_tokens.c.user_id == user_id)
        with self._read() as conn:
            return [_token(r) for r in conn.execute(query)]

    def revoke_token(self, token_id: str, *, at: datetime | None = None) -> TokenRecord:
        """Revoke a token (revoking twice keeps the first time); NotFound if unknown."""
        with self._write() as conn:
            conn.execute(
                update(api_tokens)
                .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=as_utc(at) if at else utcnow())
            )
            row = conn.execute(_tokens_with_users().where(api_tokens.c.id == token_id)).first()
            if row is None:
                raise NotFound(f"No token with id {token_id!r}; see `wasmfleet token ls`.")
            return _token(row)

    def touch_token(self, token_id: str, at: datetime) -> None:
        """Record that the token was used at ``at``."""
        with self._write() as conn:
            conn.execute(
                update(api_tokens).where(api_tokens.c.id == token_id).values(last_used_at=at)
            )

    def add_audit(self, entry: AuditRecord) -> AuditRecord:
        """Append an audit entry (its ``id`` and ``time`` are set)."""
        entry.time = as_utc(entry.time) if entry.time else utcnow()
        with self._write() as conn:
            entry.id = int(
                conn.execute(
                    insert(audit)
                    .values(
                        time=entry.time,
                        actor=entry.actor,
                        token_id=entry.token_id,
                        role=entry.role,
                        method=entry.method,
                        route=entry.route,
                        path=entry.path,
                        target=entry.target,
                        status=entry.status,
                    )
                    .returning(audit.c.id)
                ).scalar_one()
            )
        return entry

    def list_audit(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        """Audit entries at or after ``since``, of one actor or all, newest first."""
        query = select(audit).order_by(audit.c.id.desc())
        if since is not None:
            query = query.where(audit.c.time >= as_utc(since))
        if actor is not None:
            query = query.where(audit.c.actor == actor)
        bounded = max(0, min(limit, MAX_AUDIT_PAGE))
        with self._read() as conn:
            return [_audit(r) for r in conn.execute(query.limit(bounded))]
