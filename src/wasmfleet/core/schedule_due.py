"""What an install's schedule says to do now, its lifecycle table, and stable fire keys.

Pure: the scheduler loop passes the stored cursor (the latest fire already handled), the runs
so far and "now"; the Decision says which fire to claim, how many were missed and skipped,
whether a window is open and when it closes, and whether the schedule is finished.
Exactly-once across orchestrators is the store's job: it inserts ``fire_key`` as a unique row
and only the orchestrator whose insert succeeded acts on the fire.

Lifecycle of an install's schedule::

    pending ──FIRE──► active ──DONE──► idle ──FIRE──► active
    pending | active | idle ──FINISH──► finished
    pending | active | idle ──FAIL──► failed ──RESUME──► idle
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from wasmfleet.core.schedule import Missed, Mode, Schedule, fires_after, window_close
from wasmfleet.core.state_table import next_state

GRACE = timedelta(seconds=60)
"""A fire this old or younger is on time (the loop's tick); older ones count as missed."""
MAX_PENDING = 10_000
"""The most passed fires one decision walks through; beyond it, missed is a lower bound."""


@dataclass(frozen=True)
class Decision:
    """What to do now. ``fire`` is the fire to claim and act on (None: nothing now);
    ``cursor`` is the new latest-handled fire to store; times are UTC."""

    fire: datetime | None
    cursor: datetime | None
    missed: int = 0
    """Passed fires not acted on as such (the older ones, or all of them under ``skip``)."""
    skipped: bool = False
    """A late fire exists but the ``skip`` policy says not to act on it."""
    inside: bool = False
    """Window mode: now is inside a window."""
    closes_at: datetime | None = None
    """Window mode: when the current window (merged with overlapping ones) closes."""
    next_fire: datetime | None = None
    finished: bool = False


def due(
    schedule: Schedule,
    last_fired_utc: datetime | None,
    now_utc: datetime,
    *,
    fired: int = 0,
    grace: timedelta = GRACE,
) -> Decision:
    """The decision for ``now_utc`` given the latest handled fire (None: never fired, then
    fires from ``start`` count, or only an on-time one) and ``fired`` runs so far."""
    if now_utc.tzinfo is None or (last_fired_utc is not None and last_fired_utc.tzinfo is None):
        raise ValueError("due() takes aware datetimes")
    now = now_utc.astimezone(UTC)
    if schedule.count is not None and fired >= schedule.count:
        return Decision(None, last_fired_utc, finished=True)
    if last_fired_utc is not None:
        floor = last_fired_utc.astimezone(UTC)
    elif schedule.start is not None:
        floor = schedule.start - timedelta(microseconds=1)
    else:
        floor = now - grace - timedelta(microseconds=1)
    if schedule.mode is Mode.WINDOW:
        return _window(schedule, floor, last_fired_utc, now, grace)
    passed: list[datetime] = []
    upcoming: datetime | None = None
    for _, fire in fires_after(schedule, floor):
        if fire > now:
            upcoming = fire
            break
        passed.append(fire)
        if len(passed) >= MAX_PENDING:
            upcoming = _first_after(schedule, now)
            break
    left = None if schedule.count is None else schedule.count - fired
    if not passed:
        return Decision(None, last_fired_utc, next_fire=upcoming, finished=upcoming is None)
    latest = passed[-1]
    on_time = now - latest <= grace
    act = on_time or schedule.missed is Missed.ONCE
    missed = len(passed) - (1 if act else 0)
    after = fired + (1 if act else 0)
    done = upcoming is None or (left is not None and after >= left + fired)
    return Decision(
        latest if act else None,
        latest,
        missed=missed,
        skipped=not act,
        next_fire=None if done else upcoming,
        finished=done and not act,
    )


def _first_after(schedule: Schedule, moment: datetime) -> datetime | None:
    for _, fire in fires_after(schedule, moment):
        return fire
    return None


def _window(
    schedule: Schedule,
    floor: datetime,
    last: datetime | None,
    now: datetime,
    grace: timedelta,
) -> Decision:
    """Window mode: find the latest opening at or before now whose (merged) window holds now."""
    assert schedule.duration is not None
    since = now - schedule.duration - timedelta(hours=3)
    opening: datetime | None = None
    closes: datetime | None = None
    missed = 0
    upcoming: datetime | None = None
    for wall, fire in fires_after(schedule, since):
        if closes is not None and fire < closes:
            closes = max(closes, window_close(schedule, wall))  # overlapping: merge
            continue
        if fire > now:
            upcoming = fire
            break
        if opening is not None and (last is None or opening > last):
            missed += 1  # a whole window opened and closed before now
        opening, closes = fire, window_close(schedule, wall)
    inside = opening is not None and closes is not None and closes > now
    if not inside:
        if opening is not None:
            missed += 1
        cursor = opening if opening is not None and (last is None or opening > last) else last
        return Decision(None, cursor, missed=missed, next_fire=upcoming, finished=upcoming is None)
    assert opening is not None
    new = last is None or opening > last
    late = now - opening > grace
    act = new and (not late or schedule.missed is Missed.ONCE)
    return Decision(
        opening if act else None,
        opening if new else last,
        missed=missed,
        skipped=new and not act,
        inside=act or not new,
        closes_at=closes if (act or not new) else None,
        next_fire=upcoming,
        finished=False,
    )


def fire_key(install_id: str | int, fire_utc: datetime) -> str:
    """The stable key of one fire of one install (the store's unique claim row)."""
    if fire_utc.tzinfo is None:
        raise ValueError("fire_key takes an aware datetime")
    stamp = fire_utc.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{install_id}@{stamp}"


class ScheduleStatus(StrEnum):
    """Where an install's schedule is (stored and shown as these strings)."""

    PENDING = "pending"
    """Installed; the first fire has not come yet."""
    ACTIVE = "active"
    """A run is in progress, or a window is open and the app deployed."""
    IDLE = "idle"
    """Between fires."""
    FINISHED = "finished"
    """The end passed or the count was reached; nothing more will fire."""
    FAILED = "failed"
    """A fire failed in a way that stops the schedule until resumed."""


class ScheduleEvent(StrEnum):
    """What moves a schedule."""

    FIRE = "fire"
    DONE = "done"
    FINISH = "finish"
    FAIL = "fail"
    RESUME = "resume"


_S, _E = ScheduleStatus, ScheduleEvent
TABLE: Mapping[tuple[ScheduleStatus, ScheduleEvent], ScheduleStatus] = {
    (_S.PENDING, _E.FIRE): _S.ACTIVE,
    (_S.IDLE, _E.FIRE): _S.ACTIVE,
    (_S.ACTIVE, _E.DONE): _S.IDLE,
    (_S.PENDING, _E.FINISH): _S.FINISHED,
    (_S.ACTIVE, _E.FINISH): _S.FINISHED,
    (_S.IDLE, _E.FINISH): _S.FINISHED,
    (_S.PENDING, _E.FAIL): _S.FAILED,
    (_S.ACTIVE, _E.FAIL): _S.FAILED,
    (_S.IDLE, _E.FAIL): _S.FAILED,
    (_S.FAILED, _E.RESUME): _S.IDLE,
}


def schedule_next(status: str, event: ScheduleEvent) -> ScheduleStatus:
    """The status after ``event``; IllegalTransition for a move the table lacks."""
    return next_state(TABLE, ScheduleStatus, status, event, "schedule")
