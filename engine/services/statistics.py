"""The figures of ``wfconsole stats`` and of ``GET /metrics``, beside the dashboard's.

Windows are by completion time, read through ``idx_execution_completed`` (completed_at,
status, duration_ms; index-only on PostgreSQL): executions per hour, success rate, mean
and p95 duration, daily statistics. The p95 is ``percentile_cont`` on PostgreSQL and the
same linear interpolation in Python over the index's duration column on SQLite. The
per-workflow lists and failure reasons read the window's rows (a CLI call, not a
dashboard tick); failure messages are grouped in the database and reduced to signatures
(``error_signature``) in Python, so only distinct messages travel.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.core_tables import EXECUTION, FAILED, SUCCESS, WORKFLOW
from engine.db import Database
from engine.execution.error_signature import classify_error, normalise_error
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
class FailureReason:
    """Failures sharing one error signature, with the most common full message."""

    signature: str
    failures: int
    transient: bool
    example: str


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
        return sa.func.date(column)  # stored as naive UTC text
    return sa.cast(sa.func.timezone("UTC", column), sa.Date)


def _as_date(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _window(now: datetime, hours: float) -> tuple[datetime, datetime]:
    now = utc(now)
    return now - timedelta(hours=hours), now


def hourly_activity(db: Database, *, now: datetime, hours: int = 24) -> list[HourCount]:
    """Finished and failed executions per clock hour, the current hour last (``hours`` rows)."""
    now = utc(now)
    current = now.replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=hours - 1)
    first = int(start.timestamp()) // 3600
    finished, failed = [0] * hours, [0] * hours
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


def duration_figures(db: Database, *, now: datetime, hours: float = 24) -> DurationFigures:
    """Mean and p95 duration of the SUCCESS and FAILED runs finished in the last ``hours``."""
    since, until = _window(now, hours)
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
    now = utc(now)
    first = now.date() - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=now.tzinfo)
    day = _day(db, E.completed_at).label("day")
    decided = E.status.in_(DECIDED)
    query = (
        sa.select(
            day,
            sa.func.count(),
            sa.func.count().filter(E.status == SUCCESS),
            sa.func.count().filter(E.status == FAILED),
            sa.func.sum(E.duration_ms).filter(decided),
            sa.func.count(E.duration_ms).filter(decided),
        )
        .where(E.completed_at >= start, E.completed_at <= now)
        .group_by(day)
    )
    with db.read_engine.connect() as conn:
        rows = {_as_date(row[0]): row[1:] for row in conn.execute(query)}
    result = []
    for offset in range(days):
        current = first + timedelta(days=offset)
        total, succeeded, failed, duration_sum, timed = rows.get(current, (0, 0, 0, None, 0))
        avg = float(duration_sum) / timed if timed else None
        result.append(DayStats(current, int(total), int(succeeded), int(failed), avg))
    return result


def workflow_counts(db: Database, *, now: datetime, days: int = 30) -> list[WorkflowCount]:
    """Per workflow, executions finished and failed in the last ``days`` (unordered)."""
    since, until = _window(now, days * 24)
    grouped = (
        sa.select(
            E.workflow_id,
            sa.func.count().label("executions"),
            sa.func.count().filter(E.status == FAILED).label("failures"),
        )
        .where(E.completed_at >= since, E.completed_at <= until)
        .group_by(E.workflow_id)
        .subquery()
    )
    query = sa.select(W.name, grouped.c.executions, grouped.c.failures).join(
        grouped, grouped.c.workflow_id == W.id
    )
    with db.read_engine.connect() as conn:
        return [WorkflowCount(name, int(n), int(f)) for name, n, f in conn.execute(query)]


def top_failing(counts: Sequence[WorkflowCount], limit: int = 10) -> list[WorkflowCount]:
    """The workflows with the most failures (ties: more runs, then name)."""
    failing = [count for count in counts if count.failures]
    failing.sort(key=lambda c: (-c.failures, -c.executions, c.workflow))
    return failing[:limit]


def most_executed(counts: Sequence[WorkflowCount], limit: int = 10) -> list[WorkflowCount]:
    """The workflows with the most finished executions (ties: name)."""
    return sorted(counts, key=lambda c: (-c.executions, c.workflow))[:limit]


def failure_reasons(
    db: Database, *, now: datetime, days: int = 30, limit: int = 10
) -> list[FailureReason]:
    """FAILED executions of the last ``days`` by error signature, most first."""
    since, until = _window(now, days * 24)
    query = (
        sa.select(E.error, sa.func.count())
        .where(E.status == FAILED, E.completed_at >= since, E.completed_at <= until)
        .group_by(E.error)
    )
    totals: Counter[str] = Counter()
    examples: dict[str, tuple[int, str]] = {}
    with db.read_engine.connect() as conn:
        for error, count in conn.execute(query):
            message = error or ""
            signature = normalise_error(message) or "(no message)"
            totals[signature] += int(count)
            best = examples.get(signature)
            if best is None or (int(count), message) > best:
                examples[signature] = (int(count), message)
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        FailureReason(sig, n, classify_error(examples[sig][1]), examples[sig][1])
        for sig, n in ranked
    ]


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
