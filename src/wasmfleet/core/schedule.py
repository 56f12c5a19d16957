"""Schedules of installed apps: a 5-field cron in a named IANA time zone, evaluated to UTC.

Pure: no clock, no I/O. The caller passes "now"; every datetime in and out is aware, and every
datetime out is UTC. A cron is matched against the zone's wall clock, then each wall time is
placed on the UTC line with two daylight-saving rules (docs/schedules.md):

- a wall time that does not exist (skipped by a spring-forward) fires at the first valid
  instant after it, the moment of the transition, once however many such times there are;
- a wall time that happens twice (repeated by a fall-back) fires once, at its first occurrence.

``core/schedule_due.py`` decides what is due now; this module parses and lists fires.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, CroniterError, croniter

from wasmfleet.core.errors import InvalidDocument

FIELDS = ("minute", "hour", "day of month", "month", "day of week")
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
MAX_WINDOW = timedelta(days=7)
"""The longest window a ``window`` schedule may keep an app deployed."""
MAX_STEPS = 100_000
"""The most cron matches one call walks through (bounds every loop here)."""
_SLACK = timedelta(hours=3)
"""Wall-clock margin before a UTC instant that covers any zone's daylight-saving shift."""
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")
C = TypeVar("C", bound=StrEnum)
_KEYS = {"cron", "timezone", "start", "end", "count", "mode", "duration", "missed"}


class ScheduleError(InvalidDocument):
    """A schedule that cannot be used; the message names the field and what to change."""


class Mode(StrEnum):
    """What a fire does: run the app's function once, or open a window the app is deployed in."""

    RUN = "run"
    WINDOW = "window"


class Missed(StrEnum):
    """What happens to fires missed while the orchestrator was down."""

    ONCE = "once"
    """Run the latest missed fire once (join an open window late)."""
    SKIP = "skip"
    """Run none of them; wait for the next fire (skip a window whose opening was missed)."""


@dataclass(frozen=True)
class Schedule:
    """A parsed, valid schedule; ``start`` and ``end`` are UTC (``end`` exclusive)."""

    cron: str
    timezone: str
    start: datetime | None = None
    end: datetime | None = None
    count: int | None = None
    mode: Mode = Mode.RUN
    duration: timedelta | None = None
    missed: Missed = Missed.ONCE

    @property
    def zone(self) -> ZoneInfo:
        """The named time zone."""
        return ZoneInfo(self.timezone)

    def to_dict(self) -> dict[str, Any]:
        """The stored form: JSON-ready, instants in UTC, parsed back by ``parse_schedule``."""
        doc: dict[str, Any] = {"cron": self.cron, "timezone": self.timezone}
        if self.start is not None:
            doc["start"] = _iso(self.start)
        if self.end is not None:
            doc["end"] = _iso(self.end)
        if self.count is not None:
            doc["count"] = self.count
        doc["mode"] = self.mode.value
        if self.duration is not None:
            doc["duration"] = f"{int(self.duration.total_seconds()) // 60}m"
        doc["missed"] = self.missed.value
        return doc


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_schedule(doc: Mapping[str, Any]) -> Schedule:
    """A Schedule from a JSON-like document; ScheduleError with a sentence for bad input."""
    if not isinstance(doc, Mapping):
        raise ScheduleError("A schedule must be an object with at least 'cron' and 'timezone'.")
    unknown = sorted(str(k) for k in doc if k not in _KEYS)
    if unknown:
        raise ScheduleError(
            f"Unknown schedule field(s) {', '.join(unknown)}; "
            f"a schedule takes {', '.join(sorted(_KEYS))}."
        )
    zone_name = _timezone(doc.get("timezone"))
    zone = ZoneInfo(zone_name)
    cron = parse_cron(doc.get("cron"))
    start = _moment(doc.get("start"), zone, "start", end_of_day=False)
    end = _moment(doc.get("end"), zone, "end", end_of_day=True)
    if start is not None and end is not None and end <= start:
        raise ScheduleError(
            f"The schedule's end ({_iso(end)}) is not after its start ({_iso(start)}); "
            "give an end later than the start."
        )
    count = doc.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ScheduleError(f"'count' must be a whole number of fires, 1 or more (got {count!r}).")
    mode = _choice(doc.get("mode", "run"), Mode, "mode")
    missed = _choice(doc.get("missed", "once"), Missed, "missed")
    duration = _duration(doc.get("duration"))
    if mode is Mode.WINDOW and duration is None:
        raise ScheduleError(
            "A 'window' schedule needs a 'duration' (e.g. '8h' for 08:00-16:00 with cron "
            "'0 8 * * 1-5'): how long the app stays deployed after each opening."
        )
    if mode is Mode.RUN and duration is not None:
        raise ScheduleError("'duration' is for mode 'window'; a 'run' schedule fires one call.")
    schedule = Schedule(cron, zone_name, start, end, count, mode, duration, missed)
    if not next_fires(schedule, start or datetime(2000, 1, 1, tzinfo=UTC), 1) and end is None:
        raise ScheduleError(f"The cron expression {cron!r} never fires; check its day and month.")
    return schedule


