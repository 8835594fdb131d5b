"""The figures of ``wfconsole stats`` and of ``GET /metrics``, beside the dashboard's.

Windows are by completion time, read through ``idx_execution_completed`` (completed_at,
status, duration_ms; index-only on PostgreSQL): executions per hour, success rate, mean
and p95 duration, daily statistics. The p95 is ``percentile_cont`` on PostgreSQL and the
same linear interpolation in Python over the index's duration column on SQLite. The
daily figures and per-workflow lists of the 30-day window come from one index-only read
of ``idx_execution_workflow_completed`` (``window_figures``). The failure reasons are
``engine.services.failure_reasons``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.core_tables import EXECUTION, FAILED, SUCCESS, WORKFLOW
from engine.db import Database
from engine.services.metrics import utc

E = EXECUTION.c
W = WORKFLOW.c
DECIDED = (SUCCESS, FAILED)
P95 = 0.95


@dataclass(frozen=True)
class HourCount:
    """Executions finished (any final state) and failed in one clock hour (UTC)."""

    hour: datetime
    finished: int
    failed: int


@dataclass(frozen=True)
class DurationFigures:
    """Durations of the SUCCESS and FAILED runs finished in a window."""

    runs: int
    avg_ms: float | None
    p95_ms: float | None


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


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """``percentile_cont``: linear interpolation between the closest ranks of sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _hour_number(db: Database, column: Any) -> Any:
    if db.is_sqlite:
        return sa.cast(sa.func.strftime("%s", column), sa.Integer) / 3600
    return sa.func.floor(sa.extract("epoch", column) / 3600)


def _day(db: Database, column: Any) -> Any:
    if db.is_sqlite:
        return _day_sqlite(column)
    return sa.cast(sa.func.timezone("UTC", column), sa.Date)


def _day_sqlite(column: Any) -> Any:
    return sa.func.date(column)  # stored as naive UTC text


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def window_bounds(now: datetime, hours: float) -> tuple[datetime, datetime]:
    """The last ``hours`` before ``now`` (aware UTC)."""
    now = utc(now)
    return now - timedelta(hours=hours), now


def hourly_activity(db: Database, *, now: datetime, hours: int = 24) -> list[HourCount]:
    """Finished and failed executions per clock hour, the current hour last (``hours`` rows)."""
    now = utc(now)
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=hours - 1)
    first = int(start.timestamp()) // 3600
    finished, failed = [0] * hours, [0] * hours
    if not db.is_sqlite:
        # One range of idx_execution_completed per hour, not an epoch computed per row.
        bounds = [start + timedelta(hours=i) for i in range(hours)]
        ends = [*bounds[1:], now + timedelta(microseconds=1)]
        with db.read_engine.connect() as conn:
            conn.exec_driver_sql("SET LOCAL jit = off")
            parameters = {"bounds": bounds, "ends": ends, "failed": FAILED}
            for segment, total, failures in conn.execute(_HOURS_PG, parameters):
                finished[segment - 1], failed[segment - 1] = int(total), int(failures)
        return [HourCount(bounds[i], finished[i], failed[i]) for i in range(hours)]
    bucket = _hour_number(db, E.completed_at).label("hour")
    query = (
        sa.select(bucket, sa.func.count(), sa.func.count().filter(E.status == FAILED))
        .where(E.completed_at >= start, E.completed_at <= now)
        .group_by(bucket)
    )
    with db.read_engine.connect() as conn:
        for number, total, failures in conn.execute(query):
            index = int(number) - first
            if 0 <= index < hours:
                finished[index] += int(total)
                failed[index] += int(failures)
    return [HourCount(start + timedelta(hours=i), finished[i], failed[i]) for i in range(hours)]


