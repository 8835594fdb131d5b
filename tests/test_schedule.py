"""Cron fire times in a trigger's time zone, including daylight-saving transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

from engine.triggers.schedule import next_fire_times


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def test_weekday_mornings_in_berlin_come_back_in_utc() -> None:
    times = next_fire_times("0 9 * * 1-5", "Europe/Berlin", after=utc(2024, 5, 3, 12))
    # Friday afternoon: next is Monday 09:00 CEST = 07:00 UTC, then Tuesday to Friday.
    assert times == [utc(2024, 5, d, 7) for d in (6, 7, 8, 9, 10)]
    assert all(t.tzinfo is UTC for t in times)


def test_default_is_five_times_after_now_in_utc() -> None:
    before = datetime.now(UTC)
    times = next_fire_times("* * * * *")
    assert len(times) == 5
    assert times[0] > before
    assert times[0] - before <= timedelta(minutes=1)
    assert [b - a for a, b in pairwise(times)] == [timedelta(minutes=1)] * 4


def test_after_is_exclusive() -> None:
    assert next_fire_times("0 12 * * *", after=utc(2024, 5, 1, 12), n=1) == [utc(2024, 5, 2, 12)]


def test_after_in_another_offset_means_the_same_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    after = datetime(2024, 5, 1, 14, 0, tzinfo=plus_two)  # 12:00 UTC
    assert next_fire_times("0 12 * * *", after=after, n=1) == [utc(2024, 5, 2, 12)]


def test_spring_forward_gap_fires_right_after_the_gap() -> None:
    # 2024-03-31 Berlin: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist that day.
    times = next_fire_times("30 2 * * *", "Europe/Berlin", n=3, after=utc(2024, 3, 29, 12))
    assert times == [utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 0), utc(2024, 4, 1, 0, 30)]


def test_fall_back_repeated_time_fires_once_for_a_daily_job() -> None:
    # 2024-10-27 Berlin: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    times = next_fire_times("30 2 * * *", "Europe/Berlin", n=3, after=utc(2024, 10, 25, 12))
    assert times == [utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 0, 30), utc(2024, 10, 28, 1, 30)]


def test_fall_back_hourly_job_fires_every_real_hour() -> None:
    times = next_fire_times("0 * * * *", "Europe/Berlin", n=4, after=utc(2024, 10, 26, 23, 30))
    assert times == [utc(2024, 10, 27, h) for h in (0, 1, 2, 3)]


def test_spring_forward_hourly_job_skips_the_missing_hour_without_duplicates() -> None:
    times = next_fire_times("0 * * * *", "Europe/Berlin", n=3, after=utc(2024, 3, 30, 23, 30))
    assert times == [utc(2024, 3, 31, 0), utc(2024, 3, 31, 1), utc(2024, 3, 31, 2)]


def test_new_york_fall_back_daily_job_fires_once() -> None:
    # 2024-11-03 New York: 02:00 EDT goes back to 01:00 EST; 01:30 happens twice.
    times = next_fire_times("30 1 * * *", "America/New_York", n=2, after=utc(2024, 11, 2, 12))
    assert times == [utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)]


def test_a_date_that_never_comes_gives_no_times() -> None:
    assert next_fire_times("0 0 31 2 *", after=utc(2024, 1, 1)) == []


def test_times_are_strictly_increasing_over_a_year_of_transitions() -> None:
    times = next_fire_times("15 1-3 * * *", "Europe/London", n=1000, after=utc(2024, 1, 1))
    assert times == sorted(set(times))


@pytest.mark.parametrize(
    ("cron", "zone", "after", "n", "message"),
    [
        ("not cron", "UTC", utc(2024, 1, 1), 5, "invalid cron expression"),
        ("* * * * *", "Mars/Olympus", utc(2024, 1, 1), 5, "unknown time zone"),
        ("* * * * *", "UTC", datetime(2024, 1, 1), 5, "timezone-aware"),
        ("* * * * *", "UTC", utc(2024, 1, 1), -1, "n must be"),
    ],
)
def test_bad_input_is_refused(cron: str, zone: str, after: datetime, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_fire_times(cron, zone, n=n, after=after)