def parse_cron(value: Any) -> str:
    """A 5-field cron expression (or an @alias), normalised; ScheduleError naming the field."""
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(
            "'cron' must be a 5-field cron expression such as '0 8,20 * * *' "
            "(minute hour day-of-month month day-of-week)."
        )
    text = ALIASES.get(value.strip().lower(), value.strip())
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"The cron expression {value!r} has {len(fields)} field(s); it needs 5: "
            "minute hour day-of-month month day-of-week (e.g. '0 8,20 * * *')."
        )
    for index, field in enumerate(fields):
        probe = ["*"] * 5
        probe[index] = field
        if not _valid(" ".join(probe)):
            raise ScheduleError(
                f"The {FIELDS[index]} field {field!r} of the cron expression {value!r} "
                "does not parse; use numbers, ranges a-b, lists a,b, steps */n or names."
            )
    normal = " ".join(fields)
    if not _valid(normal):
        raise ScheduleError(f"The cron expression {value!r} does not parse.")
    return normal


def _valid(expr: str) -> bool:
    try:
        croniter(expr, datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError, TypeError):
        return False
    return True


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(
            "'timezone' must name an IANA time zone such as 'Europe/Helsinki' or 'UTC'."
        )
    name = value.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"The time zone {name!r} does not exist; use an IANA name such as "
            "'Europe/Helsinki', 'America/New_York' or 'UTC'."
        ) from None
    return name


def _moment(value: Any, zone: ZoneInfo, name: str, *, end_of_day: bool) -> datetime | None:
    """An aware UTC instant from a datetime, a date or ISO text; naive ones are in ``zone``."""
    if value is None:
        return None
    moment: datetime
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
        if end_of_day:
            moment += timedelta(days=1)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                moment = datetime(day.year, day.month, day.day)
                if end_of_day:
                    moment += timedelta(days=1)
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ScheduleError(
                f"'{name}' {value!r} is not a date or time; use ISO 8601 such as "
                "'2025-03-30', '2025-03-30T08:00' (in the schedule's zone) or "
                "'2025-03-30T06:00Z'."
            ) from None
    else:
        raise ScheduleError(f"'{name}' must be an ISO 8601 date or date-time text.")
    if moment.tzinfo is None:
        return wall_to_utc(moment, zone)
    return moment.astimezone(UTC)


def _choice(value: Any, kind: type[C], name: str) -> C:
    try:
        return kind(value)
    except ValueError:
        allowed = " or ".join(repr(c.value) for c in kind)
        raise ScheduleError(f"'{name}' must be {allowed} (got {value!r}).") from None


def _duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    minutes: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        minutes = value
    elif isinstance(value, str):
        match = _DURATION.match(value.strip().lower())
        if match and any(match.groups()):
            d, h, m = (int(g) if g else 0 for g in match.groups())
            minutes = d * 1440 + h * 60 + m
    if minutes is None or minutes < 1 or timedelta(minutes=minutes) > MAX_WINDOW:
        raise ScheduleError(
            f"'duration' {value!r} is not a window length; give minutes or text such as "
            "'8h', '90m' or '1h30m', at least 1 minute and at most 7 days."
        )
    return timedelta(minutes=minutes)


def wall_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall time in ``zone``: a skipped time maps to the moment of
    the transition after it, a repeated time to its first occurrence."""
    first = wall.replace(tzinfo=zone, fold=0)
    utc = first.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) == wall:
        return utc
    # In a gap: the transition lies between the instants the two offsets give; find the
    # first instant with the later offset (bisection over seconds, bounded by the gap).
    early = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(early, utc), max(early, utc)
    after = hi.astimezone(zone).utcoffset()
    for _ in range(64):
        if hi - lo <= timedelta(seconds=1):
            break
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _walls(schedule: Schedule, after_utc: datetime) -> Iterator[datetime]:
    """Cron matches on the zone's wall clock from a little before ``after_utc``, in order."""
    local = after_utc.astimezone(schedule.zone).replace(tzinfo=None) - _SLACK
    it = croniter(schedule.cron, local, ret_type=datetime, max_years_between_matches=30)
    for _ in range(MAX_STEPS):
        try:
            wall = it.get_next(datetime)
        except CroniterBadDateError:
            return
        yield wall


def fires_after(schedule: Schedule, after_utc: datetime) -> Iterator[tuple[datetime, datetime]]:
    """(wall time, UTC fire) pairs strictly after ``after_utc``, inside start/end, once each."""
    if after_utc.tzinfo is None:
        raise ValueError("after_utc must be an aware datetime")
    zone = schedule.zone
    floor = after_utc
    if schedule.start is not None and schedule.start > floor:
        floor = schedule.start - timedelta(microseconds=1)
    last: datetime | None = None
    for wall in _walls(schedule, floor):
        fire = wall_to_utc(wall, zone)
        if fire <= floor or fire == last:
            continue
        if schedule.end is not None and fire >= schedule.end:
            return
        last = fire
        yield wall, fire


def next_fires(
    schedule: Schedule, after_utc: datetime, limit: int, *, fired: int = 0
) -> list[datetime]:
    """The next fires strictly after ``after_utc`` in UTC, at most ``limit`` and at most the
    fires left of ``count`` after ``fired`` runs."""
    if schedule.count is not None:
        limit = min(limit, schedule.count - fired)
    out: list[datetime] = []
    if limit <= 0:
        return out
    for _, fire in fires_after(schedule, after_utc):
        out.append(fire)
        if len(out) >= limit:
            break
    return out


def window_close(schedule: Schedule, wall_open: datetime) -> datetime:
    """When a window opened at a wall time closes, in UTC: the wall time plus the duration
    on the zone's clock (08:00 + 8h closes at 16:00 local even across a transition)."""
    assert schedule.duration is not None
    return wall_to_utc(wall_open + schedule.duration, schedule.zone)
