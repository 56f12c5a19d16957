"""Deciding the next hop of an execution (core/hops.py), every branch, without a network.

Entries are written the way a supervisor writes them (core/protocol.py), sent through JSON,
and read the way the orchestrator reads them.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import orjson
import pytest

from wasmfleet.core.hops import (
    MAX_HOP_RETRIES,
    Decision,
    Ending,
    Finish,
    Follow,
    Resend,
    StepOutcome,
    Walk,
    conclude,
    next_hop,
)
from wasmfleet.core.protocol import (
    Answer,
    HistoryEntry,
    HopStatus,
    new_entry,
    read_entry,
    record_hop,
    record_run,
)

URLS = [f"http://127.0.0.1:{5000 + i}/request-history/d:m{i}:f:1" for i in range(6)]
NEXT = "http://127.0.0.1:5001/d/modules/m1/f"


def ran(result: Any, ms: float = 1.0) -> HistoryEntry:
    """An entry of a function that ran and did not chain."""
    entry = new_entry("d:m:f:1", "d", "m", "f", "GET", "2026-01-01T00:00:00")
    record_run(entry, result, True, ms)
    return entry


def failed(why: str) -> HistoryEntry:
    """An entry of a function that failed itself (a trap)."""
    entry = new_entry("d:m:f:1", "d", "m", "f", "GET", "2026-01-01T00:00:00")
    record_run(entry, why, False, 1.0)
    return entry


def chained(result: Any, status: HopStatus, then: Any, next_url: str | None = None) -> HistoryEntry:
    """An entry of a function that ran and sent its result on (``then``: the hop's result)."""
    entry = ran(result)
    record_hop(entry, NEXT, status, then, next_url)
    return entry


def decide(walk: Walk, entry: dict[str, Any] | HistoryEntry | None) -> Decision:
    """``next_hop`` on an entry as it arrives over the wire."""
    raw = json.loads(orjson.dumps(entry)) if entry is not None else None
    return next_hop(walk, read_entry(raw) if raw is not None else None)


def ok(result: Any, url: str | None) -> Answer:
    return Answer(True, result, url)


def drive(
    total: int, first: Answer, entries: dict[str, Any], resent: list[Answer] | None = None
) -> tuple[list[Decision], list[StepOutcome], Walk]:
    """Walk as the orchestrator does, with ``entries`` by URL and answers to resends."""
    answers = iter(resent or [])
    walk = Walk.start(total, first)
    decisions: list[Decision] = []
    records: list[StepOutcome] = []
    for _ in range(total + 1):
        decision = decide(walk, entries.get(walk.at) if walk.at else None)
        decisions.append(decision)
        if isinstance(decision, Finish):
            records.extend(decision.records)
            return decisions, records, walk
        records.append(decision.record)
        if isinstance(decision, Follow):
            walk = walk.followed(decision.url)
        else:
            walk = walk.resent(next(answers))
    raise AssertionError(f"the walk did not finish within {total + 1} decisions")


# -- the first step ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, URLS[0]])
def test_first_step_refused(url: str | None) -> None:
    first = Answer(False, None, url, "400: 'n' must be an integer")
    decision = decide(Walk.start(2, first), None)  # nothing (readable) at its URL
    assert decision == Finish(
        Ending.CALL_FAILED, (StepOutcome(0, False, "400: 'n' must be an integer", result_url=url),)
    )
    end = conclude(Walk.start(2, first), decision.records)
    assert end.error is None  # the failed step explains it
    assert (end.result, end.result_url) == ("400: 'n' must be an integer", url)


def test_first_step_failed_itself() -> None:
    first = Answer(False, "m.f trapped", URLS[0], "500: m.f trapped")
    decision = decide(Walk.start(2, first), failed("m.f trapped"))
    assert decision == Finish(
        Ending.STEP_FAILED, (StepOutcome(0, False, "m.f trapped", 1.0, URLS[0]),)
    )


def test_first_answer_without_a_result_url() -> None:
    first = ok("13", None)  # a wasmiot supervisor that answers the value only
    decisions, records, walk = drive(2, first, {})
    assert decisions == [Finish(Ending.NO_ENTRY)] and records == []
    end = conclude(walk, records)
    assert (end.result, end.result_url, end.error) == ("13", None, None)


# -- hops --------------------------------------------------------------------------------


def test_hops_that_succeeded_are_followed() -> None:
    entries = {
        URLS[0]: chained("3", HopStatus.OK, "8", URLS[1]),
        URLS[1]: chained("5", HopStatus.OK, "8", URLS[2]),
        URLS[2]: ran("8", 0.25),
    }
    decisions, records, walk = drive(3, ok("8", URLS[0]), entries)
    assert [type(d) for d in decisions] == [Follow, Follow, Finish]
    assert decisions[0] == Follow(StepOutcome(0, True, "3", 1.0, URLS[0]), URLS[1])
    assert decisions[-1] == Finish(Ending.DONE, (StepOutcome(2, True, "8", 0.25, URLS[2]),))
    assert [r.result for r in records] == ["3", "5", "8"]
    end = conclude(walk, records)
    assert (end.result, end.result_url, end.error) == ("8", URLS[2], None)


def test_an_entry_unreadable_after_a_successful_hop() -> None:
    entries = {URLS[0]: chained("3", HopStatus.OK, "8", URLS[1])}  # step 2's device died since
    decisions, records, walk = drive(3, ok("8", URLS[0]), entries)
    assert decisions[-1] == Finish(
        Ending.UNCONFIRMED,
        (
            StepOutcome(1, True, None, unconfirmed=True),
            StepOutcome(2, True, "8", unconfirmed=True),
        ),
    )
    assert conclude(walk, records).error is None


@pytest.mark.parametrize("status", [HopStatus.UNREACHABLE, HopStatus.REFUSED])
def test_a_failed_hop_that_never_ran_is_resent(status: HopStatus) -> None:
    why = f"Could not reach the next hop {NEXT}: refused."
    entries = {URLS[0]: chained("13", status, why), URLS[3]: ran("21")}
    first = Answer(False, why, URLS[0], f"502: {why}")
    decisions, records, walk = drive(2, first, entries, [ok("21", URLS[3])])
    assert decisions[0] == Resend(StepOutcome(0, True, "13", 1.0, URLS[0]), 1, "13", why)
    assert decisions[1] == Finish(Ending.DONE, (StepOutcome(1, True, "21", 1.0, URLS[3]),))
    assert walk.retried == 1
    end = conclude(walk, records)
    assert (end.result, end.result_url, end.error) == ("21", URLS[3], None)


def test_resends_stop_after_max_hop_retries() -> None:
    entry = chained("13", HopStatus.UNREACHABLE, "unreachable")
    first = Answer(False, None, URLS[0], "502")
    for retried in range(MAX_HOP_RETRIES):
        walk = Walk(2, first, at=URLS[0], retried=retried)
        assert isinstance(decide(walk, entry), Resend)
    walk = Walk(2, first, at=URLS[0], retried=MAX_HOP_RETRIES)
    assert decide(walk, entry) == Finish(
        Ending.HOP_FAILED,
        (StepOutcome(0, True, "13", 1.0, URLS[0]), StepOutcome(1, False, "unreachable")),
    )


def test_every_hop_of_a_long_chain_unreachable_uses_up_the_retries() -> None:
    total = MAX_HOP_RETRIES + 2
    entries = {URLS[i]: chained(str(i), HopStatus.UNREACHABLE, "down") for i in range(total)}
    resent = [Answer(False, None, URLS[i + 1], "502") for i in range(total)]
    decisions, records, _ = drive(total, Answer(False, None, URLS[0], "502"), entries, resent)
    assert [type(d) for d in decisions] == [Resend] * MAX_HOP_RETRIES + [Finish]
    assert decisions[-1].ending is Ending.HOP_FAILED  # type: ignore[union-attr]
    assert [r.success for r in records] == [True] * (MAX_HOP_RETRIES + 1) + [False]


@pytest.mark.parametrize(
    "status", [HopStatus.BROKEN, HopStatus.TIMEOUT, HopStatus.FAILED, HopStatus.UNKNOWN]
)
def test_a_failed_hop_that_may_have_run_fails_the_next_step(status: HopStatus) -> None:
    why = f"The next hop {NEXT} failed (409): conflict"  # text is never parsed
    entry: dict[str, Any] = dict(chained("13", status, why))
    if status is HopStatus.UNKNOWN:  # a supervisor that wrote no chain_status
        del entry["chain_status"]
    first = Answer(False, why, URLS[0], f"502: {why}")
    assert decide(Walk.start(3, first), entry) == Finish(
        Ending.HOP_FAILED,
        (StepOutcome(0, True, "13", 1.0, URLS[0]), StepOutcome(1, False, why)),
    )


def test_the_resent_call_failed_without_an_entry() -> None:
    entries = {URLS[0]: chained("13", HopStatus.REFUSED, "fenced")}
    first = Answer(False, None, URLS[0], "502")
    resent = [Answer(False, None, None, "409: fenced again")]
    decisions, records, walk = drive(3, first, entries, resent)
    assert decisions[-1] == Finish(
        Ending.CALL_FAILED, (StepOutcome(1, False, "409: fenced again"),)
    )
    assert conclude(walk, records).error is None


def test_the_resent_call_failed_with_an_unreadable_entry() -> None:
    entries = {URLS[0]: chained("13", HopStatus.UNREACHABLE, "down")}
    first = Answer(False, None, URLS[0], "502")
    resent = [Answer(False, None, URLS[4], "500: gone")]
    decisions, records, walk = drive(3, first, entries, resent)
    assert decisions[-1] == Finish(Ending.NO_ENTRY)
    end = conclude(walk, records)
    assert end.error == "500: gone" and [r.success for r in records] == [True]


def test_a_chained_step_that_failed_itself_is_not_a_hop_failure() -> None:
    entries = {URLS[0]: chained("3", HopStatus.OK, None, URLS[1]), URLS[1]: failed("trap")}
    decisions, _, _ = drive(2, Answer(False, "trap", URLS[0], "502: trap"), entries)
    assert decisions[-1] == Finish(
        Ending.STEP_FAILED, (StepOutcome(1, False, "trap", 1.0, URLS[1]),)
    )


# -- wasmiot supervisors -------------------------------------------------------------------


def wasmiot(result: Any, success: bool = True) -> dict[str, Any]:
    """An original wasmiot supervisor's entry: its keys only."""
    return {
        "request_id": "d:m:f:1",
        "deployment_id": "d",
        "module_name": "m",
        "function_name": "f",
        "method": "GET",
        "request_args": {},
        "request_files": {},
        "work_queued_at": "2026-01-01T00:00:00",
        "result": result,
        "success": success,
    }


def test_a_wasmiot_entry_with_the_result_url_inside_its_result() -> None:
    entries = {URLS[0]: wasmiot({"resultUrl": URLS[1]}), URLS[1]: wasmiot("21")}
    decisions, records, walk = drive(2, ok({"resultUrl": URLS[1]}, URLS[0]), entries)
    assert decisions[0] == Follow(
        StepOutcome(0, True, {"resultUrl": URLS[1]}, None, URLS[0]), URLS[1]
    )
    assert decisions[1] == Finish(Ending.DONE, (StepOutcome(1, True, "21", None, URLS[1]),))
    assert conclude(walk, records).error is None


def test_a_failed_wasmiot_entry_is_never_resent() -> None:
    entry = wasmiot("Connection refused; failed (409)", success=False)
    decision = decide(Walk.start(2, Answer(False, None, URLS[0], "500")), entry)
    assert decision == Finish(
        Ending.STEP_FAILED,
        (StepOutcome(0, False, "Connection refused; failed (409)", None, URLS[0]),),
    )


# -- edges ---------------------------------------------------------------------------------


def test_the_last_step_is_not_followed_further() -> None:
    entry = chained("8", HopStatus.OK, "8", URLS[5])  # chains beyond the plan's steps
    assert decide(Walk.start(1, ok("8", URLS[0])), entry) == Finish(
        Ending.DONE, (StepOutcome(0, True, "8", 1.0, URLS[0]),)
    )
    assert decide(Walk(1, ok("8", None), index=1), ran("8")) == Finish(Ending.DONE)


def test_an_answer_that_failed_after_steps_that_succeeded_is_the_error() -> None:
    walk = Walk.start(1, Answer(False, "8", URLS[0], "502: the orchestrator's view"))
    end = conclude(walk, [StepOutcome(0, True, "8", 1.0, URLS[0])])
    assert end.error == "502: the orchestrator's view" and end.result == "8"


STATUSES = [None, *(s for s in HopStatus if s is not HopStatus.UNKNOWN)]


@pytest.mark.parametrize("total", [1, 2, 3])
def test_every_walk_ends_within_its_bound(total: int) -> None:
    """Any mix of hop outcomes, readable or not, ends after at most total + 1 decisions."""
    for statuses in itertools.product(STATUSES, repeat=total):
        entries: dict[str, Any] = {}
        for i, status in enumerate(statuses):
            if status is None:
                continue  # unreadable
            nxt = URLS[i + 1] if status is HopStatus.OK else None
            entries[URLS[i]] = chained(str(i), status, "x", nxt)
        resent = [Answer(True, "r", URLS[i + 1]) for i in range(total)]
        decisions, records, _ = drive(total, Answer(True, "r", URLS[0]), entries, resent)
        assert isinstance(decisions[-1], Finish)
        assert [r.index for r in records] == sorted({r.index for r in records})
