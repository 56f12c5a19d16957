"""The deployment lifecycle (core/lifecycle.py): every transition, legal or not, and the groups."""

from __future__ import annotations

import itertools

import pytest

from wasmfleet.core.errors import IllegalTransition, WasmfleetError
from wasmfleet.core.lifecycle import (
    AWAITING_HEAL,
    HEALABLE,
    IN_FLIGHT,
    RESERVING,
    RUNNABLE,
    TRANSITIONS,
    DeploymentEvent,
    DeploymentStatus,
    advance,
)

E = DeploymentEvent
ALL = ("new", "deploying", "active", "failed", "moving", "degraded")

# Written out independently of the module's table: what each event may do, from where.
EXPECTED: dict[tuple[str, DeploymentEvent], str] = {
    **{(s, E.SOLVED): "new" for s in ALL},
    **{(s, E.SEND): "deploying" for s in ALL},
    ("active", E.MOVE): "moving",
    ("degraded", E.MOVE): "moving",
    ("moving", E.MOVE): "moving",
    ("deploying", E.ACCEPTED): "active",
    ("moving", E.ACCEPTED): "active",
    ("deploying", E.REFUSED): "failed",
    ("moving", E.REFUSED): "degraded",
    ("active", E.STRANDED): "degraded",
    ("degraded", E.STRANDED): "degraded",
    ("moving", E.STRANDED): "degraded",
}


def test_the_stored_strings_are_unchanged() -> None:
    assert sorted(s.value for s in DeploymentStatus) == sorted(ALL)
    assert DeploymentStatus("moving") is DeploymentStatus.MOVING
    assert f"{DeploymentStatus.DEGRADED}" == "degraded" and DeploymentStatus.ACTIVE == "active"


@pytest.mark.parametrize(
    ("status", "event"), list(itertools.product(ALL, DeploymentEvent)), ids=str
)
def test_every_transition(status: str, event: DeploymentEvent) -> None:
    wanted = EXPECTED.get((status, event))
    if wanted is not None:
        assert advance(status, event) == wanted
        assert advance(DeploymentStatus(status), event) is DeploymentStatus(wanted)
        return
    with pytest.raises(IllegalTransition) as refused:
        advance(status, event)
    assert f"is {status} cannot take the event {event.value!r}" in refused.value.message


def test_the_table_is_the_expected_one() -> None:
    assert {(s.value, e): after.value for (s, e), after in TRANSITIONS.items()} == EXPECTED


def test_an_illegal_transition_is_a_bug_not_bad_input() -> None:
    err = IllegalTransition("x")
    assert isinstance(err, WasmfleetError) and err.status == 500
    assert err.to_dict()["error"] == {"status": 500, "code": "illegal_transition", "message": "x"}
    with pytest.raises(IllegalTransition, match="can take: move, send, solved, stranded"):
        advance("degraded", E.ACCEPTED)
    with pytest.raises(IllegalTransition, match="'removed' is not a deployment status"):
        advance("removed", E.SEND)


def test_derived_groups() -> None:
    assert {"deploying", "moving"} == IN_FLIGHT
    assert {"active", "deploying", "moving"} == RUNNABLE
    assert {"active", "degraded", "moving"} == HEALABLE
    assert {"degraded", "moving"} == AWAITING_HEAL
    assert {"active", "deploying", "moving", "degraded"} == RESERVING
    assert all(isinstance(s, DeploymentStatus) for s in RESERVING | HEALABLE)


def walk(status: str, *events: DeploymentEvent) -> list[str]:
    seen = [status]
    for event in events:
        status = advance(status, event)
        seen.append(status)
    return seen


def test_a_users_deploy_and_redeploy() -> None:
    assert walk("new", E.SEND, E.ACCEPTED) == ["new", "deploying", "active"]
    assert walk("new", E.SEND, E.REFUSED, E.SOLVED, E.SEND, E.ACCEPTED) == [
        "new",
        "deploying",
        "failed",
        "new",
        "deploying",
        "active",
    ]


def test_self_healing() -> None:
    # A move is decided (stored), sent (MOVE again), partly refused, retried, and succeeds.
    assert walk("active", E.MOVE, E.MOVE, E.REFUSED, E.MOVE, E.MOVE, E.ACCEPTED) == [
        "active",
        "moving",
        "moving",
        "degraded",
        "moving",
        "moving",
        "active",
    ]
    assert walk("active", E.STRANDED, E.STRANDED, E.MOVE) == [
        "active",
        "degraded",
        "degraded",
        "moving",
    ]
    for status in ("new", "deploying", "failed"):  # never deployed: nothing to move
        with pytest.raises(IllegalTransition):
            advance(status, E.MOVE)


def test_every_status_is_reachable_and_can_become_active_again() -> None:
    reach: dict[DeploymentStatus, set[DeploymentStatus]] = {s: {s} for s in DeploymentStatus}
    for _ in DeploymentStatus:  # transitive closure, bounded by the number of statuses
        for (before, _event), after in TRANSITIONS.items():
            for seen in reach.values():
                if before in seen:
                    seen.add(after)
    assert reach[DeploymentStatus.NEW] == set(DeploymentStatus)
    assert all(DeploymentStatus.ACTIVE in seen for seen in reach.values())
