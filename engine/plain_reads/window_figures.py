"""The figures of the whole window (30 days by default): daily statistics, per-workflow
counts and the workflows created each day.

The daily figures and the per-workflow counts come from one index-only read of
``idx_execution_workflow_completed`` (workflow_id, completed_at, status, duration_ms):
days are ranges of that index on PostgreSQL, not a date computed per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from engine.plain_reads.figure_sql import as_date, aware_utc, day_start, tuned_rows, utc_day
from engine.plain_reads.reader import Reader, stored_time
from engine.statuses import ExecutionStatus

SUCCESS, FAILED = ExecutionStatus.SUCCESS.value, ExecutionStatus.FAILED.value


@dataclass(frozen=True)
class DayStats:
    """One UTC day of finished executions."""

    day: date
    finished: int
    succeeded: int
    failed: int
    avg_duration_ms: float | None
    """Mean duration of that day's SUCCESS and FAILED runs."""

    @property
    def success_rate(self) -> float | None:
        """SUCCESS / (SUCCESS + FAILED); None when neither happened."""
        decided = self.succeeded + self.failed
        return self.succeeded / decided if decided else None


@dataclass(frozen=True)
class WorkflowCount:
    """A workflow's finished and failed executions in a window."""

    workflow: str
    executions: int
    failures: int


@dataclass(frozen=True)
class CreatedDay:
    """Workflows created on one UTC day."""

    day: date
    workflows: int


WindowRow = Sequence[Any]
"""(workflow name, segment, total, succeeded, failed, duration sum, timed runs): one
workflow's finished runs in one segment of the window (see ``window_rows``)."""


def window_figures(
    reader: Reader, *, now: datetime, days: int = 30
) -> tuple[list[DayStats], list[WorkflowCount]]:
    """The daily statistics (every UTC day of the last ``days``, today last, zero days
    included) and the per-workflow counts of the last ``days`` days of 24 h (unordered), from
    one read of the window."""
    return window_totals(window_rows(reader, now=now, days=days), now=now, days=days)


def window_rows(
    reader: Reader, *, now: datetime, days: int = 30, part: int = 0, parts: int = 1
) -> list[WindowRow]:
    """The window's finished runs counted per (workflow, segment), for ``window_totals``.

    The per-workflow window starts before the first day's midnight, so it is read as one
    extra leading segment: the rows of the whole window are counted once per (workflow,
    segment) through ``idx_execution_workflow_completed`` (index-only). On PostgreSQL the
    segments can be read in ``parts`` (every ``parts``-th one from ``part``, so each part
    has days from the whole window), each on a connection of its own, in parallel: the
    read is CPU-bound, one core per part. SQLite reads the window in one pass (part 0).
    """
    now = aware_utc(now)
    first = now.date() - timedelta(days=days - 1)
    since = now - timedelta(days=days)
    if reader.dialect != "postgresql":
        return _segments_sqlite(reader, since, now, first) if part == 0 else []
    # Segment 0 is [since, start); segment i ≥ 1 is day i - 1; the last ends at ``now``.
    bounds = [since] + [day_start(first) + timedelta(days=i) for i in range(days)]
    ends = [*bounds[1:], now + timedelta(microseconds=1)]
    mine = range(part, days + 1, parts)
    parameters = {"bounds": [bounds[i] for i in mine], "ends": [ends[i] for i in mine],
                  "segments": list(mine), "success": SUCCESS, "failed": FAILED}  # fmt: skip
    return tuned_rows(reader, _SEGMENTS_PG, parameters) if mine else []


def window_totals(
    rows: Sequence[WindowRow], *, now: datetime, days: int = 30
) -> tuple[list[DayStats], list[WorkflowCount]]:
    """The daily statistics and per-workflow counts (``window_figures``) of the rows of
    every part of one window (``window_rows``). A day's duration is summed in workflow
    order, so the mean is the same float however the parts came back."""
    first = aware_utc(now).date() - timedelta(days=days - 1)
    per_day: dict[int, list[Any]] = {}
    per_workflow: dict[str, list[int]] = {}
    ordered = sorted(rows, key=lambda row: (row[1], row[0]))
    for name, segment, total, succeeded, failed, duration_sum, timed in ordered:
        counts = per_workflow.setdefault(name, [0, 0])
        counts[0] += int(total)
        counts[1] += int(failed)
        if segment >= 1:
            day = per_day.setdefault(segment - 1, [0, 0, 0, 0.0, 0])
            for index, value in enumerate((total, succeeded, failed, duration_sum, timed)):
                day[index] += value or 0
    daily = []
    for offset in range(days):
        total, succeeded, failed, duration_sum, timed = per_day.get(offset, (0, 0, 0, 0.0, 0))
        avg = float(duration_sum) / timed if timed else None
        daily.append(
            DayStats(first + timedelta(days=offset), int(total), int(succeeded), int(failed), avg)
        )
    return daily, [WorkflowCount(name, n, f) for name, (n, f) in per_workflow.items()]


