"""Operational figures: queue depth, throughput, success rate, failing workflows.

One module for every reader: the console dashboard, ``wfconsole stats``, ``GET /metrics``
and ``/health``. Each function takes ``now`` (aware UTC) so figures are reproducible,
and each query is served by an index, so a refresh every few seconds stays cheap at
millions of executions:

- running / pending: ``idx_execution_active`` (partial: unfinished rows only);
- finished and failed per minute, 24 h rates and durations: ``idx_execution_completed``
  (completed_at, status, duration_ms; index-only on PostgreSQL);
- top failing workflows: ``idx_execution_status_created`` / ``idx_execution_completed``;
- latest failures: ``idx_execution_status_created`` (keyset, as the execution list).

Running / pending and the period summary are ``engine.plain_reads.recent_figures`` (one
implementation with ``wfconsole stats``' plain read), run here on ``db.read_engine``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from engine.core_tables import EXECUTION, FAILED, WORKFLOW
from engine.db import Database
from engine.plain_reads import recent_figures
from engine.plain_reads.figure_sql import aware_utc as utc
from engine.plain_reads.reader import Reader
from engine.plain_reads.recent_figures import ActiveExecutions as ActiveExecutions
from engine.plain_reads.recent_figures import PeriodSummary as PeriodSummary
from engine.plain_reads.statistics import QueueCounter as QueueCounter
from engine.plain_reads.statistics import QueueMessages as QueueMessages
from engine.plain_reads.statistics import queue_messages as queue_messages
from engine.services.executions import ExecutionRow, list_executions

_executions = EXECUTION
_workflows = WORKFLOW


@dataclass(frozen=True)
class MinuteActivity:
    """Executions finished and failed in each minute of a window, oldest minute first."""

    start: datetime
    """The first minute of the window (on a minute boundary, UTC)."""
    until: datetime
    """The moment the counts were taken (the window's end)."""
    finished: tuple[int, ...]
    failed: tuple[int, ...]

    @property
    def total_finished(self) -> int:
        """Executions finished in the whole window."""
        return sum(self.finished)

    @property
    def total_failed(self) -> int:
        """Executions failed in the whole window."""
        return sum(self.failed)


@dataclass(frozen=True)
class FailingWorkflow:
    """A workflow with failures in a period."""

    workflow: str
    failures: int
    last_failed_at: datetime


def active_executions(db: Database, *, now: datetime) -> ActiveExecutions:
    """RUNNING and PENDING executions (``idx_execution_active``)."""
    with Reader.of_engine(db.read_engine) as reader:
        return recent_figures.active_executions(reader, now=now)


def period_summary(db: Database, *, now: datetime, hours: float = 24) -> PeriodSummary:
    """Runs finished in the last ``hours``: counts by outcome and mean duration."""
    with Reader.of_engine(db.read_engine) as reader:
        return recent_figures.period_summary(reader, now=now, hours=hours)


def _minute_number(db: Database, column: Any) -> Any:
    """Minutes since the epoch of a timestamp column, as SQL."""
    if db.is_sqlite:
        return sa.cast(sa.func.strftime("%s", column), sa.Integer) / 60
    return sa.func.floor(sa.extract("epoch", column) / 60)


def minute_activity(
    db: Database, *, now: datetime, minutes: int = 60, previous: MinuteActivity | None = None
) -> MinuteActivity:
    """Finished and failed executions per minute over the last ``minutes`` (current included).

    With ``previous`` (an earlier result), only the minutes from the one before
    ``previous.until`` on are counted again; older minutes are settled and are copied, so
    a refresh every few seconds reads a minute or two of rows however busy the hour was.
    """
    now = utc(now)
    current = now.replace(second=0, microsecond=0)
    start = current - timedelta(minutes=minutes - 1)
    first = int(start.timestamp()) // 60
    finished_per = [0] * minutes
    failed_per = [0] * minutes
    since = start
    if previous is not None and len(previous.finished) == minutes and previous.until <= now:
        # A run is stamped completed_at before its commit: recount a whole minute back.
        since = max(start, previous.until.replace(second=0, microsecond=0) - timedelta(minutes=1))
        shift = first - int(previous.start.timestamp()) // 60
        settled = (int(since.timestamp()) // 60) - first
        for index in range(settled):
            if 0 <= index + shift < minutes:
                finished_per[index] = previous.finished[index + shift]
                failed_per[index] = previous.failed[index + shift]
    completed = _executions.c.completed_at
    minute = _minute_number(db, completed).label("minute")
    failed = _executions.c.status == FAILED
    query = (
        sa.select(minute, sa.func.count(), sa.func.count().filter(failed))
        .where(completed >= since, completed <= now)
        .group_by(minute)
    )
    with db.read_engine.connect() as conn:
        for number, total, failures in conn.execute(query):
            index = int(number) - first
            if 0 <= index < minutes:
                finished_per[index] += total
                failed_per[index] += failures
    return MinuteActivity(
        start=start, until=now, finished=tuple(finished_per), failed=tuple(failed_per)
    )


def top_failing_workflows(
    db: Database, *, now: datetime, hours: float = 24, limit: int = 5
) -> list[FailingWorkflow]:
    """Workflows with the most FAILED runs finished in the last ``hours``, most first."""
    now = utc(now)
    since = now - timedelta(hours=hours)
    completed = _executions.c.completed_at
    failures = sa.func.count().label("failures")
    last = sa.func.max(completed).label("last_failed_at")
    grouped = (
        sa.select(_executions.c.workflow_id, failures, last)
        .where(
            _executions.c.status == FAILED,
            completed >= since,
            completed <= now,
        )
        .group_by(_executions.c.workflow_id)
        .subquery()
    )
    query = (
        sa.select(_workflows.c.name, grouped.c.failures, grouped.c.last_failed_at)
        .join(grouped, grouped.c.workflow_id == _workflows.c.id)
        .order_by(grouped.c.failures.desc(), grouped.c.last_failed_at.desc(), _workflows.c.name)
        .limit(limit)
    )
    with db.read_engine.connect() as conn:
        return [
            FailingWorkflow(workflow=name, failures=int(count), last_failed_at=_aware(at))
            for name, count, at in conn.execute(query)
        ]


def latest_failures(db: Database, *, limit: int = 5) -> list[ExecutionRow]:
    """The newest FAILED executions (``idx_execution_status_created``)."""
    return list_executions(db, status=FAILED, limit=limit)


def _aware(value: datetime | str) -> datetime:
    # max() over a SQLite text column comes back as text, not through the DateTime type.
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


__all__ = [
    "ActiveExecutions",
    "FailingWorkflow",
    "MinuteActivity",
    "PeriodSummary",
    "QueueCounter",
    "QueueMessages",
    "active_executions",
    "latest_failures",
    "minute_activity",
    "period_summary",
    "queue_messages",
    "top_failing_workflows",
    "utc",
]