_HOURS_PG = sa.text(
    """
    SELECT b.segment, g.total, g.failed
    FROM unnest(CAST(:bounds AS timestamptz[]), CAST(:ends AS timestamptz[]))
        WITH ORDINALITY AS b (low, high, segment)
    CROSS JOIN LATERAL (
        SELECT count(*) AS total, count(*) FILTER (WHERE e.status = :failed) AS failed
        FROM workflow_execution AS e
        WHERE e.completed_at >= b.low AND e.completed_at < b.high
    ) AS g
    """
)


def duration_figures(db: Database, *, now: datetime, hours: float = 24) -> DurationFigures:
    """Mean and p95 duration of the SUCCESS and FAILED runs finished in the last ``hours``."""
    since, until = window_bounds(now, hours)
    where = (
        E.completed_at >= since,
        E.completed_at <= until,
        E.status.in_(DECIDED),
        E.duration_ms.is_not(None),
    )
    with db.read_engine.connect() as conn:
        if db.is_sqlite:
            values = [float(v) for v in conn.scalars(sa.select(E.duration_ms).where(*where))]
            avg = sum(values) / len(values) if values else None
            return DurationFigures(len(values), avg, percentile(values, P95))
        p95 = sa.func.percentile_cont(P95).within_group(E.duration_ms.asc())
        runs, avg, p95_value = conn.execute(
            sa.select(sa.func.count(), sa.func.avg(E.duration_ms), p95).where(*where)
        ).one()
    return DurationFigures(
        int(runs),
        None if avg is None else float(avg),
        None if p95_value is None else float(p95_value),
    )


def daily_statistics(db: Database, *, now: datetime, days: int = 30) -> list[DayStats]:
    """Every UTC day of the last ``days`` (today last), zero days included."""
    return window_figures(db, now=now, days=days)[0]


def workflow_counts(db: Database, *, now: datetime, days: int = 30) -> list[WorkflowCount]:
    """Per workflow, executions finished and failed in the last ``days`` (unordered)."""
    return window_figures(db, now=now, days=days)[1]


def window_figures(
    db: Database, *, now: datetime, days: int = 30
) -> tuple[list[DayStats], list[WorkflowCount]]:
    """``daily_statistics`` and ``workflow_counts`` from one read of the window.

    The per-workflow window (the last ``days`` days of 24 h) starts before the first day's
    midnight, so it is read as one extra leading segment: the rows of the whole window
    are counted once per (workflow, segment) through ``idx_execution_workflow_completed``
    (workflow_id, completed_at, status, duration_ms; index-only). Days are ranges of that
    index, not a date computed per row.
    """
    now = utc(now)
    first = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    since = now - timedelta(days=days)
    # Segment 0 is [since, start); segment i ≥ 1 is day i - 1; the last ends at ``now``.
    bounds = [since] + [start + timedelta(days=i) for i in range(days)]
    ends = [*bounds[1:], now + timedelta(microseconds=1)]
    with db.read_engine.connect() as conn:
        if db.is_sqlite:
            rows = _segments_sqlite(conn, since, now, first)
        else:
            rows = _segments_postgresql(conn, bounds, ends)
    per_day: dict[int, list[Any]] = {}
    per_workflow: dict[str, list[int]] = {}
    for name, segment, total, succeeded, failed, duration_sum, timed in rows:
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
_SEGMENTS_PG = sa.text(
    """
    SELECT w.name, b.segment - 1, g.total, g.succeeded, g.failed, g.duration_sum, g.timed
    FROM workflow AS w
    CROSS JOIN unnest(CAST(:bounds AS timestamptz[]), CAST(:ends AS timestamptz[]))
        WITH ORDINALITY AS b (low, high, segment)
    CROSS JOIN LATERAL (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE e.status = :success) AS succeeded,
               count(*) FILTER (WHERE e.status = :failed) AS failed,
               sum(e.duration_ms) FILTER (WHERE e.status IN (:success, :failed))
                   AS duration_sum,
               count(e.duration_ms) FILTER (WHERE e.status IN (:success, :failed)) AS timed
        FROM workflow_execution AS e
        WHERE e.workflow_id = w.id AND e.completed_at >= b.low AND e.completed_at < b.high
    ) AS g
    WHERE g.total > 0
    """
)


