"""core/schedule.py and core/schedule_due.py: cron in a named zone, DST rules, due decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wasmfleet.core.errors import BadRequest, IllegalTransition
from wasmfleet.core.schedule import Missed, Mode, next_fires, parse_schedule
from wasmfleet.core.schedule_due import (
    ScheduleEvent,
    ScheduleStatus,
    due,
    fire_key,
    schedule_next,
)


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def fires(cron: str, tz: str, after: str, n: int, **extra: Any) -> list[str]:
    s = parse_schedule({"cron": cron, "timezone": tz, **extra})
    return [f.strftime("%Y-%m-%dT%H:%MZ") for f in next_fires(s, z(after), n)]


def test_plain_fires_are_local_times_in_utc() -> None:
    assert fires("0 8,20 * * *", "Europe/Helsinki", "2025-01-10T00:00Z", 3) == [
        "2025-01-10T06:00Z", "2025-01-10T18:00Z", "2025-01-11T06:00Z",
    ]  # fmt: skip


# Europe/Helsinki 2025: 30 Mar 03:00 EET -> 04:00 EEST (01:00Z); 26 Oct 04:00 EEST -> 03:00 EET.
def test_helsinki_spring_forward_runs_a_skipped_time_at_the_transition_once() -> None:
    assert fires("30 3 * * *", "Europe/Helsinki", "2025-03-28T12:00Z", 3) == [
        "2025-03-29T01:30Z", "2025-03-30T01:00Z", "2025-03-31T00:30Z",
    ]  # fmt: skip
    # four skipped wall times (03:00, 03:15, 03:30, 03:45) and 04:00 itself: one fire
    assert fires("*/15 3,4 * * *", "Europe/Helsinki", "2025-03-30T00:00Z", 5) == [
        "2025-03-30T01:00Z", "2025-03-30T01:15Z", "2025-03-30T01:30Z", "2025-03-30T01:45Z",
        "2025-03-31T00:00Z",
    ]  # fmt: skip


def test_helsinki_fall_back_runs_a_repeated_time_once_at_its_first_occurrence() -> None:
    assert fires("30 3 * * *", "Europe/Helsinki", "2025-10-25T12:00Z", 2) == [
        "2025-10-26T00:30Z", "2025-10-27T01:30Z",
    ]  # fmt: skip


# America/New_York 2025: 9 Mar 02:00 EST -> 03:00 EDT (07:00Z); 2 Nov 02:00 EDT -> 01:00 EST.
def test_new_york_spring_forward() -> None:
    assert fires("30 2 * * *", "America/New_York", "2025-03-08T00:00Z", 3) == [
        "2025-03-08T07:30Z", "2025-03-09T07:00Z", "2025-03-10T06:30Z",
    ]  # fmt: skip


def test_new_york_fall_back_daily_and_hourly() -> None:
    assert fires("30 1 * * *", "America/New_York", "2025-11-01T12:00Z", 2) == [
        "2025-11-02T05:30Z", "2025-11-03T06:30Z",
    ]  # fmt: skip
    # 01:00 happens twice; it fires once, so the hour 06:00Z has no fire
    assert fires("0 * * * *", "America/New_York", "2025-11-02T04:00Z", 3) == [
        "2025-11-02T05:00Z", "2025-11-02T07:00Z", "2025-11-02T08:00Z",
    ]  # fmt: skip


def test_start_end_and_count() -> None:
    extra = {"start": "2025-01-10", "end": "2025-01-11"}  # dates in the zone; end inclusive
    assert fires("0 8,20 * * *", "Europe/Helsinki", "2025-01-01T00:00Z", 9, **extra) == [
        "2025-01-10T06:00Z", "2025-01-10T18:00Z", "2025-01-11T06:00Z", "2025-01-11T18:00Z",
    ]  # fmt: skip
    s = parse_schedule({"cron": "0 8 * * *", "timezone": "UTC", "count": 2})
    assert len(next_fires(s, z("2025-01-01T00:00Z"), 10)) == 2
    assert next_fires(s, z("2025-01-01T00:00Z"), 10, fired=2) == []


def test_stored_form_parses_back_to_the_same_schedule() -> None:
    s = parse_schedule({
        "cron": "0 8 * * 1-5", "timezone": "America/New_York", "mode": "window",
        "duration": "8h", "start": "2025-03-01T08:00", "count": 5, "missed": "skip",
    })  # fmt: skip
    assert s.start == z("2025-03-01T13:00Z") and s.mode is Mode.WINDOW
    assert s.missed is Missed.SKIP and s.duration == timedelta(hours=8)
    assert parse_schedule(s.to_dict()) == s


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ({"cron": "0 25 * * *", "timezone": "UTC"}, "hour field '25'"),
        ({"cron": "61 * * * *", "timezone": "UTC"}, "minute field '61'"),
        ({"cron": "0 0 * * mon-xyz", "timezone": "UTC"}, "day of week field"),
        ({"cron": "0 8 * *", "timezone": "UTC"}, "has 4 field(s)"),
        ({"cron": "0 0 8 * * *", "timezone": "UTC"}, "has 6 field(s)"),
        ({"cron": "twice a day", "timezone": "UTC"}, "has 3 field(s)"),
        ({"cron": "", "timezone": "UTC"}, "5-field cron"),
        (
            {"cron": "0 8 * * *", "timezone": "Europe/Hellsinki"},
            "'Europe/Hellsinki' does not exist",
        ),
        ({"cron": "0 8 * * *"}, "IANA time zone"),
        (
            {"cron": "0 8 * * *", "timezone": "UTC", "start": "2025-02-01", "end": "2025-01-01"},
            "is not after its start",
        ),
        ({"cron": "0 8 * * *", "timezone": "UTC", "start": "tomorrow"}, "'start' 'tomorrow'"),
        ({"cron": "0 8 * * *", "timezone": "UTC", "count": 0}, "'count' must be"),
        ({"cron": "0 8 * * *", "timezone": "UTC", "count": True}, "'count' must be"),
        ({"cron": "0 8 * * *", "timezone": "UTC", "mode": "often"}, "'mode' must be"),
        ({"cron": "0 8 * * *", "timezone": "UTC", "missed": "all"}, "'missed' must be"),
        ({"cron": "0 8 * * *", "timezone": "UTC", "mode": "window"}, "needs a 'duration'"),
        (
            {"cron": "0 8 * * *", "timezone": "UTC", "mode": "window", "duration": "8 hours"},
            "'duration'",
        ),
        (
            {"cron": "0 8 * * *", "timezone": "UTC", "mode": "window", "duration": "8d"},
            "at most 7 days",
        ),
        ({"cron": "0 8 * * *", "timezone": "UTC", "duration": "8h"}, "is for mode 'window'"),
        ({"cron": "0 8 * * *", "timezone": "UTC", "every": 2}, "Unknown schedule field(s) every"),
        ({"cron": "0 0 30 2 *", "timezone": "UTC"}, "never fires"),
    ],
)
def test_bad_input_is_a_400_with_a_sentence(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_schedule(doc)
    assert words in caught.value.message
    assert caught.value.status == 400


def test_not_an_object() -> None:
    with pytest.raises(BadRequest, match="must be an object"):
        parse_schedule("0 8 * * *")  # type: ignore[arg-type]


RUN = {"cron": "0 8,20 * * *", "timezone": "Europe/Helsinki"}


def test_due_on_time_then_nothing_until_the_next_fire() -> None:
    s = parse_schedule(RUN)
    d = due(s, z("2025-01-09T18:00Z"), z("2025-01-10T06:00:20Z"))
    assert d.fire == z("2025-01-10T06:00Z") and d.missed == 0 and not d.skipped
    assert d.next_fire == z("2025-01-10T18:00Z") and not d.finished
    again = due(s, d.cursor, z("2025-01-10T06:00:40Z"))
    assert again.fire is None and again.next_fire == z("2025-01-10T18:00Z")


def test_missed_once_runs_the_latest_missed_fire_once() -> None:
    s = parse_schedule(RUN)
    d = due(s, z("2025-01-09T06:00Z"), z("2025-01-10T12:00Z"))  # down 18:00Z and 06:00Z
    assert d.fire == z("2025-01-10T06:00Z") and d.missed == 1 and d.cursor == d.fire
    assert due(s, d.cursor, z("2025-01-10T12:00:30Z")).fire is None


def test_missed_skip_runs_nothing_and_advances_the_cursor() -> None:
    s = parse_schedule({**RUN, "missed": "skip"})
    d = due(s, z("2025-01-09T06:00Z"), z("2025-01-10T12:00Z"))
    assert d.fire is None and d.skipped and d.missed == 2
    assert d.cursor == z("2025-01-10T06:00Z") and d.next_fire == z("2025-01-10T18:00Z")


def test_count_and_end_finish_the_schedule() -> None:
    s = parse_schedule({**RUN, "count": 2})
    assert due(s, z("2025-01-10T06:00Z"), z("2025-01-10T18:00:01Z"), fired=2).finished
    last = due(s, z("2025-01-10T06:00Z"), z("2025-01-10T18:00:01Z"), fired=1)
    assert last.fire == z("2025-01-10T18:00Z") and last.next_fire is None
    ended = parse_schedule({**RUN, "end": "2025-01-10T12:00"})
    d = due(ended, z("2025-01-10T06:00Z"), z("2025-01-11T00:00Z"))
    assert d.fire is None and d.finished


def test_never_fired_without_start_only_an_on_time_fire_counts() -> None:
    s = parse_schedule(RUN)
    assert due(s, None, z("2025-01-10T06:10Z")).fire is None
    assert due(s, None, z("2025-01-10T06:00:30Z")).fire == z("2025-01-10T06:00Z")


WINDOW = {"cron": "0 8 * * 1-5", "timezone": "Europe/Helsinki", "mode": "window", "duration": "8h"}


def test_window_opens_on_time_and_says_when_it_closes() -> None:
    s = parse_schedule(WINDOW)  # Fri 10 Jan 2025, 08:00-16:00 EET = 06:00-14:00Z
    d = due(s, None, z("2025-01-10T06:00:10Z"))
    assert d.fire == z("2025-01-10T06:00Z") and d.inside and d.closes_at == z("2025-01-10T14:00Z")
    stay = due(s, d.cursor, z("2025-01-10T10:00Z"))
    assert stay.fire is None and stay.inside and stay.closes_at == z("2025-01-10T14:00Z")
    out = due(s, d.cursor, z("2025-01-10T14:00Z"))
    assert not out.inside and out.next_fire == z("2025-01-13T06:00Z")  # Monday


def test_window_late_join_follows_the_missed_policy() -> None:
    late = z("2025-01-10T10:00Z")
    joined = due(parse_schedule(WINDOW), z("2025-01-09T06:00Z"), late)
    assert joined.fire == z("2025-01-10T06:00Z") and joined.inside
    skipped = due(parse_schedule({**WINDOW, "missed": "skip"}), z("2025-01-09T06:00Z"), late)
    assert skipped.fire is None and skipped.skipped and not skipped.inside
    assert skipped.cursor == z("2025-01-10T06:00Z")


def test_window_across_spring_forward_closes_at_local_wall_time() -> None:
    s = parse_schedule({"cron": "0 22 * * *", "timezone": "Europe/Helsinki", "mode": "window",
                        "duration": "8h"})  # fmt: skip
    d = due(s, None, z("2025-03-29T20:00:05Z"))  # 22:00 EET Sat
    assert d.fire == z("2025-03-29T20:00Z")
    assert d.closes_at == z("2025-03-30T03:00Z")  # 06:00 EEST: 7 real hours


def test_fire_keys_are_stable_and_utc() -> None:
    helsinki = z("2025-01-10T08:00+02:00")
    assert fire_key("inst-1", helsinki) == "inst-1@2025-01-10T06:00:00Z"
    assert fire_key("inst-1", helsinki) == fire_key("inst-1", z("2025-01-10T06:00Z"))
    assert fire_key(7, helsinki) != fire_key(8, helsinki)
    with pytest.raises(ValueError):
        fire_key("x", datetime(2025, 1, 1))
    assert z("2025-01-10T06:00Z").tzinfo is not None and UTC


def test_state_table() -> None:
    assert schedule_next("pending", ScheduleEvent.FIRE) is ScheduleStatus.ACTIVE
    assert schedule_next("active", ScheduleEvent.DONE) is ScheduleStatus.IDLE
    assert schedule_next("idle", ScheduleEvent.FIRE) is ScheduleStatus.ACTIVE
    assert schedule_next("idle", ScheduleEvent.FINISH) is ScheduleStatus.FINISHED
    assert schedule_next("failed", ScheduleEvent.RESUME) is ScheduleStatus.IDLE
    with pytest.raises(IllegalTransition, match="finished cannot take the event 'fire'"):
        schedule_next("finished", ScheduleEvent.FIRE)
