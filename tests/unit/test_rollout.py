"""core/rollout.py: the state table, wave planning, option parsing and the gate decision."""

from __future__ import annotations

import pytest

from wasmfleet.core.errors import IllegalTransition, InvalidDocument
from wasmfleet.core.rollout import (
    ACTIVE,
    TRANSITIONS,
    GateInput,
    Metrics,
    RolloutEvent,
    RolloutOptions,
    RolloutStatus,
    advance,
    check_options,
    judge,
    median,
    parse_duration,
    parse_waves,
    plan_waves,
    unrunnable,
)

S, E = RolloutStatus, RolloutEvent
DEVICES = [f"d{i:02}" for i in range(10)]


def test_a_rollout_moves_forward_through_its_waves() -> None:
    status = advance("pending", E.START)
    status = advance(status, E.GATE_PASSED)
    assert status is S.RUNNING
    assert advance(status, E.COMPLETED) is S.SUCCEEDED


def test_a_failed_gate_rolls_back_and_undo_works_after_success() -> None:
    assert advance("running", E.GATE_FAILED) is S.ROLLING_BACK
    assert advance("rolling_back", E.ROLLED_BACK) is S.ROLLED_BACK
    assert advance("succeeded", E.UNDO) is S.UNDOING
    assert advance("undoing", E.ROLLED_BACK) is S.UNDONE
    assert advance("undoing", E.BACK_FAILED) is S.FAILED
    assert advance("failed", E.UNDO) is S.UNDOING


def test_pause_and_resume() -> None:
    assert advance("running", E.PAUSE) is S.PAUSED
    assert advance("paused", E.RESUME) is S.RUNNING


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("rolled_back", E.UNDO),
        ("succeeded", E.PAUSE),
        ("paused", E.GATE_PASSED),
        ("undone", E.RESUME),
    ],
)
def test_moves_the_table_lacks_are_illegal(status: str, event: RolloutEvent) -> None:
    with pytest.raises(IllegalTransition, match=f"cannot take the event '{event.value}'"):
        advance(status, event)


def test_an_unknown_status_is_named() -> None:
    with pytest.raises(IllegalTransition, match="'lost' is not a rollout status"):
        advance("lost", E.START)


def test_active_statuses_hold_the_deployment() -> None:
    assert {S.PENDING, S.RUNNING, S.PAUSED, S.ROLLING_BACK, S.UNDOING} == ACTIVE
    finished = {S.SUCCEEDED, S.ROLLED_BACK, S.UNDONE, S.FAILED}
    assert not finished & ACTIVE
    assert all(after in S for after in TRANSITIONS.values())


def test_waves_double_after_the_canary() -> None:
    waves = plan_waves(DEVICES, RolloutOptions(canary=1, growth=2))
    assert [len(w) for w in waves] == [1, 2, 4, 3]
    assert waves[0] == ["d00"]
    assert [d for w in waves for d in w] == DEVICES


def test_growth_of_one_keeps_the_size_and_fractions_still_grow() -> None:
    assert [len(w) for w in plan_waves(DEVICES, RolloutOptions(canary=3, growth=1))] == [3, 3, 3, 1]
    assert [len(w) for w in plan_waves(DEVICES, RolloutOptions(canary=1, growth=1.2))] == [
        1,
        2,
        3,
        4,
    ]


def test_explicit_waves_repeat_the_last_size_and_all_takes_the_rest() -> None:
    sizes = parse_waves("1,2,5,all")
    assert sizes == (1, 2, 5, None)
    assert [len(w) for w in plan_waves(DEVICES, RolloutOptions(waves=sizes))] == [1, 2, 5, 2]
    assert [len(w) for w in plan_waves(DEVICES, RolloutOptions(waves=(1, 3)))] == [1, 3, 3, 3]
    assert plan_waves([], RolloutOptions()) == []
    assert plan_waves(["a", "a", "b"], RolloutOptions(canary=5)) == [["a", "b"]]


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,0", "not a positive whole number"), ("all,2", "only be the last"), ("", "not a positive")],
)
def test_bad_waves_are_refused_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(InvalidDocument, match=message):
        parse_waves(text)


def test_durations() -> None:
    assert parse_duration("10s") == 10
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120
    assert parse_duration(3) == 3
    with pytest.raises(InvalidDocument, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(InvalidDocument, match="between 0 s and 1 h"):
        parse_duration(7200)


def test_options_out_of_range_are_named() -> None:
    with pytest.raises(InvalidDocument, match="canary must be at least 1"):
        check_options(RolloutOptions(canary=0))
    with pytest.raises(InvalidDocument, match="error-rate increase"):
        check_options(RolloutOptions(max_error_rate_increase=5))
    assert RolloutOptions().to_dict()["waves"] == []


def test_devices_lacking_host_functions_are_named_as_placement_names_them() -> None:
    requires = frozenset({"camera.takeImageStaticSize", "sys.millis"})
    reasons = unrunnable(
        requires,
        {
            "cam": frozenset({"camera.*", "sys.millis"}),
            "box": frozenset({"millis"}),
            "bare": frozenset(),
        },
    )
    assert reasons == {
        "bare": "bare lacks camera.takeImageStaticSize +1 more",
        "box": "box lacks camera.takeImageStaticSize",
    }


OPTS = RolloutOptions(min_calls=5, max_error_rate_increase=0.05, max_latency_increase=0.5)


def test_the_gate_passes_a_version_as_good_as_the_old_one() -> None:
    result = judge(GateInput(Metrics(100, 1, 2.0), Metrics(50, 1, 2.5)), OPTS)
    assert result.passed and "50 calls to the new version" in result.reason


def test_the_gate_fails_on_errors_latency_death_and_silence() -> None:
    errors = judge(GateInput(Metrics(100, 0, 2.0), Metrics(20, 20, 2.0)), OPTS)
    assert not errors.passed and "error rate of the new version is 100 %" in errors.reason
    slow = judge(GateInput(Metrics(100, 0, 2.0), Metrics(20, 0, 3.2)), OPTS)
    assert not slow.passed and "median latency" in slow.reason
    dead = judge(GateInput(Metrics(), Metrics(), dead={"d1": "dead: no heartbeat"}), OPTS)
    assert not dead.passed and "d1 stopped being active" in dead.reason
    silent = judge(GateInput(Metrics(), Metrics(), unanswered={"d2": "refused"}), OPTS)
    assert not silent.passed and "d2 did not answer" in silent.reason


def test_the_gate_does_not_judge_too_few_calls_but_says_so() -> None:
    result = judge(GateInput(Metrics(100, 0, 2.0), Metrics(2, 2, 9.0)), OPTS)
    assert result.passed and "too few to judge" in result.reason


def test_margins_are_inclusive() -> None:
    edge = judge(GateInput(Metrics(100, 0, 2.0), Metrics(100, 5, 3.0)), OPTS)
    assert edge.passed, edge.reason


def test_median() -> None:
    assert median([]) is None
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 2, 3]) == 2.5