def _segments_postgresql(
    conn: sa.Connection, bounds: list[datetime], ends: list[datetime]
) -> list[tuple[Any, ...]]:
    conn.exec_driver_sql("SET LOCAL jit = off")  # compiling costs more than it saves here
    parameters = {"bounds": bounds, "ends": ends, "success": SUCCESS, "failed": FAILED}
    return [tuple(row) for row in conn.execute(_SEGMENTS_PG, parameters)]


def _segments_sqlite(
    conn: sa.Connection, since: datetime, now: datetime, first: date
) -> list[tuple[Any, ...]]:
    """SQLite: one pass over the index grouped by workflow and stored date."""
    day = _day_sqlite(E.completed_at).label("day")
    decided = E.status.in_(DECIDED)
    grouped = (
        sa.select(
            E.workflow_id,
            day,
            sa.func.count().label("total"),
            sa.func.count().filter(E.status == SUCCESS).label("succeeded"),
            sa.func.count().filter(E.status == FAILED).label("failed"),
            sa.func.sum(E.duration_ms).filter(decided).label("duration_sum"),
            sa.func.count(E.duration_ms).filter(decided).label("timed"),
        )
        .where(E.completed_at >= since, E.completed_at <= now)
        .group_by(E.workflow_id, day)
        .subquery()
    )
    query = sa.select(W.name, grouped).join(grouped, grouped.c.workflow_id == W.id)
    rows = []
    for row in conn.execute(query):
        segment = (_as_date(row.day) - first).days + 1
        rows.append((row.name, max(segment, 0), row.total, row.succeeded, row.failed,
                     row.duration_sum, row.timed))  # fmt: skip
    return rows


def top_failing(counts: Sequence[WorkflowCount], limit: int = 10) -> list[WorkflowCount]:
    """The workflows with the most failures (ties: more runs, then name)."""
    failing = [count for count in counts if count.failures]
    failing.sort(key=lambda c: (-c.failures, -c.executions, c.workflow))
    return failing[:limit]


def most_executed(counts: Sequence[WorkflowCount], limit: int = 10) -> list[WorkflowCount]:
    """The workflows with the most finished executions (ties: name)."""
    return sorted(counts, key=lambda c: (-c.executions, c.workflow))[:limit]


def workflows_created(db: Database, *, now: datetime, days: int = 30) -> list[CreatedDay]:
    """Workflows created on each UTC day of the last ``days`` (today last)."""
    now = utc(now)
    first = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    day = _day(db, W.created_at).label("day")
    query = (
        sa.select(day, sa.func.count())
        .where(W.created_at >= start, W.created_at <= now)
        .group_by(day)
    )
    with db.read_engine.connect() as conn:
        rows = {_as_date(d): int(n) for d, n in conn.execute(query)}
    return [
        CreatedDay(first + timedelta(days=i), rows.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]


@dataclass(frozen=True)
class WorkflowTotals:
    """Lifetime figures from the workflow counters (a small table: cheap to read often)."""

    workflows: int
    enabled: int
    finished: int
    succeeded: int
    failed: int


def workflow_totals(db: Database) -> WorkflowTotals:
    """Sums of every workflow's counters; deleting a workflow takes its share with it."""
    query = sa.select(
        sa.func.count(),
        sa.func.count().filter(W.enabled.is_(True)),
        sa.func.coalesce(sa.func.sum(W.execution_count), 0),
        sa.func.coalesce(sa.func.sum(W.success_count), 0),
        sa.func.coalesce(sa.func.sum(W.failure_count), 0),
    )
    with db.read_engine.connect() as conn:
        row = conn.execute(query).one()
    return WorkflowTotals(*(int(value) for value in row))
