"""core/leadership.py: who renews, takes over or follows, and the role table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wasmfleet.core.errors import IllegalTransition
from wasmfleet.core.leadership import (
    ROLES,
    Decision,
    Lease,
    Role,
    RoleEvent,
    decide,
    event_of,
    next_lease,
    released,
    renew_every,
    role_after,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FREE = Lease("leader", None, 0, None)


def held(by: str, fencing: int, seconds_left: float) -> Lease:
    return Lease("leader", by, fencing, T0 + timedelta(seconds=seconds_left))


def test_a_free_lease_is_taken_with_the_next_fencing_number() -> None:
    assert decide(FREE, T0, "a", None) is Decision.TAKE
    taken = next_lease(FREE, Decision.TAKE, "a", T0, 3.0)
    assert (taken.holder, taken.fencing, taken.expires_at) == ("a", 1, T0 + timedelta(seconds=3))


def test_the_holder_renews_and_keeps_its_fencing_number() -> None:
    lease = held("a", 7, 1.0)
    assert decide(lease, T0, "a", 7) is Decision.RENEW
    renewed = next_lease(lease, Decision.RENEW, "a", T0, 3.0)
    assert (renewed.fencing, renewed.expires_at) == (7, T0 + timedelta(seconds=3))
    # Renewing after its own expiry is still safe: nobody took over, the fencing is unchanged.
    assert decide(held("a", 7, -5.0), T0, "a", 7) is Decision.RENEW


def test_others_follow_a_live_lease_and_take_an_expired_one() -> None:
    assert decide(held("a", 7, 0.5), T0, "b", None) is Decision.FOLLOW
    assert decide(held("a", 7, 0.0), T0, "b", None) is Decision.TAKE
    assert next_lease(held("a", 7, 0.0), Decision.TAKE, "b", T0, 3.0).fencing == 8


def test_a_leader_whose_fencing_moved_on_does_not_renew() -> None:
    # Paused past its lease: b took over (fencing 8) and its lease still runs.
    assert decide(held("b", 8, 2.0), T0, "a", 7) is Decision.FOLLOW
    # Same holder id but another fencing number is not mine either.
    assert decide(held("a", 9, 2.0), T0, "a", 7) is Decision.FOLLOW


def test_exclusive_takes_a_live_lease_left_by_a_previous_process() -> None:
    assert decide(held("old", 4, 2.0), T0, "new", None, exclusive=True) is Decision.TAKE


def test_released_lease_expires_now() -> None:
    gone = released(held("a", 3, 2.0), T0)
    assert gone.fencing == 3 and gone.expired(T0)
    assert decide(gone, T0, "b", None) is Decision.TAKE


def test_round_outcomes_move_the_role() -> None:
    L, F = Role.LEADER, Role.FOLLOWER
    assert event_of(F, Decision.TAKE, won=True) is RoleEvent.TOOK
    assert event_of(F, Decision.TAKE, won=False) is None  # another orchestrator won the race
    assert event_of(F, Decision.FOLLOW, won=False) is None
    assert event_of(L, Decision.RENEW, won=True) is RoleEvent.RENEWED
    assert event_of(L, Decision.RENEW, won=False) is RoleEvent.SUPERSEDED
    assert event_of(L, Decision.FOLLOW, won=False) is RoleEvent.SUPERSEDED
    assert event_of(L, Decision.TAKE, won=True) is RoleEvent.SUPERSEDED


def test_role_table() -> None:
    assert role_after(Role.FOLLOWER, RoleEvent.TOOK) is Role.LEADER
    assert role_after(Role.LEADER, RoleEvent.EXPIRED) is Role.LOST
    assert role_after(Role.LEADER, RoleEvent.SUPERSEDED) is Role.LOST
    assert role_after(Role.LOST, RoleEvent.STEPPED_DOWN) is Role.FOLLOWER
    assert role_after(Role.LEADER, RoleEvent.RELEASED) is Role.FOLLOWER
    with pytest.raises(IllegalTransition, match="lost cannot take the event 'took'"):
        role_after(Role.LOST, RoleEvent.TOOK)  # work must stop before leading again
    assert all(after in Role for after in ROLES.values())


def test_takeover_bound_fits_the_issue() -> None:
    ttl = 3.0
    assert ttl + renew_every(ttl) <= 5.0
