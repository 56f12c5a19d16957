"""Deciding the next hop of an execution: a pure walk over request-history entries.

The orchestrator calls a deployment's first step; supervisors send each result on to the
next step themselves. Then it walks the chain one step at a time: it reads the entry at
``walk.at`` (``None`` when there is no URL or it could not be read) and ``next_hop`` says
what to do with it::

    Follow(record, url)      record this step; the next step's entry is at ``url``
    Resend(record, step, …)  this step ran but its hop certainly did not reach ``step``:
                             send its result again, to where ``step`` is now
    Finish(ending, records)  record these and stop (``ending`` says why)

``conclude`` turns the walk's end into the execution's result, result URL and error. The
HTTP (calls, entry reads, waiting for a moved step) stays in orchestrator/execution.py;
everything decided here is tested without a network (tests/unit/test_hops.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from wasmfleet.core.protocol import Answer, EntryView

MAX_HOP_RETRIES = 3
"""Failed hops of one execution that are sent again (each only when it certainly did not run)."""
UNCONFIRMED = "ran, but its record could not be read"


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What an execution records of one step (``index`` into the function steps)."""

    index: int
    success: bool
    result: Any
    duration_ms: float | None = None
    result_url: str | None = None
    unconfirmed: bool = False
    """The step ran (the hop before it succeeded), but its entry could not be read."""


@dataclass(frozen=True, slots=True)
class Walk:
    """Where the walk is: the step whose entry is read next, and the latest call answer."""

    total: int
    """The number of function steps."""
    answer: Answer
    """The latest answer of a call the orchestrator made (the first step's, or a resend's)."""
    index: int = 0
    at: str | None = None
    """The URL of step ``index``'s entry, if there is one."""
    retried: int = 0
    max_retries: int = MAX_HOP_RETRIES

    @classmethod
    def start(cls, total: int, answer: Answer, max_retries: int = MAX_HOP_RETRIES) -> Walk:
        """The walk after the first step's call answered."""
        return cls(total, answer, at=answer.result_url, max_retries=max_retries)

    def followed(self, url: str) -> Walk:
        """On to the next step, whose entry is at ``url``."""
        return replace(self, index=self.index + 1, at=url)

    def resent(self, answer: Answer) -> Walk:
        """On to the step that was just called again, which answered ``answer``."""
        return replace(
            self,
            index=self.index + 1,
            at=answer.result_url,
            answer=answer,
            retried=self.retried + 1,
        )


@dataclass(frozen=True, slots=True)
class Follow:
    """Record ``record``; the next step's entry is at ``url``."""

    record: StepOutcome
    url: str


@dataclass(frozen=True, slots=True)
class Resend:
    """Record ``record`` (it ran); send its result ``value`` to step ``step`` again."""

    record: StepOutcome
    step: int
    value: Any
    error: str
    """Why the hop failed, as the supervisor wrote it."""


class Ending(StrEnum):
    """Why a walk stops."""

    DONE = "done"
    """The last step is recorded, or a step's entry names no next one."""
    STEP_FAILED = "step_failed"
    """A step's entry says it failed."""
    HOP_FAILED = "hop_failed"
    """A step ran, but its hop to the next failed and may have run (or retries ran out)."""
    CALL_FAILED = "call_failed"
    """The orchestrator's call of a step (the first, or a resent one) failed, leaving no entry."""
    UNCONFIRMED = "unconfirmed"
    """The steps from here on ran, but their entries could not be read."""
    NO_ENTRY = "no_entry"
    """No entry could be read and the answer tells nothing more."""


@dataclass(frozen=True, slots=True)
class Finish:
    """Record ``records`` and stop."""

    ending: Ending
    records: tuple[StepOutcome, ...] = ()


Decision = Follow | Resend | Finish


def next_hop(walk: Walk, entry: EntryView | None) -> Decision:
    """What to do at step ``walk.index`` given its entry (``None``: none could be read)."""
    index = walk.index
    if index >= walk.total:
        return Finish(Ending.DONE)
    if entry is None:
        return _without_entry(walk)
    hop_failed = (
        not entry.success and entry.next_url is None and index + 1 < walk.total and entry.chained
    )
    if not hop_failed:
        record = StepOutcome(index, entry.success, entry.own_result, entry.duration_ms, walk.at)
        if not entry.success:
            return Finish(Ending.STEP_FAILED, (record,))
        if entry.next_url is None or index + 1 >= walk.total:
            return Finish(Ending.DONE, (record,))
        return Follow(record, entry.next_url)
    # This step ran (a supervisor chains only after a success); its hop to the next failed.
    ran = StepOutcome(index, True, entry.own_result, entry.duration_ms, walk.at)
    error = str(entry.result)
    if not entry.hop.never_ran or walk.retried >= walk.max_retries:
        return Finish(Ending.HOP_FAILED, (ran, StepOutcome(index + 1, False, error)))
    return Resend(ran, index + 1, entry.own_result, error)


def _without_entry(walk: Walk) -> Decision:
    """No entry for step ``walk.index``: what the call's answer still tells."""
    index, answer = walk.index, walk.answer
    if not answer.ok and (index == 0 or walk.at is None):
        # The call of this step (the first, or a resent one) failed and left no record.
        failed = StepOutcome(index, False, answer.error, result_url=walk.at)
        return Finish(Ending.CALL_FAILED, (failed,))
    if index > 0 and answer.ok:
        # The hop to this step succeeded, so it and the rest ran; only their records are
        # out of reach (the device died since). The last one's result is the answer's.
        last = walk.total - 1
        return Finish(
            Ending.UNCONFIRMED,
            tuple(
                StepOutcome(i, True, answer.result if i == last else None, unconfirmed=True)
                for i in range(index, walk.total)
            ),
        )
    return Finish(Ending.NO_ENTRY)


@dataclass(frozen=True, slots=True)
class Conclusion:
    """An execution's end: its result, its result URL, and an error its steps do not show."""

    result: Any
    result_url: str | None
    error: str | None


def conclude(walk: Walk, records: Sequence[StepOutcome]) -> Conclusion:
    """The execution's result (the latest answer's, else the last step's) and error.

    ``error`` is the latest answer's failure when no recorded step explains it; a failed
    step explains itself (the caller names it)."""
    last = records[-1] if records else None
    result = walk.answer.result
    if result is None and last is not None:
        result = last.result
    unexplained = not walk.answer.ok and all(r.success for r in records)
    return Conclusion(
        result=result,
        result_url=last.result_url if last is not None else walk.at,
        error=walk.answer.error if unexplained else None,
    )
