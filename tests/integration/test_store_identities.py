"""Users, API tokens and the audit log on both store backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wasmfleet.core.errors import Conflict, NotFound
from wasmfleet.orchestrator.store import AuditRecord, Store, TokenRecord, UserRecord

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def test_users_are_unique_by_name_and_can_be_disabled(orchestrator_store: Store) -> None:
    store = orchestrator_store
    assert not store.has_active_admin()
    alice = store.add_user(UserRecord(name="alice", role="admin", created_at=T0))
    assert alice.id and alice.created_at == T0 and alice.disabled_at is None
    assert store.has_active_admin()
    with pytest.raises(Conflict, match="alice"):
        store.add_user(UserRecord(name="alice", role="viewer"))
    store.add_user(UserRecord(name="bob", role="viewer"))
    assert [u.name for u in store.list_users()] == ["alice", "bob"]
    disabled = store.disable_user("alice", at=T0 + timedelta(hours=1))
    assert disabled.disabled_at == T0 + timedelta(hours=1)
    again = store.disable_user("alice")
    assert again.disabled_at == T0 + timedelta(hours=1)  # the first time is kept
    assert not store.has_active_admin()
    with pytest.raises(NotFound, match="carol"):
        store.disable_user("carol")
    assert store.get_user("carol") is None


def test_tokens_are_found_by_hash_revoked_and_touched(orchestrator_store: Store) -> None:
    store = orchestrator_store
    dev = store.add_user(UserRecord(name="dev", role="developer"))
    expires = T0 + timedelta(days=30)
    token = store.add_token(
        TokenRecord(sha256="a" * 64, name="ci", user_id=dev.id, role="viewer", expires_at=expires)
    )
    assert token.id and token.user == "dev" and token.expires_at == expires
    found = store.token_by_sha256("a" * 64)
    assert found is not None and found.id == token.id and found.role == "viewer"
    assert store.token_by_sha256("b" * 64) is None
    with pytest.raises(Conflict):
        store.add_token(TokenRecord(sha256="a" * 64, name="dup", user_id=dev.id, role="viewer"))
    with pytest.raises(NotFound):
        store.add_token(TokenRecord(sha256="c" * 64, name="x", user_id="nobody", role="viewer"))
    store.touch_token(token.id, T0)
    touched = store.get_token(token.id)
    assert touched is not None and touched.last_used_at == T0
    revoked = store.revoke_token(token.id, at=T0)
    assert revoked.revoked_at == T0
    assert store.revoke_token(token.id).revoked_at == T0  # the first time is kept
    with pytest.raises(NotFound):
        store.revoke_token("no-such-token")
    store.disable_user("dev", at=T0)
    after = store.token_by_sha256("a" * 64)
    assert after is not None and after.user_disabled_at == T0


def test_tokens_are_listed_per_user(orchestrator_store: Store) -> None:
    store = orchestrator_store
    a = store.add_user(UserRecord(name="a", role="admin"))
    b = store.add_user(UserRecord(name="b", role="viewer"))
    for i, user in enumerate((a, b, a)):
        store.add_token(
            TokenRecord(
                sha256=f"{i:064x}",
                name=f"t{i}",
                user_id=user.id,
                role=user.role,
                created_at=T0 + timedelta(seconds=i),
            )
        )
    assert [t.name for t in store.list_tokens()] == ["t0", "t1", "t2"]
    assert [t.name for t in store.list_tokens(a.id)] == ["t0", "t2"]


def test_audit_entries_filter_by_time_and_actor(orchestrator_store: Store) -> None:
    store = orchestrator_store
    for i, actor in enumerate(("alice", "bob", "alice")):
        entry = store.add_audit(
            AuditRecord(
                actor=actor,
                method="POST",
                route="/api/v1/modules",
                path="/api/v1/modules",
                status=201,
                time=T0 + timedelta(minutes=i),
                role="developer",
            )
        )
        assert entry.id > 0
    rows = store.list_audit()
    assert [r.actor for r in rows] == ["alice", "bob", "alice"][::-1]  # newest first
    assert rows[0].time == T0 + timedelta(minutes=2) and rows[0].status == 201
    assert [r.actor for r in store.list_audit(actor="bob")] == ["bob"]
    assert len(store.list_audit(since=T0 + timedelta(minutes=1))) == 2
    assert len(store.list_audit(limit=1)) == 1
    assert store.list_audit(limit=10**30) == rows  # bounded, never an overflow