# Per workflow and segment, one index range each: no per-row date, no hashing of ids.
# Each range is counted by status (a hash of a short text per row), then the few status
# rows are summed: cheaper than testing every row against each figure's FILTER.
_SEGMENTS_PG = """
    SELECT w.name, b.segment, CAST(sum(g.total) AS bigint),
           CAST(coalesce(sum(g.total) FILTER (WHERE g.status = :success), 0) AS bigint),
           CAST(coalesce(sum(g.total) FILTER (WHERE g.status = :failed), 0) AS bigint),
           sum(g.duration_sum) FILTER (WHERE g.status IN (:success, :failed)),
           CAST(coalesce(sum(g.timed) FILTER (WHERE g.status IN (:success, :failed)), 0)
                AS bigint)
    FROM workflow AS w
    CROSS JOIN unnest(CAST(:bounds AS timestamptz[]), CAST(:ends AS timestamptz[]),
                      CAST(:segments AS integer[])) AS b (low, high, segment)
    CROSS JOIN LATERAL (
        SELECT e.status, count(*) AS total, sum(e.duration_ms) AS duration_sum,
               count(e.duration_ms) AS timed
        FROM workflow_execution AS e
        WHERE e.workflow_id = w.id AND e.completed_at >= b.low AND e.completed_at < b.high
        GROUP BY e.status
    ) AS g
    GROUP BY w.name, b.segment
"""
# SQLite: one pass over the index grouped by workflow and stored date.
_SEGMENTS_SQLITE = """
    SELECT w.name, g.day, g.total, g.succeeded, g.failed, g.duration_sum, g.timed
    FROM workflow AS w JOIN (
        SELECT workflow_id, date(completed_at) AS day, count(*) AS total,
               count(*) FILTER (WHERE status = :success) AS succeeded,
               count(*) FILTER (WHERE status = :failed) AS failed,
               sum(duration_ms) FILTER (WHERE status IN (:success, :failed)) AS duration_sum,
               count(duration_ms) FILTER (WHERE status IN (:success, :failed)) AS timed
        FROM workflow_execution
        WHERE completed_at >= :since AND completed_at <= :now
        GROUP BY workflow_id, date(completed_at)
    ) AS g ON g.workflow_id = w.id
"""


def _segments_sqlite(
    reader: Reader, since: datetime, now: datetime, first: date
) -> list[Sequence[Any]]:
    """The rows of ``_SEGMENTS_PG``, each stored date turned into its segment."""
    parameters = {"since": stored_time(since, "sqlite"), "now": stored_time(now, "sqlite"),
                  "success": SUCCESS, "failed": FAILED}  # fmt: skip
    return [
        (name, max((as_date(day) - first).days + 1, 0), *figures)
        for name, day, *figures in reader.rows(_SEGMENTS_SQLITE, parameters)
    ]


def top_failing(counts: Sequence[WorkflowCount], limit: int = 10) -> list[WorkflowCount]:
    """The workflows with the most failures (ties: more runs, then name)."""
    failing = [count for count in counts if count.failures]
    failing.sort(key=lambda c: (-c.failures, -c.executions, c.workflow))
    return failing[:limit]


def most_executed(counts: Sequence[WorkflowCount], limit: int = 10) -> list[WorkflowCount]:
    """The workflows with the most finished executions (ties: name)."""
    return sorted(counts, key=lambda c: (-c.executions, c.workflow))[:limit]


def workflows_created(reader: Reader, *, now: datetime, days: int = 30) -> list[CreatedDay]:
    """Workflows created on each UTC day of the last ``days`` (today last)."""
    now = aware_utc(now)
    first = now.date() - timedelta(days=days - 1)
    day = utc_day(reader.dialect, "created_at")
    sql = (
        f"SELECT {day} AS day, count(*) FROM workflow"
        f" WHERE created_at >= :start AND created_at <= :now GROUP BY {day}"
    )
    params = {"start": stored_time(day_start(first), reader.dialect),
              "now": stored_time(now, reader.dialect)}  # fmt: skip
    found = {as_date(d): int(n) for d, n in reader.rows(sql, params)}
    return [
        CreatedDay(first + timedelta(days=i), found.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]
