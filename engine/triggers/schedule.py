"""When a cron schedule fires: croniter in the trigger's time zone, answers in aware UTC.

Daylight-saving rules (the ones Vixie cron follows, so a daily job never runs twice):

- A wall-clock time skipped by a spring-forward gap fires at the first moment after
  the gap (``30 2 * * *`` in Berlin on the last Sunday of March fires at 03:00 CEST).
- A wall-clock time repeated by a fall-back fires once, on its first pass, unless the
  schedule runs every hour: then each real hour fires (``0 * * * *`` fires at 02:00 CEST
  and again at 02:00 CET, an hour later).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

DEFAULT_COUNT = 5
# Asking for more fire times than this is a mistake (and croniter's search is not free).
MAX_COUNT = 1000


def _runs_every_hour(expression: croniter) -> bool:
    hours = expression.expanded[1]
    return hours == ["*"] or len(set(hours)) >= 24


def _second_pass(moment: datetime) -> bool:
    """True for the repeated occurrence of a wall-clock time in a fall-back hour."""
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def next_fire_times(
    cron: str,
    timezone: str = "UTC",
    n: int = DEFAULT_COUNT,
    after: datetime | None = None,
) -> list[datetime]:
    """The next ``n`` times ``cron`` fires strictly after ``after`` (default: now), in UTC.

    ``cron`` is read in ``timezone`` (an IANA name). Fewer than ``n`` come back when the
    expression fires no more (``0 0 31 2 *``). Raises ``ValueError`` for a bad expression,
    time zone or count, and for a naive ``after``.
    """
    if not 0 <= n <= MAX_COUNT:
        raise ValueError(f"n must be between 0 and {MAX_COUNT}")
    if after is None:
        after = datetime.now(UTC)
    elif after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    if not croniter.is_valid(cron):
        raise ValueError(f"invalid cron expression {cron!r}")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {timezone!r}") from None
    iterator = croniter(cron, after.astimezone(zone))
    every_hour = _runs_every_hour(iterator)
    times: list[datetime] = []
    while len(times) < n:
        try:
            moment: datetime = iterator.get_next(datetime)
        except CroniterBadDateError:
            break  # the expression never matches again
        if not every_hour and _second_pass(moment):
            continue
        as_utc = moment.astimezone(UTC)
        if as_utc <= after or (times and as_utc <= times[-1]):
            continue
        times.append(as_utc)
    return times
